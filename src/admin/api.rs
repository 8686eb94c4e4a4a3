//! The admin JSON API: the route table ([`ROUTES`], also checked against
//! the OpenAPI document), request parsing with errors that name the field,
//! and one handler per route. Validation is the catalog's own
//! (`ProviderInput::validate` through `Store::add_provider` and friends), the
//! same code path as the CLI. Every change asks the gateway to reload.
use std::time::Duration;

use http::Method;
use serde_json::{json, Map, Value};

use super::{Admin, AdminRequest, AdminResponse, MAX_BODY};
use crate::catalog::{KeySource, MappingInput, ProviderInput};
use crate::db::logs::{LogCursor, LogFilter, MAX_LOG_PAGE};
use crate::db::{MappingPatch, StoreError};
use crate::secret::Secret;
use crate::time::now_ms;

/// Every admin API operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    OpenApi,
    ListProviders,
    CreateProvider,
    GetProvider,
    UpdateProvider,
    DeleteProvider,
    EnableProvider,
    DisableProvider,
    TestProvider,
    ListModels,
    CreateModel,
    GetModel,
    UpdateModel,
    DeleteModel,
    ListMappings,
    CreateMapping,
    UpdateMapping,
    DeleteMapping,
    ListKeys,
    CreateKey,
    RevokeKey,
    Logs,
    Stats,
    StatsSeries,
    Health,
}

/// `(method, path under /admin, operation)`. `{x}` matches one path segment
/// (percent-decoded, so `%2F` allows `/` in model names).
pub const ROUTES: &[(Method, &str, Route)] = &[
    (Method::GET, "/openapi.json", Route::OpenApi),
    (Method::GET, "/providers", Route::ListProviders),
    (Method::POST, "/providers", Route::CreateProvider),
    (Method::GET, "/providers/{name}", Route::GetProvider),
    (Method::PATCH, "/providers/{name}", Route::UpdateProvider),
    (Method::DELETE, "/providers/{name}", Route::DeleteProvider),
    (
        Method::POST,
        "/providers/{name}/enable",
        Route::EnableProvider,
    ),
    (
        Method::POST,
        "/providers/{name}/disable",
        Route::DisableProvider,
    ),
    (Method::POST, "/providers/{name}/test", Route::TestProvider),
    (Method::GET, "/models", Route::ListModels),
    (Method::POST, "/models", Route::CreateModel),
    (Method::GET, "/models/{name}", Route::GetModel),
    (Method::PATCH, "/models/{name}", Route::UpdateModel),
    (Method::DELETE, "/models/{name}", Route::DeleteModel),
    (Method::GET, "/mappings", Route::ListMappings),
    (
        Method::POST,
        "/models/{name}/mappings",
        Route::CreateMapping,
    ),
    (
        Method::PATCH,
        "/models/{name}/mappings/{provider}",
        Route::UpdateMapping,
    ),
    (
        Method::DELETE,
        "/models/{name}/mappings/{provider}",
        Route::DeleteMapping,
    ),
    (Method::GET, "/keys", Route::ListKeys),
    (Method::POST, "/keys", Route::CreateKey),
    (Method::POST, "/keys/{name}/revoke", Route::RevokeKey),
    (Method::GET, "/logs", Route::Logs),
    (Method::GET, "/stats", Route::Stats),
    (Method::GET, "/stats/series", Route::StatsSeries),
    (Method::GET, "/health", Route::Health),
];

/// The result of matching a request against [`ROUTES`].
#[derive(Debug, PartialEq, Eq)]
pub enum Matched {
    Route(Route, Vec<String>),
    /// The path exists with other methods (405 + `Allow`).
    WrongMethod(Vec<Method>),
    NotFound,
}

/// Finds the route for `method` and `path` (the part after `/admin`).
pub fn match_route(method: &Method, path: &str) -> Matched {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let segs: Vec<&str> = path.split('/').collect();
    let mut allowed = Vec::new();
    for (m, pattern, route) in ROUTES {
        let pats: Vec<&str> = pattern.split('/').collect();
        if pats.len() != segs.len() {
            continue;
        }
        let mut params = Vec::new();
        let ok = pats.iter().zip(&segs).all(|(p, s)| {
            if p.starts_with('{') {
                match percent_decode(s) {
                    Some(v) if !v.is_empty() => {
                        params.push(v);
                        true
                    }
                    _ => false,
                }
            } else {
                p == s
            }
        });
        if !ok {
            continue;
        }
        if m == method {
            return Matched::Route(*route, params);
        }
        allowed.push(m.clone());
    }
    if allowed.is_empty() {
        Matched::NotFound
    } else {
        Matched::WrongMethod(allowed)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

type Resp = Result<AdminResponse, AdminResponse>;

fn bad(param: &str, message: impl Into<String>) -> AdminResponse {
    AdminResponse::error(400, "invalid_request_error", message, Some(param), None)
}

fn not_found(message: impl Into<String>) -> AdminResponse {
    AdminResponse::error(404, "not_found_error", message, None, Some("not_found"))
}

/// How a store error leaves the API. `rename` maps the catalog's field names
/// to this endpoint's JSON names (`timeout` → `timeout_ms`).
fn store_error(e: StoreError, rename: &[(&str, &str)]) -> AdminResponse {
    match e {
        StoreError::Invalid(inv) => {
            let param = rename
                .iter()
                .find(|(from, _)| *from == inv.field)
                .map(|(_, to)| *to)
                .unwrap_or(inv.field);
            bad(param, inv.message)
        }
        e @ StoreError::NotFound { .. } => not_found(e.to_string()),
        StoreError::Duplicate { what, name } => AdminResponse::error(
            409,
            "conflict_error",
            format!("{what} `{name}` already exists"),
            Some("name"),
            Some("already_exists"),
        ),
        StoreError::Conflict { message, hint } => AdminResponse::error(
            409,
            "conflict_error",
            match hint {
                Some(h) => format!("{message} ({h})"),
                None => message,
            },
            None,
            Some("conflict"),
        ),
        e if e.is_busy() => AdminResponse::error(
            503,
            "server_error",
            "the database is busy; retry",
            None,
            Some("database_busy"),
        ),
        // The gateway may be up while its database is not (it serves
        // not-ready and retries): say what is wrong and how to fix it.
        e @ (StoreError::Open { .. } | StoreError::Schema { .. }) => {
            let hint = e.hint().unwrap_or_default();
            AdminResponse::error(
                503,
                "server_error",
                format!("the database is unavailable: {e}; {hint}"),
                None,
                Some("database_unavailable"),
            )
        }
        other => {
            tracing::error!(error = %other, "admin API: database error");
            AdminResponse::error(500, "server_error", "internal error", None, None)
        }
    }
}

/// A JSON object body whose fields are read one by one, each type error
/// naming the field. Unknown fields are an error too (typos must not pass
/// silently).
struct Fields(Map<String, Value>);

impl Fields {
    fn parse(body: &[u8], allowed: &[&str]) -> Result<Fields, AdminResponse> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Fields(Map::new()));
        }
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            AdminResponse::error(
                400,
                "invalid_request_error",
                format!("request body is not valid JSON: {e}"),
                None,
                Some("invalid_json"),
            )
        })?;
        let Value::Object(map) = v else {
            return Err(AdminResponse::error(
                400,
                "invalid_request_error",
                "request body must be a JSON object",
                None,
                Some("invalid_json"),
            ));
        };
        if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(bad(
                k,
                format!("unknown field `{k}`; allowed: {}", allowed.join(", ")),
            ));
        }
        Ok(Fields(map))
    }

    fn get(&self, k: &str) -> Option<&Value> {
        self.0.get(k).filter(|v| !v.is_null())
    }

    fn str(&self, k: &str) -> Result<Option<String>, AdminResponse> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(k, format!("`{k}` must be a string"))),
        }
    }

    fn required_str(&self, k: &str) -> Result<String, AdminResponse> {
        self.str(k)?
            .ok_or_else(|| bad(k, format!("`{k}` is required")))
    }

    fn int(&self, k: &str) -> Result<Option<i64>, AdminResponse> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| bad(k, format!("`{k}` must be a whole number"))),
        }
    }

    /// `null` = explicitly cleared (`Some(None)`), absent = unchanged.
    fn nullable_int(&self, k: &str) -> Result<Option<Option<i64>>, AdminResponse> {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(v) => v
                .as_i64()
                .map(|n| Some(Some(n)))
                .ok_or_else(|| bad(k, format!("`{k}` must be a whole number or null"))),
        }
    }

    fn bool(&self, k: &str) -> Result<Option<bool>, AdminResponse> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(bad(k, format!("`{k}` must be true or false"))),
        }
    }

    fn str_list(&self, k: &str) -> Result<Option<Vec<String>>, AdminResponse> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(|s| s.trim().to_string())
                        .ok_or_else(|| bad(k, format!("`{k}` must be a list of strings")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|v| Some(v.into_iter().filter(|s| !s.is_empty()).collect())),
            Some(_) => Err(bad(k, format!("`{k}` must be a list of strings"))),
        }
    }
}

const PROVIDER_FIELDS: &[&str] = &[
    "name",
    "kind",
    "base_url",
    "api_key",
    "api_key_env",
    "priority",
    "weight",
    "max_retries",
    "timeout_ms",
    "rate_limit_rpm",
    "enabled",
    "models",
];
const PROVIDER_RENAME: &[(&str, &str)] = &[("timeout", "timeout_ms"), ("model", "models")];

fn provider_input(f: &Fields) -> Result<ProviderInput, AdminResponse> {
    // `"api_key": null` (or `"api_key_env": null`) forgets the key; other
    // fields treat null as absent.
    let cleared = [f.0.get("api_key"), f.0.get("api_key_env")].contains(&Some(&Value::Null));
    let key = match (f.str("api_key")?, f.str("api_key_env")?) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "api_key_env",
                "set `api_key` or `api_key_env`, not both",
            ))
        }
        (Some(k), None) => Some(KeySource::Inline(Secret::new(k.trim()))),
        (None, Some(v)) => Some(KeySource::Env(v.trim().to_string())),
        (None, None) if cleared => Some(KeySource::None),
        (None, None) => None,
    };
    Ok(ProviderInput {
        kind: f.str("kind")?.map(|s| s.trim().to_string()),
        base_url: f
            .str("base_url")?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        key,
        priority: f.int("priority")?,
        weight: f.int("weight")?,
        max_retries: f.int("max_retries")?,
        timeout_ms: f.int("timeout_ms")?,
        rate_limit_rpm: f.int("rate_limit_rpm")?,
        enabled: f.bool("enabled")?,
        models: f.str_list("models")?.unwrap_or_default(),
        rename: None,
    })
}

/// Serves one authenticated API request.
pub async fn handle(admin: &Admin, req: AdminRequest) -> AdminResponse {
    if req.body.len() > MAX_BODY {
        return super::too_large();
    }
    let (route, params) = match match_route(&req.method, &req.path) {
        Matched::Route(r, p) => (r, p),
        Matched::WrongMethod(allowed) => {
            let list: Vec<&str> = allowed.iter().map(Method::as_str).collect();
            let mut r = AdminResponse::error(
                405,
                "invalid_request_error",
                format!(
                    "method {} is not allowed on /admin{}; allowed: {}",
                    req.method,
                    req.path,
                    list.join(", ")
                ),
                None,
                Some("method_not_allowed"),
            );
            r.headers.push(("allow", list.join(", ")));
            return r;
        }
        Matched::NotFound => {
            return not_found(format!(
                "no admin API endpoint at /admin{}; see /admin/openapi.json",
                req.path
            ))
        }
    };
    let result = run(admin, route, &params, &req).await;
    let resp = result.unwrap_or_else(|e| e);
    if matches!(resp.status, 200 | 201)
        && !matches!(req.method, Method::GET)
        && route != Route::TestProvider
    {
        admin.config_changed().await;
    }
    resp
}

fn param(params: &[String], i: usize) -> String {
    params.get(i).cloned().unwrap_or_default()
}

async fn run(admin: &Admin, route: Route, params: &[String], req: &AdminRequest) -> Resp {
    let q = parse_query(req.query.as_deref());
    let query = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let ok = |v: Value| Ok(AdminResponse::json(200, &v));
    let created = |v: Value| Ok(AdminResponse::json(201, &v));
    let name = param(params, 0);
    match route {
        Route::OpenApi => ok(super::openapi::document()),

        Route::ListProviders => {
            let v = admin
                .with_store(|s| {
                    let models = s.provider_models()?;
                    Ok(s.list_providers()?
                        .into_iter()
                        .map(|p| {
                            let m = models.get(&p.name).cloned().unwrap_or_default();
                            p.view(m)
                        })
                        .collect::<Vec<_>>())
                })
                .await
                .map_err(|e| store_error(e, &[]))?;
            ok(json!({ "data": v }))
        }
        Route::GetProvider => ok(provider_view(admin, name).await?),
        Route::CreateProvider => {
            let f = Fields::parse(&req.body, PROVIDER_FIELDS)?;
            let pname = f.required_str("name")?.trim().to_string();
            let input = provider_input(&f)?;
            let n = pname.clone();
            admin
                .with_store(move |s| s.add_provider(&n, &input).map(|_| ()))
                .await
                .map_err(|e| store_error(e, PROVIDER_RENAME))?;
            created(provider_view(admin, pname).await?)
        }
        Route::UpdateProvider => {
            // `name` renames (mappings and settings stay), then the other
            // fields apply, in one call.
            let f = Fields::parse(&req.body, PROVIDER_FIELDS)?;
            let mut input = provider_input(&f)?;
            input.rename = f.str("name")?.map(|n| n.trim().to_string());
            let n = name.clone();
            let renamed = admin
                .with_store(move |s| s.update_provider(&n, &input).map(|p| p.name))
                .await
                .map_err(|e| store_error(e, PROVIDER_RENAME))?;
            ok(provider_view(admin, renamed).await?)
        }
        Route::EnableProvider | Route::DisableProvider => {
            let on = route == Route::EnableProvider;
            let n = name.clone();
            admin
                .with_store(move |s| s.set_provider_enabled(&n, on).map(|_| ()))
                .await
                .map_err(|e| store_error(e, &[]))?;
            ok(provider_view(admin, name).await?)
        }
        Route::DeleteProvider => {
            let force = matches!(query("force").as_deref(), Some("true" | "1"));
            let n = name.clone();
            let orphans = admin
                .with_store(move |s| s.remove_provider(&n, force))
                .await
                .map_err(|e| store_error(e, &[]))?;
            ok(json!({ "name": name, "deleted": true, "models_without_provider": orphans }))
        }
        Route::TestProvider => {
            let n = name.clone();
            let p = admin
                .with_store(move |s| s.get_provider(&n))
                .await
                .map_err(|e| store_error(e, &[]))?;
            let timeout = Duration::from_millis(p.timeout_ms.clamp(1, 10_000) as u64);
            let r = crate::doctor::probe::probe(admin.http(), &p, timeout).await;
            use crate::doctor::probe::ProbeOutcome as O;
            let (outcome, detail) = match &r.outcome {
                O::Ok => ("ok", None),
                O::KeyRejected => ("key_rejected", None),
                O::RateLimited => ("rate_limited", None),
                O::Http => ("http_error", None),
                O::Timeout => ("timeout", None),
                O::Connect(d) => ("connect_error", Some(d.clone())),
                O::Other(d) => ("error", Some(d.clone())),
            };
            ok(json!({
                "provider": name,
                "ok": r.is_ok(),
                "outcome": outcome,
                "detail": detail,
                "status": r.status,
                "latency_ms": r.latency.as_secs_f64() * 1000.0,
                "url": r.url,
                "sent_key": r.sent_key,
            }))
        }

        Route::ListModels => {
            let v = admin
                .with_store(|s| s.list_models())
                .await
                .map_err(|e| store_error(e, &[]))?;
            ok(json!({ "data": v }))
        }
        Route::GetModel => {
            let v = admin
                .with_store(move |s| s.get_model(&name))
                .await
                .map_err(|e| store_error(e, &[]))?;
            ok(json!(v))
        }
        Route::CreateModel => {
            let f = Fields::parse(&req.body, &["name", "description", "enabled", "providers"])?;
            let mname = f.required_str("name")?.trim().to_string();
            let description = f.str("description")?;
            let enabled = f.bool("enabled")?;
            let mappings = mapping_list(f.get("providers"))?;
            let v = admin
                .with_store(move |s| {
                    for m in &mappings {
                        if let Err(StoreError::NotFound { .. }) = s.get_provider(&m.provider) {
                            return Err(crate::catalog::Invalid::new(
                                "providers",
                                format!("provider `{}` does not exist", m.provider),
                            )
                            .into());
                        }
                    }
                    s.add_model(&mname, description.as_deref(), enabled, &mappings, false)
                })
                .await
                .map_err(|e| store_error(e, &[("model", "name")]))?;
            created(json!(v))
        }
        Route::UpdateModel => {
            let f = Fields::parse(&req.body, &["description", "enabled"])?;
            let description = f.str("description")?;
            let enabled = f.bool("enabled")?;
            let v = admin
                .with_store(move |s| {
                    s.get_model(&name)?;
                    s.add_model(&name, description.as_deref(), enabled, &[], true)
                })
                .await
                .map_err(|e| store_error(e, &[]))?;
            ok(json!(v))
        }
        Route::DeleteModel => {
            let n = name.clone();
            admin
                .with_store(move |s| s.remove_model(&n))
                .await
                .map_err(|e| store_error(e, &[]))?;
            ok(json!({ "name": name, "deleted": true }))
        }
        Route::ListMappings => {
            let v = admin
                .with_store(|s| s.list_models())
                .await
                .map_err(|e| store_error(e, &[]))?;
            let rows: Vec<Value> = v
                .iter()
                .flat_map(|m| {
                    m.providers.iter().map(|p| {
                        json!({
                            "model": m.name,
                            "provider": p.provider,
                            "upstream_model": p.upstream_model,
                            "priority": p.priority,
                            "weight": p.weight,
                            "enabled": p.enabled,
                        })
                    })
                })
                .collect();
            ok(json!({ "data": rows }))
        }
        Route::CreateMapping => {
            let f = Fields::parse(
                &req.body,
                &["provider", "upstream_model", "priority", "weight"],
            )?;
            let m = mapping_input(&f)?;
            let v = admin
                .with_store(move |s| {
                    s.get_model(&name)?;
                    if let Err(StoreError::NotFound { .. }) = s.get_provider(&m.provider) {
                        return Err(crate::catalog::Invalid::new(
                            "provider",
                            format!("provider `{}` does not exist", m.provider),
                        )
                        .into());
                    }
                    if s.mapping_exists(&name, &m.provider)? {
                        return Err(StoreError::Conflict {
                            message: format!(
                                "model `{name}` is already mapped to provider `{}`",
                                m.provider
                            ),
                            hint: Some("change it with PATCH instead".into()),
                        });
                    }
                    s.add_model(&name, None, None, &[m], true)
                })
                .await
                .map_err(|e| store_error(e, &[]))?;
            created(json!(v))
        }
        Route::UpdateMapping => {
            let f = Fields::parse(
                &req.body,
                &["upstream_model", "priority", "weight", "enabled"],
            )?;
            let patch = MappingPatch {
                upstream_model: f.str("upstream_model")?,
                priority: f.nullable_int("priority")?,
                weight: f.nullable_int("weight")?,
                enabled: f.bool("enabled")?,
            };
            let provider = param(params, 1);
            let v = admin
                .with_store(move |s| {
                    s.update_mapping(&name, &provider, &patch)?;
                    s.get_model(&name)
                })
                .await
                .map_err(|e| store_error(e, &[]))?;
            ok(json!(v))
        }
        Route::DeleteMapping => {
            let provider = param(params, 1);
            let v = admin
                .with_store(move |s| {
                    s.remove_mapping(&name, &provider)?;
                    s.get_model(&name)
                })
                .await
                .map_err(|e| store_error(e, &[]))?;
            ok(json!(v))
        }

        Route::ListKeys => {
            let v = admin
                .with_store(|s| s.list_keys())
                .await
                .map_err(|e| store_error(e, &[]))?;
            let v: Vec<_> = v.iter().map(|k| k.view()).collect();
            ok(json!({ "data": v }))
        }
        Route::CreateKey => {
            let f = Fields::parse(&req.body, &["name", "rpm_limit", "models"])?;
            let kname = f.required_str("name")?.trim().to_string();
            let rpm = f.int("rpm_limit")?;
            let models = f.str_list("models")?.filter(|m| !m.is_empty());
            let (key, secret) = admin
                .with_store(move |s| s.create_key(&kname, rpm, models))
                .await
                .map_err(|e| store_error(e, &[("rpm", "rpm_limit"), ("model", "models")]))?;
            let mut v = json!(key.view());
            if let Value::Object(o) = &mut v {
                // The only response that carries a secret in full: the new
                // key, once. Only its hash is stored.
                o.insert("key".into(), Value::String(secret.expose().to_string()));
            }
            created(v)
        }
        Route::RevokeKey => {
            let n = name.clone();
            let v = admin
                .with_store(move |s| {
                    s.revoke_key(&n)?;
                    s.list_keys()?
                        .into_iter()
                        .find(|k| k.name == n)
                        .map(|k| k.view())
                        .ok_or(StoreError::NotFound {
                            what: "key",
                            name: n,
                        })
                })
                .await
                .map_err(|e| store_error(e, &[]))?;
            ok(json!(v))
        }

        Route::Logs => {
            let int = |k: &str| -> Result<Option<i64>, AdminResponse> {
                query(k)
                    .filter(|v| !v.is_empty())
                    .map(|v| {
                        v.trim().parse::<i64>().map_err(|_| {
                            bad(k, format!("`{k}` must be a whole number (got `{v}`)"))
                        })
                    })
                    .transpose()
            };
            let text = |k: &str| {
                query(k)
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
            };
            let status = int("status")?
                .map(|s| {
                    u16::try_from(s).map_err(|_| bad("status", "`status` must be an HTTP status"))
                })
                .transpose()?;
            let filter = LogFilter {
                model: text("model"),
                provider: text("provider"),
                key_name: text("key"),
                status,
                errors_only: matches!(query("errors").as_deref(), Some("true" | "1")),
                since_ms: int("from")?,
                until_ms: int("to")?,
            };
            let cursor = text("cursor")
                .map(|c| c.parse::<LogCursor>().map_err(|e| bad("cursor", e.message)))
                .transpose()?;
            let limit = match int("limit")? {
                None => 50,
                Some(n) if (1..=MAX_LOG_PAGE as i64).contains(&n) => n as usize,
                Some(n) => {
                    return Err(bad(
                        "limit",
                        format!("`limit` must be between 1 and {MAX_LOG_PAGE} (got {n})"),
                    ))
                }
            };
            let page = admin
                .with_store(move |s| s.query_logs(&filter, cursor, limit))
                .await
                .map_err(|e| store_error(e, &[]))?;
            ok(json!({ "data": page.rows, "next": page.next }))
        }
        Route::Stats => {
            let (from, to) = range(&query)?;
            let v = admin
                .with_store(move |s| {
                    let providers = s.stats_by_provider(from, to)?;
                    let models = s.stats_by_model(from, to)?;
                    let pct = s.latency_percentiles(from, to)?;
                    Ok((providers, models, pct))
                })
                .await
                .map_err(|e| store_error(e, &[]))?;
            let (providers, models, pct) = v;
            let with_pct = |mut v: Value, p: Option<&crate::db::Percentiles>| {
                if let Value::Object(o) = &mut v {
                    o.insert("p50_ms".into(), json!(p.map(|p| p.p50_ms)));
                    o.insert("p95_ms".into(), json!(p.map(|p| p.p95_ms)));
                    o.insert("latency_sample".into(), json!(p.map_or(0, |p| p.sample)));
                }
                v
            };
            let providers: Vec<Value> = providers
                .iter()
                .map(|p| {
                    let mut v = with_pct(json!(p), pct.by_provider.get(&p.provider));
                    if let Value::Object(o) = &mut v {
                        o.insert(
                            "error_rate".into(),
                            json!((p.requests > 0).then(|| p.errors as f64 / p.requests as f64)),
                        );
                    }
                    v
                })
                .collect();
            let models: Vec<Value> = models
                .iter()
                .map(|m| with_pct(json!(m), pct.by_model.get(&m.model)))
                .collect();
            ok(json!({
                "from": from,
                "to": to,
                "providers": providers,
                "models": models,
                "percentiles": format!(
                    "p50/p95 are computed over the newest {} requests of the range (exact below that)",
                    crate::db::PERCENTILE_SAMPLE
                ),
            }))
        }
        Route::StatsSeries => {
            let (from, to) = range(&query)?;
            let step = match query("step").filter(|s| !s.is_empty()) {
                Some(s) => match s.parse::<i64>() {
                    Ok(n) if (1..=1440).contains(&n) => n,
                    _ => return Err(bad("step", "`step` must be minutes between 1 and 1440")),
                },
                // About 60 points whatever the range.
                None => ((to - from) / 60_000 / 60).max(1),
            };
            if (to - from) / 60_000 / step > 5000 {
                return Err(bad("step", "too many points; use a larger `step`"));
            }
            let v = admin
                .with_store(move |s| s.stats_series(from, to, step))
                .await
                .map_err(|e| store_error(e, &[]))?;
            ok(json!({ "from": from, "to": to, "step_minutes": step, "data": v }))
        }
        Route::Health => {
            let provider = query("provider").filter(|p| !p.is_empty());
            let limit = query("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .unwrap_or(100)
                .clamp(1, 1000);
            let (latest, history) = admin
                .with_store(move |s| {
                    Ok((
                        s.latest_health()?,
                        s.recent_health(provider.as_deref(), limit)?,
                    ))
                })
                .await
                .map_err(|e| store_error(e, &[]))?;
            ok(json!({
                "providers": admin.live().provider_states(),
                "latest": latest,
                "history": history,
            }))
        }
    }
}

/// `from`/`to` in epoch ms; default: the last 24 hours.
fn range(query: &dyn Fn(&str) -> Option<String>) -> Result<(i64, i64), AdminResponse> {
    let get = |k: &str| -> Result<Option<i64>, AdminResponse> {
        query(k)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    bad(
                        k,
                        format!("`{k}` must be a time in epoch milliseconds (got `{v}`)"),
                    )
                })
            })
            .transpose()
    };
    let to = get("to")?.unwrap_or_else(|| now_ms() + 1);
    let from = get("from")?.unwrap_or(to - 24 * 3600 * 1000);
    if from >= to {
        return Err(bad("from", "`from` must be before `to`"));
    }
    Ok((from, to))
}

async fn provider_view(admin: &Admin, name: String) -> Result<Value, AdminResponse> {
    admin
        .with_store(move |s| {
            let p = s.get_provider(&name)?;
            let models = s.provider_models()?.remove(&name).unwrap_or_default();
            Ok(json!(p.view(models)))
        })
        .await
        .map_err(|e| store_error(e, &[]))
}

fn mapping_input(f: &Fields) -> Result<MappingInput, AdminResponse> {
    let provider = f.required_str("provider")?;
    let mut m: MappingInput = provider
        .parse()
        .map_err(|e: crate::catalog::Invalid| bad("provider", e.message))?;
    if m.upstream_model.is_some() {
        return Err(bad(
            "provider",
            "give the provider's name only; the upstream model goes in `upstream_model`",
        ));
    }
    m.upstream_model = f
        .str("upstream_model")?
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    m.priority = f.int("priority")?;
    m.weight = f.int("weight")?;
    Ok(m)
}

fn mapping_list(v: Option<&Value>) -> Result<Vec<MappingInput>, AdminResponse> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let Value::Array(items) = v else {
        return Err(bad("providers", "`providers` must be a list of mappings"));
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => s
                .parse::<MappingInput>()
                .map_err(|e| bad("providers", e.message)),
            Value::Object(o) => {
                let f = Fields(o.clone());
                if let Some(k) = o.keys().find(|k| {
                    !["provider", "upstream_model", "priority", "weight"].contains(&k.as_str())
                }) {
                    return Err(bad("providers", format!("unknown mapping field `{k}`")));
                }
                mapping_input(&f).map_err(|mut e| {
                    if let Ok(mut v) = serde_json::from_slice::<Value>(&e.body) {
                        v["error"]["param"] = json!("providers");
                        e.body = serde_json::to_vec(&v).unwrap_or_default().into();
                    }
                    e
                })
            }
            _ => Err(bad(
                "providers",
                "each mapping is `\"provider\"`, `\"provider=upstream\"` or an object",
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_params_and_methods() {
        assert_eq!(
            match_route(&Method::GET, "/providers/openai"),
            Matched::Route(Route::GetProvider, vec!["openai".into()])
        );
        assert_eq!(
            match_route(&Method::PATCH, "/models/meta%2Fllama/mappings/groq"),
            Matched::Route(
                Route::UpdateMapping,
                vec!["meta/llama".into(), "groq".into()]
            )
        );
        assert!(matches!(
            match_route(&Method::PUT, "/providers"),
            Matched::WrongMethod(_)
        ));
        assert_eq!(match_route(&Method::GET, "/nope"), Matched::NotFound);
        assert_eq!(
            match_route(&Method::GET, "/providers/"),
            Matched::Route(Route::ListProviders, vec![])
        );
    }

    #[test]
    fn query_strings_decode() {
        assert_eq!(
            parse_query(Some("model=gpt-4o&provider=a%20b&x")),
            vec![
                ("model".into(), "gpt-4o".into()),
                ("provider".into(), "a b".into()),
                ("x".into(), String::new())
            ]
        );
    }
}

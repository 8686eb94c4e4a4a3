//! The OpenAPI 3.1 document served at `/admin/openapi.json`, one function
//! per group of paths. Checked by tests: every routed (method, path) is
//! documented and every documented one routed (`tests/it/admin.rs`), and
//! every request body's properties and required list are the fields of its
//! struct in `body.rs`, as serde sees them (below).
use serde_json::{json, Map, Value};

fn err_ref(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok_ref(desc: &str, schema: Value) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": schema}}})
}

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A page of a paged list: `data` and `next` (see [`list_params`]).
fn page_of(name: &str) -> Value {
    json!({"type": "object", "required": ["data", "next"], "properties": {
        "data": {"type": "array", "items": r(name)},
        "next": {"type": ["string", "null"], "description": "The last name of this page when more follow: pass it as `after` for the next page; null on the last page"}}})
}

/// `limit`, `after` and `q` of the paged catalog lists.
fn list_params() -> Vec<Value> {
    vec![
        query_param("limit", "integer", "Rows per page, 1 to 1000 (default 100)"),
        query_param(
            "after",
            "string",
            "Only names after this one, in name order: the previous page's `next`",
        ),
        query_param(
            "q",
            "string",
            "Only names containing this text, case-insensitively (at most 128 characters)",
        ),
    ]
}

fn path_param(name: &str, desc: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": desc, "schema": {"type": "string"}})
}

fn query_param(name: &str, ty: &str, desc: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": desc, "schema": {"type": ty}})
}

fn body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

/// One operation with the usual error answers.
fn op(id: &str, summary: &str, params: Vec<Value>, req: Option<Value>, ok: (&str, Value)) -> Value {
    let mut responses = Map::new();
    responses.insert(ok.0.to_string(), ok.1);
    responses.insert(
        "400".into(),
        err_ref("Invalid input; `param` names the field"),
    );
    responses.insert("401".into(), err_ref("Missing or wrong admin key"));
    responses.insert("404".into(), err_ref("Unknown name"));
    responses.insert("409".into(), err_ref("Duplicate name or conflicting state"));
    responses.insert("413".into(), err_ref("Body larger than 1 MiB"));
    responses.insert(
        "429".into(),
        err_ref("Too many wrong keys from this address; see Retry-After"),
    );
    responses.insert(
        "503".into(),
        err_ref("No admin key configured (admin API off)"),
    );
    let mut o = json!({
        "operationId": id,
        "summary": summary,
        "parameters": params,
        "responses": responses,
    });
    if let (Some(b), Value::Object(m)) = (req, &mut o) {
        m.insert("requestBody".into(), body(b));
    }
    o
}

/// The document.
pub(super) fn document() -> Value {
    let mut paths = provider_paths();
    paths.extend(model_paths());
    paths.extend(key_paths());
    paths.extend(read_paths());
    let mut schemas = catalog_schemas();
    schemas.extend(observability_schemas());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "llmo admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Manage llmo's providers, models, mappings and client keys, and read its request logs, statistics and provider health. Every request carries `Authorization: Bearer <admin key>`. Changes take effect on the running gateway at once. Errors have the OpenAI shape `{\"error\":{\"message\",\"type\",\"param\",\"code\"}}`; `param` names the wrong field."
        },
        "servers": [{"url": "/"}],
        "security": [{"adminKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "adminKey": {"type": "http", "scheme": "bearer", "description": "The admin key (`llmo admin-key generate`)"}
            },
            "schemas": schemas,
        }
    })
}

fn name_param() -> Value {
    path_param(
        "name",
        "Name of the provider, model or key (percent-encode `/`)",
    )
}

fn provider_param() -> Value {
    path_param("provider", "Provider name")
}

fn time_range() -> Vec<Value> {
    vec![
        query_param(
            "from",
            "integer",
            "Start, epoch milliseconds (inclusive); default: 24 h before `to`",
        ),
        query_param(
            "to",
            "integer",
            "End, epoch milliseconds (exclusive); default: now",
        ),
    ]
}

fn logs_params() -> Vec<Value> {
    let mut params = time_range();
    params.extend([
        query_param("model", "string", "Only this public model"),
        query_param("provider", "string", "Only this provider"),
        query_param("status", "integer", "Only this HTTP status"),
        query_param("errors", "boolean", "Only failed requests (status >= 400)"),
        query_param("key", "string", "Only this client key (by name)"),
        query_param(
            "api",
            "string",
            "Only this API (`chat`, `embeddings`, `models`, `messages`, `responses`, `other`)",
        ),
        query_param(
            "error_type",
            "string",
            "Only failed requests of this error class (e.g. `upstream_error`)",
        ),
        query_param("cursor", "string", "`next` of the previous page"),
        query_param("limit", "integer", "Rows per page, 1 to 1000 (default 50)"),
    ]);
    params
}

fn series_params() -> Vec<Value> {
    let mut params = time_range();
    params.push(query_param(
        "step",
        "integer",
        "Minutes per point, 1 to 1440 (default: about 60 points)",
    ));
    params
}

/// `/admin/providers*`.
fn provider_paths() -> Map<String, Value> {
    let mut paths = Map::new();
    let delete_provider = op(
        "deleteProvider",
        "Remove a provider and its mappings; 409 while it is some model's only provider unless `force=true`",
        vec![name_param(), query_param("force", "boolean", "Remove even if models are left without a provider")],
        None,
        ("200", ok_ref("Removed", json!({"type": "object", "properties": {"name": {"type": "string"}, "deleted": {"type": "boolean"}, "models_without_provider": {"type": "array", "items": {"type": "string"}}}}))),
    );
    paths.insert(
        "/admin/providers".into(),
        json!({
                "get": op("listProviders", "One page of providers by name (keys masked; each with its first 100 model names and `model_count`)", list_params(), None, ("200", ok_ref("Providers", page_of("ProviderListItem")))),
                "post": op("createProvider", "Add a provider", vec![], Some(r("ProviderCreate")), ("201", ok_ref("The new provider", r("Provider"))))
            }),
    );
    paths.insert(
        "/admin/providers/{name}".into(),
        json!({
                "get": op("getProvider", "One provider", vec![name_param()], None, ("200", ok_ref("The provider", r("Provider")))),
                "patch": op("updateProvider", "Change some fields of a provider", vec![name_param()], Some(r("ProviderUpdate")), ("200", ok_ref("The provider", r("Provider")))),
                "delete": delete_provider
            }),
    );
    paths.insert(
        "/admin/providers/{name}/enable".into(),
        json!({
                "post": op("enableProvider", "Route to this provider again", vec![name_param()], None, ("200", ok_ref("The provider", r("Provider"))))
            }),
    );
    paths.insert(
        "/admin/providers/{name}/disable".into(),
        json!({
                "post": op("disableProvider", "Stop routing to this provider", vec![name_param()], None, ("200", ok_ref("The provider", r("Provider"))))
            }),
    );
    paths.insert(
        "/admin/providers/{name}/test".into(),
        json!({
                "post": op("testProvider", "One models-list request to the provider (never a paid completion)", vec![name_param()], None, ("200", ok_ref("Probe result", r("ProbeResult"))))
            }),
    );
    paths
}

/// `/admin/models*` and `/admin/mappings`.
fn model_paths() -> Map<String, Value> {
    let mut paths = Map::new();
    paths.insert(
        "/admin/models".into(),
        json!({
                "get": op("listModels", "One page of public models by name, with their mappings", list_params(), None, ("200", ok_ref("Models", page_of("Model")))),
                "post": op("createModel", "Add a public model", vec![], Some(r("ModelCreate")), ("201", ok_ref("The new model", r("Model"))))
            }),
    );
    paths.insert(
        "/admin/models/{name}".into(),
        json!({
                "get": op("getModel", "One model", vec![name_param()], None, ("200", ok_ref("The model", r("Model")))),
                "patch": op("updateModel", "Change a model's description or enabled flag", vec![name_param()], Some(json!({"type": "object", "additionalProperties": false, "properties": {"description": {"type": "string"}, "enabled": {"type": "boolean"}}})), ("200", ok_ref("The model", r("Model")))),
                "delete": op("deleteModel", "Remove a model and its mappings", vec![name_param()], None, ("200", ok_ref("Removed", json!({"type": "object", "properties": {"name": {"type": "string"}, "deleted": {"type": "boolean"}}}))))
            }),
    );
    paths.insert(
        "/admin/mappings".into(),
        json!({
                "get": op("listMappings", "The model → provider mappings, one row each, for one page of models by name (`limit`, `after` and `q` are the models')", list_params(), None, ("200", ok_ref("Mappings", page_of("MappingRow"))))
            }),
    );
    paths.insert(
        "/admin/models/{name}/mappings".into(),
        json!({
                "post": op("createMapping", "Map a model to one more provider", vec![name_param()], Some(r("MappingCreate")), ("201", ok_ref("The model", r("Model"))))
            }),
    );
    paths.insert(
        "/admin/models/{name}/mappings/{provider}".into(),
        json!({
                "patch": op("updateMapping", "Change one mapping (null priority/weight = the provider's)", vec![name_param(), provider_param()], Some(json!({"type": "object", "additionalProperties": false, "properties": {"upstream_model": {"type": "string"}, "priority": {"type": ["integer", "null"], "minimum": 0}, "weight": {"type": ["integer", "null"], "minimum": 0}, "enabled": {"type": "boolean"}}})), ("200", ok_ref("The model", r("Model")))),
                "delete": op("deleteMapping", "Remove one mapping", vec![name_param(), provider_param()], None, ("200", ok_ref("The model", r("Model"))))
            }),
    );
    paths
}

/// `/admin/keys*`.
fn key_paths() -> Map<String, Value> {
    let mut paths = Map::new();
    paths.insert(
        "/admin/keys".into(),
        json!({
                "get": op("listKeys", "One page of client keys by name (prefix, limits, last use; never the key)", list_params(), None, ("200", ok_ref("Keys", page_of("ClientKey")))),
                "post": op("createKey", "Create a client key; the response carries the key, once", vec![], Some(json!({"type": "object", "required": ["name"], "additionalProperties": false, "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}, "rpm_limit": {"type": "integer", "minimum": 0, "description": "Requests per minute; 0 = unlimited"}, "models": {"type": "array", "items": {"type": "string"}, "description": "Allowed public models; absent = all"}}})), ("201", ok_ref("The key", json!({"allOf": [r("ClientKey"), {"type": "object", "required": ["key"], "properties": {"key": {"type": "string", "description": "The key itself; shown only in this response"}}}]}))))
            }),
    );
    paths.insert(
        "/admin/keys/{name}/revoke".into(),
        json!({
                "post": op("revokeKey", "Revoke a client key (kept for the logs)", vec![name_param()], None, ("200", ok_ref("The key", r("ClientKey"))))
            }),
    );
    paths
}

/// The read-only endpoints: this document, logs, stats and health.
fn read_paths() -> Map<String, Value> {
    let mut paths = Map::new();
    paths.insert(
        "/admin/openapi.json".into(),
        json!({
                "get": op("getOpenApi", "This document", vec![], None, ("200", ok_ref("OpenAPI 3.1 document", json!({"type": "object"}))))
            }),
    );
    paths.insert(
        "/admin/logs".into(),
        json!({
                "get": op("listLogs", "Request logs, newest first, keyset-paginated. A filter on model, provider, key, errors, api or error_type reads at most 100000 requests per page: a page that stops there before it is full has `complete: false`", logs_params(), None, ("200", ok_ref("One page", json!({"type": "object", "properties": {
                    "data": {"type": "array", "items": r("LogEntry")},
                    "next": {"type": ["string", "null"], "description": "Cursor of the next (older) page; null on the last"},
                    "complete": {"type": "boolean", "description": "false when the page stopped at the scan bound before it was full: older requests were not searched yet (follow `next`)"},
                    "scanned_until": {"type": ["integer", "null"], "description": "When not complete: the oldest time searched (epoch ms)"},
                    "message": {"type": ["string", "null"], "description": "When not complete: how far the search went and how to go on"}}}))))
            }),
    );
    paths.insert(
        "/admin/stats".into(),
        json!({
                "get": op("getStats", "Per-provider and per-model totals over a time range; p50/p95 over the newest 20000 requests of the range", time_range(), None, ("200", ok_ref("Stats", r("Stats"))))
            }),
    );
    paths.insert(
        "/admin/stats/series".into(),
        json!({
                "get": op("getStatsSeries", "All providers' requests, errors, latency and tokens per step", series_params(), None, ("200", ok_ref("Series", json!({"type": "object", "properties": {"from": {"type": "integer"}, "to": {"type": "integer"}, "step_minutes": {"type": "integer"}, "data": {"type": "array", "items": r("SeriesPoint")}}}))))
            }),
    );
    paths.insert(
        "/admin/health".into(),
        json!({
                "get": op("getHealth", "Current circuit state per provider and recent state changes", vec![query_param("provider", "string", "History of this provider only"), query_param("limit", "integer", "History rows, 1 to 1000 (default 100)")], None, ("200", ok_ref("Health", json!({"type": "object", "properties": {"providers": {"type": "array", "items": {"type": "object"}, "description": "The gateway's live circuit states, as in /ready"}, "latest": {"type": "array", "items": r("HealthEvent")}, "history": {"type": "array", "items": r("HealthEvent")}}}))))
            }),
    );
    paths
}

/// Errors, and the catalog: providers, models, mappings, keys (responses and
/// request bodies).
fn catalog_schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["message", "type"], "properties": {
                    "message": {"type": "string"}, "type": {"type": "string"}, "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}}),
    );
    schemas.insert(
        "Provider".into(),
        json!({"type": "object", "properties": {
                    "name": {"type": "string"}, "kind": {"enum": ["openai", "anthropic", "gemini", "openai-compatible"]},
                    "base_url": {"type": "string"}, "api_key": {"type": ["string", "null"], "description": "Masked (`sk-...abcd`); never in full"},
                    "api_key_env": {"type": ["string", "null"]}, "priority": {"type": "integer"}, "weight": {"type": "integer"},
                    "max_retries": {"type": "integer"}, "timeout_ms": {"type": "integer"}, "rate_limit_rpm": {"type": "integer"},
                    "enabled": {"type": "boolean"}, "models": {"type": "array", "items": {"type": "string"}},
                    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}}),
    );
    schemas.insert(
        "ProviderListItem".into(),
        json!({"allOf": [r("Provider"), {"type": "object", "properties": {"model_count": {"type": "integer", "description": "How many models the provider serves; `models` lists the first 100 by name (GET /admin/providers/{name} lists them all)"}}}]}),
    );
    schemas.insert(
        "ProviderCreate".into(),
        json!({"allOf": [r("ProviderUpdate"), {"type": "object", "required": ["name", "kind"], "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}}}]}),
    );
    schemas.insert(
        "ProviderUpdate".into(),
        json!({"type": "object", "additionalProperties": false, "properties": {
                    "name": {"type": "string", "description": "On PATCH: renames the provider (mappings and settings stay)"},
                    "kind": {"enum": ["openai", "anthropic", "gemini", "openai-compatible"]},
                    "base_url": {"type": "string", "format": "uri", "description": "http(s) URL; required for openai-compatible"},
                    "api_key": {"type": ["string", "null"], "writeOnly": true, "description": "Stored; answered masked. On PATCH, null forgets the key (and api_key_env)"},
                    "api_key_env": {"type": "string", "description": "Name of an environment variable holding the key (instead of api_key)"},
                    "priority": {"type": "integer", "minimum": 0, "description": "Lower tiers are tried first"},
                    "weight": {"type": "integer", "minimum": 0}, "max_retries": {"type": "integer", "minimum": 0, "maximum": 10},
                    "timeout_ms": {"type": "integer", "minimum": 1}, "rate_limit_rpm": {"type": "integer", "minimum": 0},
                    "enabled": {"type": "boolean"}, "models": {"type": "array", "items": {"type": "string"}, "description": "Public models to map to this provider (created if new)"}}}),
    );
    schemas.insert(
        "ProbeResult".into(),
        json!({"type": "object", "properties": {
                    "provider": {"type": "string"}, "ok": {"type": "boolean"},
                    "outcome": {"enum": ["ok", "key_rejected", "rate_limited", "http_error", "timeout", "connect_error", "error"]},
                    "detail": {"type": ["string", "null"]}, "status": {"type": ["integer", "null"]}, "latency_ms": {"type": "number"},
                    "url": {"type": "string"}, "sent_key": {"type": "boolean"}}}),
    );
    schemas.insert(
        "Mapping".into(),
        json!({"type": "object", "properties": {"provider": {"type": "string"}, "upstream_model": {"type": "string"}, "priority": {"type": ["integer", "null"]}, "weight": {"type": ["integer", "null"]}, "enabled": {"type": "boolean"}}}),
    );
    schemas.insert(
        "MappingRow".into(),
        json!({"allOf": [r("Mapping"), {"type": "object", "properties": {"model": {"type": "string"}}}]}),
    );
    schemas.insert(
        "MappingCreate".into(),
        json!({"type": "object", "required": ["provider"], "additionalProperties": false, "properties": {"provider": {"type": "string"}, "upstream_model": {"type": "string", "description": "Default: the public model's name"}, "priority": {"type": "integer", "minimum": 0}, "weight": {"type": "integer", "minimum": 0}}}),
    );
    schemas.insert(
        "Model".into(),
        json!({"type": "object", "properties": {"name": {"type": "string"}, "description": {"type": "string"}, "enabled": {"type": "boolean"}, "providers": {"type": "array", "items": r("Mapping")}, "created_at": {"type": "string"}, "updated_at": {"type": "string"}}}),
    );
    schemas.insert(
        "ModelCreate".into(),
        json!({"type": "object", "required": ["name"], "additionalProperties": false, "properties": {"name": {"type": "string"}, "description": {"type": "string"}, "enabled": {"type": "boolean"}, "providers": {"type": "array", "items": {"oneOf": [{"type": "string", "description": "`provider` or `provider=upstream_model`"}, r("MappingCreate")]}}}}),
    );
    schemas.insert(
        "ClientKey".into(),
        json!({"type": "object", "properties": {"name": {"type": "string"}, "prefix": {"type": "string"}, "rpm_limit": {"type": "integer"}, "models": {"type": ["array", "null"], "items": {"type": "string"}}, "created_at": {"type": "string"}, "last_used_at": {"type": ["string", "null"]}, "revoked_at": {"type": ["string", "null"]}}}),
    );
    schemas
}

/// Logs, stats and health.
fn observability_schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    schemas.insert(
        "LogEntry".into(),
        json!({"type": "object", "properties": {
                    "id": {"type": "integer"}, "ts_ms": {"type": "integer"}, "request_id": {"type": "string"}, "key_name": {"type": ["string", "null"]},
                    "model": {"type": ["string", "null"]}, "provider": {"type": ["string", "null"]}, "upstream_model": {"type": ["string", "null"]},
                    "attempts": {"type": "integer"}, "status": {"type": "integer"}, "error_type": {"type": ["string", "null"]},
                    "latency_ms": {"type": "number"}, "ttfb_ms": {"type": ["number", "null"]}, "upstream_ms": {"type": ["number", "null"]},
                    "prompt_tokens": {"type": ["integer", "null"]}, "completion_tokens": {"type": ["integer", "null"]}, "stream": {"type": "boolean"},
                    "method": {"type": ["string", "null"], "description": "The client's HTTP method (null in rows logged before schema V3)"},
                    "path": {"type": ["string", "null"], "description": "The client's path, without the query (at most 256 bytes)"},
                    "api": {"type": ["string", "null"], "description": "Which API: chat, embeddings, models or other (an open set)"},
                    "key_prefix": {"type": ["string", "null"], "description": "With error_type invalid_key: the unknown key's shown prefix (llmo's key format only), never the key"}}}),
    );
    schemas.insert(
        "Stats".into(),
        json!({"type": "object", "properties": {"from": {"type": "integer"}, "to": {"type": "integer"}, "percentiles": {"type": "string"},
                    "providers": {"type": "array", "items": {"type": "object", "properties": {"provider": {"type": "string"}, "requests": {"type": "integer"}, "successes": {"type": "integer"}, "errors": {"type": "integer"}, "success_rate": {"type": ["number", "null"]}, "error_rate": {"type": ["number", "null"]}, "avg_latency_ms": {"type": "number"}, "p50_ms": {"type": ["number", "null"]}, "p95_ms": {"type": ["number", "null"]}, "latency_sample": {"type": "integer"}, "tokens_in": {"type": "integer"}, "tokens_out": {"type": "integer"}}}},
                    "models": {"type": "array", "items": {"type": "object", "properties": {"model": {"type": "string"}, "requests": {"type": "integer"}, "errors": {"type": "integer"}, "error_rate": {"type": ["number", "null"]}, "avg_latency_ms": {"type": "number"}, "p50_ms": {"type": ["number", "null"]}, "p95_ms": {"type": ["number", "null"]}, "latency_sample": {"type": "integer"}, "tokens_in": {"type": "integer"}, "tokens_out": {"type": "integer"}}}}}}),
    );
    schemas.insert(
        "SeriesPoint".into(),
        json!({"type": "object", "properties": {"ts_ms": {"type": "integer"}, "requests": {"type": "integer"}, "errors": {"type": "integer"}, "avg_latency_ms": {"type": "number"}, "tokens_in": {"type": "integer"}, "tokens_out": {"type": "integer"}}}),
    );
    schemas.insert(
        "HealthEvent".into(),
        json!({"type": "object", "properties": {"provider": {"type": "string"}, "state": {"enum": ["closed", "open", "half_open"]}, "consecutive_failures": {"type": "integer"}, "last_error": {"type": ["string", "null"]}, "last_success_ms": {"type": ["integer", "null"]}, "changed_at_ms": {"type": "integer"}}}),
    );
    schemas
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use serde::de::DeserializeOwned;

    use super::super::body::{
        field_names, required_fields, KeyCreate, MappingCreate, MappingUpdate, ModelCreate,
        ModelUpdate, ProviderCreate, ProviderUpdate,
    };
    use super::*;
    use crate::admin::{Admin, AdminRequest, LiveView};

    type Shape = (BTreeSet<String>, BTreeSet<String>);

    /// The struct that parses each operation's request body, as serde sees
    /// it: `(operationId, properties, required)`.
    fn bodies() -> Vec<(&'static str, Shape)> {
        fn of<T: DeserializeOwned>(op: &'static str) -> (&'static str, Shape) {
            let fields = field_names::<T>().iter().map(|f| f.to_string()).collect();
            (op, (fields, required_fields::<T>().into_iter().collect()))
        }
        vec![
            of::<ProviderCreate>("createProvider"),
            of::<ProviderUpdate>("updateProvider"),
            of::<ModelCreate>("createModel"),
            of::<ModelUpdate>("updateModel"),
            of::<MappingCreate>("createMapping"),
            of::<MappingUpdate>("updateMapping"),
            of::<KeyCreate>("createKey"),
        ]
    }

    /// Required in the document but checked by the store, not the body
    /// parser: `add_provider` refuses a missing `kind` with the list of kinds.
    const REQUIRED_BY_THE_STORE: &[(&str, &str)] = &[("createProvider", "kind")];

    /// The schema a `$ref` points to (or the schema itself).
    fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(r) => resolve(
                doc,
                &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
            ),
            None => schema,
        }
    }

    /// An object schema's property names and required list, `allOf` merged.
    fn shape(doc: &Value, schema: &Value) -> Shape {
        let schema = resolve(doc, schema);
        let (mut props, mut required) = (BTreeSet::new(), BTreeSet::new());
        for part in schema["allOf"].as_array().into_iter().flatten() {
            let (p, r) = shape(doc, part);
            props.extend(p);
            required.extend(r);
        }
        if let Some(p) = schema["properties"].as_object() {
            props.extend(p.keys().cloned());
        }
        for r in schema["required"].as_array().into_iter().flatten() {
            required.extend(r.as_str().map(str::to_string));
        }
        (props, required)
    }

    /// The schema of property `k` of an object schema, `allOf` included.
    fn property<'a>(doc: &'a Value, schema: &'a Value, k: &str) -> Option<&'a Value> {
        let schema = resolve(doc, schema);
        schema["properties"].get(k).or_else(|| {
            schema["allOf"]
                .as_array()?
                .iter()
                .find_map(|part| property(doc, part, k))
        })
    }

    fn operations(doc: &Value) -> impl Iterator<Item = (&String, &String, &Value)> {
        doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(path, item)| {
                item.as_object()
                    .into_iter()
                    .flatten()
                    .map(move |(method, op)| (path, method, op))
            })
    }

    #[test]
    fn request_bodies_are_documented_as_their_structs_parse_them() {
        let doc = document();
        let bodies = bodies();
        let mut documented = Vec::new();
        for (path, method, op) in operations(&doc) {
            let Some(schema) = op.get("requestBody") else {
                continue;
            };
            let id = op["operationId"].as_str().unwrap_or_default();
            let Some((_, (fields, mut required))) = bodies.iter().find(|(o, _)| *o == id).cloned()
            else {
                panic!("{method} {path} ({id}) documents a body that no struct in body.rs parses");
            };
            required.extend(
                REQUIRED_BY_THE_STORE
                    .iter()
                    .filter(|(o, _)| *o == id)
                    .map(|(_, f)| f.to_string()),
            );
            let (props, req) = shape(&doc, &schema["content"]["application/json"]["schema"]);
            assert_eq!(
                props, fields,
                "{id}: documented properties vs the struct's fields"
            );
            assert_eq!(req, required, "{id}: documented required vs the struct's");
            documented.push(id);
        }
        for (id, _) in &bodies {
            assert!(documented.contains(id), "{id}'s body is not documented");
        }
    }

    /// `value` has exactly the properties its schema documents, recursively
    /// (objects and the items of arrays; schemas without properties are
    /// free-form).
    fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) {
        let schema = resolve(doc, schema);
        match value {
            Value::Object(o) => {
                let (props, _) = shape(doc, schema);
                if props.is_empty() {
                    return;
                }
                let keys: BTreeSet<String> = o.keys().cloned().collect();
                assert_eq!(keys, props, "{at}: answered vs documented properties");
                for (k, v) in o {
                    if let Some(s) = property(doc, schema, k) {
                        conforms(doc, s, v, &format!("{at}.{k}"));
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    conforms(doc, &schema["items"], v, &format!("{at}[{i}]"));
                }
            }
            _ => {}
        }
    }

    struct NoGateway;

    impl LiveView for NoGateway {
        fn provider_states(&self) -> Value {
            json!([])
        }
        fn config_changed(&self) {}
    }

    const KEY: &str = "llmo-admin-test-key-0123456789abcdef";

    async fn call(admin: &Admin, method: &str, path_and_query: &str, body: Value) -> Value {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (path_and_query.to_string(), None),
        };
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {KEY}").parse().unwrap(),
        );
        let body = if body.is_null() {
            bytes::Bytes::new()
        } else {
            serde_json::to_vec(&body).unwrap().into()
        };
        let r = admin
            .handle_api(AdminRequest {
                method: method.parse().unwrap(),
                path,
                query,
                headers,
                body,
                peer: "127.0.0.1".parse().unwrap(),
            })
            .await;
        assert!(
            r.status < 300,
            "{method} {path_and_query}: {}",
            String::from_utf8_lossy(&r.body)
        );
        serde_json::from_slice(&r.body).unwrap()
    }

    #[tokio::test]
    async fn responses_have_the_documented_properties() {
        let dir = tempfile::tempdir().unwrap();
        let admin = Admin::new(
            dir.path().join("llmo.db"),
            Some(crate::secret::Secret::new(KEY)),
            Arc::new(NoGateway),
        );
        let doc = document();
        let provider = json!({"name": "p1", "kind": "openai-compatible", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-abcdefghijklmnop1234", "models": ["chat"]});
        let calls = [
            ("createProvider", "POST", "/providers", provider),
            (
                "createProvider",
                "POST",
                "/providers",
                json!({"name": "p2", "kind": "openai"}),
            ),
            ("listProviders", "GET", "/providers", Value::Null),
            (
                "updateProvider",
                "PATCH",
                "/providers/p1",
                json!({"weight": 2}),
            ),
            (
                "disableProvider",
                "POST",
                "/providers/p1/disable",
                Value::Null,
            ),
            (
                "createModel",
                "POST",
                "/models",
                json!({"name": "m2", "providers": ["p1"]}),
            ),
            ("listModels", "GET", "/models", Value::Null),
            (
                "createMapping",
                "POST",
                "/models/m2/mappings",
                json!({"provider": "p2"}),
            ),
            (
                "updateMapping",
                "PATCH",
                "/models/m2/mappings/p2",
                json!({"priority": null}),
            ),
            ("listMappings", "GET", "/mappings", Value::Null),
            (
                "createKey",
                "POST",
                "/keys",
                json!({"name": "k1", "models": ["chat"]}),
            ),
            ("revokeKey", "POST", "/keys/k1/revoke", Value::Null),
            ("listKeys", "GET", "/keys", Value::Null),
            ("listLogs", "GET", "/logs", Value::Null),
            ("getStats", "GET", "/stats", Value::Null),
            (
                "getStatsSeries",
                "GET",
                "/stats/series?from=0&to=600000",
                Value::Null,
            ),
            ("getHealth", "GET", "/health", Value::Null),
            ("deleteModel", "DELETE", "/models/m2", Value::Null),
            ("deleteProvider", "DELETE", "/providers/p2", Value::Null),
        ];
        for (id, method, path, body) in calls {
            let answer = call(&admin, method, path, body).await;
            let Some((_, _, op)) = operations(&doc).find(|(_, _, op)| op["operationId"] == id)
            else {
                panic!("{id} is not documented");
            };
            let ok = op["responses"].get("200").or(op["responses"].get("201"));
            let schema = &ok.unwrap()["content"]["application/json"]["schema"];
            conforms(&doc, schema, &answer, id);
        }
    }
}

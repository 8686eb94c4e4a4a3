//! The OpenAPI 3.1 document served at `/admin/openapi.json`. Written by hand
//! next to the route table; a test checks that every routed (method, path)
//! is documented and every documented one is routed.
use serde_json::{json, Value};

fn err_ref(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok_ref(desc: &str, schema: Value) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": schema}}})
}

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn list_of(name: &str) -> Value {
    json!({"type": "object", "required": ["data"], "properties": {"data": {"type": "array", "items": r(name)}}})
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
    let mut responses = serde_json::Map::new();
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
pub fn document() -> Value {
    let name = || {
        path_param(
            "name",
            "Name of the provider, model or key (percent-encode `/`)",
        )
    };
    let provider = || path_param("provider", "Provider name");
    let time_range = || {
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
    };
    let mut logs_params = time_range();
    logs_params.extend([
        query_param("model", "string", "Only this public model"),
        query_param("provider", "string", "Only this provider"),
        query_param("status", "integer", "Only this HTTP status"),
        query_param("errors", "boolean", "Only failed requests (status >= 400)"),
        query_param("key", "string", "Only this client key (by name)"),
        query_param("cursor", "string", "`next` of the previous page"),
        query_param("limit", "integer", "Rows per page, 1 to 1000 (default 50)"),
    ]);
    let mut series_params = time_range();
    series_params.push(query_param(
        "step",
        "integer",
        "Minutes per point, 1 to 1440 (default: about 60 points)",
    ));

    let delete_provider = op(
        "deleteProvider",
        "Remove a provider and its mappings; 409 while it is some model's only provider unless `force=true`",
        vec![name(), query_param("force", "boolean", "Remove even if models are left without a provider")],
        None,
        ("200", ok_ref("Removed", json!({"type": "object", "properties": {"name": {"type": "string"}, "deleted": {"type": "boolean"}, "models_without_provider": {"type": "array", "items": {"type": "string"}}}}))),
    );
    let mut paths = serde_json::Map::new();
    paths.insert(
        "/admin/openapi.json".into(),
        json!({
                "get": op("getOpenApi", "This document", vec![], None, ("200", ok_ref("OpenAPI 3.1 document", json!({"type": "object"}))))
            }),
    );
    paths.insert(
        "/admin/providers".into(),
        json!({
                "get": op("listProviders", "List providers (keys masked)", vec![], None, ("200", ok_ref("Providers", list_of("Provider")))),
                "post": op("createProvider", "Add a provider", vec![], Some(r("ProviderCreate")), ("201", ok_ref("The new provider", r("Provider"))))
            }),
    );
    paths.insert(
        "/admin/providers/{name}".into(),
        json!({
                "get": op("getProvider", "One provider", vec![name()], None, ("200", ok_ref("The provider", r("Provider")))),
                "patch": op("updateProvider", "Change some fields of a provider", vec![name()], Some(r("ProviderUpdate")), ("200", ok_ref("The provider", r("Provider")))),
                "delete": delete_provider
            }),
    );
    paths.insert(
        "/admin/providers/{name}/enable".into(),
        json!({
                "post": op("enableProvider", "Route to this provider again", vec![name()], None, ("200", ok_ref("The provider", r("Provider"))))
            }),
    );
    paths.insert(
        "/admin/providers/{name}/disable".into(),
        json!({
                "post": op("disableProvider", "Stop routing to this provider", vec![name()], None, ("200", ok_ref("The provider", r("Provider"))))
            }),
    );
    paths.insert(
        "/admin/providers/{name}/test".into(),
        json!({
                "post": op("testProvider", "One models-list request to the provider (never a paid completion)", vec![name()], None, ("200", ok_ref("Probe result", r("ProbeResult"))))
            }),
    );
    paths.insert(
        "/admin/models".into(),
        json!({
                "get": op("listModels", "List public models with their mappings", vec![], None, ("200", ok_ref("Models", list_of("Model")))),
                "post": op("createModel", "Add a public model", vec![], Some(r("ModelCreate")), ("201", ok_ref("The new model", r("Model"))))
            }),
    );
    paths.insert(
        "/admin/models/{name}".into(),
        json!({
                "get": op("getModel", "One model", vec![name()], None, ("200", ok_ref("The model", r("Model")))),
                "patch": op("updateModel", "Change a model's description or enabled flag", vec![name()], Some(json!({"type": "object", "additionalProperties": false, "properties": {"description": {"type": "string"}, "enabled": {"type": "boolean"}}})), ("200", ok_ref("The model", r("Model")))),
                "delete": op("deleteModel", "Remove a model and its mappings", vec![name()], None, ("200", ok_ref("Removed", json!({"type": "object", "properties": {"name": {"type": "string"}, "deleted": {"type": "boolean"}}}))))
            }),
    );
    paths.insert(
        "/admin/mappings".into(),
        json!({
                "get": op("listMappings", "Every model → provider mapping", vec![], None, ("200", ok_ref("Mappings", list_of("MappingRow"))))
            }),
    );
    paths.insert(
        "/admin/models/{name}/mappings".into(),
        json!({
                "post": op("createMapping", "Map a model to one more provider", vec![name()], Some(r("MappingCreate")), ("201", ok_ref("The model", r("Model"))))
            }),
    );
    paths.insert(
        "/admin/models/{name}/mappings/{provider}".into(),
        json!({
                "patch": op("updateMapping", "Change one mapping (null priority/weight = the provider's)", vec![name(), provider()], Some(json!({"type": "object", "additionalProperties": false, "properties": {"upstream_model": {"type": "string"}, "priority": {"type": ["integer", "null"], "minimum": 0}, "weight": {"type": ["integer", "null"], "minimum": 0}, "enabled": {"type": "boolean"}}})), ("200", ok_ref("The model", r("Model")))),
                "delete": op("deleteMapping", "Remove one mapping", vec![name(), provider()], None, ("200", ok_ref("The model", r("Model"))))
            }),
    );
    paths.insert(
        "/admin/keys".into(),
        json!({
                "get": op("listKeys", "List client keys (prefix, limits, last use; never the key)", vec![], None, ("200", ok_ref("Keys", list_of("ClientKey")))),
                "post": op("createKey", "Create a client key; the response carries the key, once", vec![], Some(json!({"type": "object", "required": ["name"], "additionalProperties": false, "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}, "rpm_limit": {"type": "integer", "minimum": 0, "description": "Requests per minute; 0 = unlimited"}, "models": {"type": "array", "items": {"type": "string"}, "description": "Allowed public models; absent = all"}}})), ("201", ok_ref("The key", json!({"allOf": [r("ClientKey"), {"type": "object", "required": ["key"], "properties": {"key": {"type": "string", "description": "The key itself; shown only in this response"}}}]}))))
            }),
    );
    paths.insert(
        "/admin/keys/{name}/revoke".into(),
        json!({
                "post": op("revokeKey", "Revoke a client key (kept for the logs)", vec![name()], None, ("200", ok_ref("The key", r("ClientKey"))))
            }),
    );
    paths.insert(
        "/admin/logs".into(),
        json!({
                "get": op("listLogs", "Request logs, newest first, keyset-paginated", logs_params, None, ("200", ok_ref("One page", json!({"type": "object", "properties": {"data": {"type": "array", "items": r("LogEntry")}, "next": {"type": ["string", "null"], "description": "Cursor of the next (older) page; null on the last"}}}))))
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
                "get": op("getStatsSeries", "All providers' requests, errors, latency and tokens per step", series_params, None, ("200", ok_ref("Series", json!({"type": "object", "properties": {"from": {"type": "integer"}, "to": {"type": "integer"}, "step_minutes": {"type": "integer"}, "data": {"type": "array", "items": r("SeriesPoint")}}}))))
            }),
    );
    paths.insert(
        "/admin/health".into(),
        json!({
                "get": op("getHealth", "Current circuit state per provider and recent state changes", vec![query_param("provider", "string", "History of this provider only"), query_param("limit", "integer", "History rows, 1 to 1000 (default 100)")], None, ("200", ok_ref("Health", json!({"type": "object", "properties": {"providers": {"type": "array", "items": {"type": "object"}, "description": "The gateway's live circuit states, as in /ready"}, "latest": {"type": "array", "items": r("HealthEvent")}, "history": {"type": "array", "items": r("HealthEvent")}}}))))
            }),
    );
    let mut schemas = serde_json::Map::new();
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
    schemas.insert(
        "LogEntry".into(),
        json!({"type": "object", "properties": {
                    "id": {"type": "integer"}, "ts_ms": {"type": "integer"}, "request_id": {"type": "string"}, "key_name": {"type": ["string", "null"]},
                    "model": {"type": ["string", "null"]}, "provider": {"type": ["string", "null"]}, "upstream_model": {"type": ["string", "null"]},
                    "attempts": {"type": "integer"}, "status": {"type": "integer"}, "error_type": {"type": ["string", "null"]},
                    "latency_ms": {"type": "number"}, "ttfb_ms": {"type": ["number", "null"]}, "upstream_ms": {"type": ["number", "null"]},
                    "prompt_tokens": {"type": ["integer", "null"]}, "completion_tokens": {"type": ["integer", "null"]}, "stream": {"type": "boolean"}}}),
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

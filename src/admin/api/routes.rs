//! The route table ([`ROUTES`], also checked against the OpenAPI document)
//! and the matching of a request's method and path against it.
use http::Method;

use super::decode::decode_component;

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
pub(super) enum Matched {
    /// The operation and its path parameters, in pattern order.
    Route(Route, Vec<String>),
    /// The path exists with other methods (405 + `Allow`).
    WrongMethod(Vec<Method>),
    NotFound,
}

/// Finds the route for `method` and `path` (the part after `/admin`).
pub(super) fn match_route(method: &Method, path: &str) -> Matched {
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
                match decode_component(s) {
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
}

//! The admin JSON API: `handle` matches a request against the route table
//! (`routes`) and dispatches it to one handler per operation, in a module
//! per resource. Request bodies are typed (`body`); validation is the
//! catalog's own (`ProviderInput::validate` through `Store::add_provider`
//! and friends), the same code path as the CLI. Every successful change asks
//! the gateway to reload.
use http::Method;

use super::{too_large, Admin, AdminRequest, AdminResponse, MAX_BODY};
use decode::Query;
use reply::{not_found, ok, Reply};
use routes::{match_route, Matched};
pub use routes::{Route, ROUTES};

mod body;
mod decode;
mod health;
mod keys;
mod logs;
mod mappings;
mod models;
mod openapi;
mod providers;
mod reply;
mod routes;
mod stats;

/// Serves one authenticated API request.
pub(super) async fn handle(admin: &Admin, req: AdminRequest) -> AdminResponse {
    if req.body.len() > MAX_BODY {
        return too_large();
    }
    let (route, params) = match match_route(&req.method, &req.path) {
        Matched::Route(r, p) => (r, p),
        Matched::WrongMethod(allowed) => return wrong_method(&req, &allowed),
        Matched::NotFound => {
            return not_found(format!(
                "no admin API endpoint at /admin{}; see /admin/openapi.json",
                req.path
            ))
        }
    };
    let resp = dispatch(admin, route, params, &req)
        .await
        .unwrap_or_else(|e| e);
    if matches!(resp.status, 200 | 201)
        && !matches!(req.method, Method::GET)
        && route != Route::TestProvider
    {
        admin.config_changed().await;
    }
    resp
}

/// 405 with the methods the path has in `Allow`.
fn wrong_method(req: &AdminRequest, allowed: &[Method]) -> AdminResponse {
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
    r
}

/// Calls the operation's handler. `params` are the path parameters in
/// pattern order: `{name}`, then `{provider}`.
async fn dispatch(admin: &Admin, route: Route, params: Vec<String>, req: &AdminRequest) -> Reply {
    let mut params = params.into_iter();
    let name = params.next().unwrap_or_default();
    let provider = params.next().unwrap_or_default();
    let query = Query::parse(req.query.as_deref());
    let body = &req.body[..];
    match route {
        Route::OpenApi => ok(openapi::document()),
        Route::ListProviders => providers::list(admin, &query).await,
        Route::CreateProvider => providers::create(admin, body).await,
        Route::GetProvider => providers::get(admin, name).await,
        Route::UpdateProvider => providers::update(admin, name, body).await,
        Route::DeleteProvider => providers::delete(admin, name, &query).await,
        Route::EnableProvider => providers::set_enabled(admin, name, true).await,
        Route::DisableProvider => providers::set_enabled(admin, name, false).await,
        Route::TestProvider => providers::test(admin, name).await,
        Route::ListModels => models::list(admin, &query).await,
        Route::CreateModel => models::create(admin, body).await,
        Route::GetModel => models::get(admin, name).await,
        Route::UpdateModel => models::update(admin, name, body).await,
        Route::DeleteModel => models::delete(admin, name).await,
        Route::ListMappings => mappings::list(admin, &query).await,
        Route::CreateMapping => mappings::create(admin, name, body).await,
        Route::UpdateMapping => mappings::update(admin, name, provider, body).await,
        Route::DeleteMapping => mappings::delete(admin, name, provider).await,
        Route::ListKeys => keys::list(admin, &query).await,
        Route::CreateKey => keys::create(admin, body).await,
        Route::RevokeKey => keys::revoke(admin, name).await,
        Route::Logs => logs::list(admin, &query).await,
        Route::Stats => stats::totals(admin, &query).await,
        Route::StatsSeries => stats::series(admin, &query).await,
        Route::Health => health::get(admin, &query).await,
    }
}

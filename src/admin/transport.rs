//! The admin side of HTTP: [`AdminRequest`] and [`AdminResponse`], independent
//! of the server, and [`route`], the adapter the gateway's hyper server calls
//! for every admin path. Every answer carries the security headers.
use std::net::IpAddr;

use bytes::Bytes;

use super::Admin;

/// Largest request body the admin API accepts (413 above).
pub const MAX_BODY: usize = 1024 * 1024;

/// Headers sent on every admin API and UI response. The CSP allows no inline
/// script or style, no third-party origin and no framing.
const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
];

/// One request to `/admin/*` or `/admin-ui/*`, transport-independent.
#[derive(Debug, Clone)]
pub struct AdminRequest {
    pub method: http::Method,
    /// The path after the `/admin` prefix, e.g. `/providers/openai`.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    /// The whole body (the server reads at most [`MAX_BODY`] + 1 bytes).
    pub body: Bytes,
    pub peer: IpAddr,
}

/// The answer, for the server to send as is.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl AdminResponse {
    /// A JSON response with the security headers and `no-store`.
    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        let mut r = AdminResponse {
            status,
            headers: vec![
                ("content-type", "application/json".into()),
                ("cache-control", "no-store".into()),
            ],
            body: Bytes::from(body),
        };
        r.add_security_headers();
        r
    }

    /// An error in the OpenAI shape: `{"error":{"message","type","param","code"}}`.
    pub(crate) fn error(
        status: u16,
        kind: &str,
        message: impl Into<String>,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Self {
        Self::json(
            status,
            &serde_json::json!({"error": {
                "message": message.into(),
                "type": kind,
                "param": param,
                "code": code,
            }}),
        )
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn add_security_headers(&mut self) {
        for (k, v) in SECURITY_HEADERS {
            self.headers.push((k, v.to_string()));
        }
    }
}

/// True for the paths the admin module serves: `/admin`, `/admin/*`,
/// `/admin-ui` and `/admin-ui/*`.
pub(crate) fn is_admin_path(path: &str) -> bool {
    path == "/admin"
        || path.starts_with("/admin/")
        || path == "/admin-ui"
        || path.starts_with("/admin-ui/")
}

/// Answers one hyper request for an admin path (see [`is_admin_path`]):
/// what the gateway's router calls. `peer` is the client's address (behind
/// trusted proxies, from `X-Forwarded-For`). Reads at most [`MAX_BODY`]
/// bytes of body (413 above, also when `Content-Length` says so up front)
/// within the gateway's body deadline and minimum rate (`bounds`; 408 and
/// the connection closed when it does not arrive in time).
pub(crate) async fn route(
    admin: &Admin,
    req: hyper::Request<hyper::body::Incoming>,
    peer: IpAddr,
    bounds: &crate::http_util::BodyBounds,
) -> AdminResponse {
    use crate::http_util::{read_body, BodyBounds, BodyError};
    let path = req.uri().path().to_string();
    if path == "/admin-ui" {
        return redirect("/admin-ui/");
    }
    if let Some(rest) = path.strip_prefix("/admin-ui/") {
        let inm = req
            .headers()
            .get(http::header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok());
        return admin.handle_ui(rest, inm);
    }
    if !(path == "/admin" || path.starts_with("/admin/")) {
        return AdminResponse::error(404, "not_found_error", "not found", None, None);
    }
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let bounds = BodyBounds {
        limit: MAX_BODY as u64,
        ..*bounds
    };
    let body = match read_body(body, declared, &bounds).await {
        Ok(b) => b,
        Err(BodyError::TooLarge { .. }) => return too_large(),
        Err(BodyError::Slow(message)) => {
            let mut r = AdminResponse::error(
                408,
                "invalid_request_error",
                message,
                None,
                Some("request_body_timeout"),
            );
            // The rest of the body is not read: the connection is done.
            r.headers.push(("connection", "close".into()));
            return r;
        }
        Err(BodyError::Read(e)) => {
            return AdminResponse::error(
                400,
                "invalid_request_error",
                format!("could not read the request body: {e}"),
                None,
                None,
            )
        }
    };
    admin
        .handle_api(AdminRequest {
            method: parts.method,
            path: path["/admin".len()..].to_string(),
            query: parts.uri.query().map(str::to_string),
            headers: parts.headers,
            body,
            peer,
        })
        .await
}

/// The 413 answer for a body over [`MAX_BODY`].
pub(super) fn too_large() -> AdminResponse {
    AdminResponse::error(
        413,
        "invalid_request_error",
        format!("request body is larger than {} bytes", MAX_BODY),
        None,
        Some("body_too_large"),
    )
}

fn redirect(to: &str) -> AdminResponse {
    let mut r = AdminResponse {
        status: 308,
        headers: vec![("location", to.to_string())],
        body: Bytes::new(),
    };
    r.add_security_headers();
    r
}

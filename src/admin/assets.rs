//! The web UI's files, compiled into the binary (no CDN, no network at run
//! time): a static table of (path, content type, bytes), served with a
//! content-hash ETag so browsers revalidate cheaply.
use std::sync::OnceLock;

use bytes::Bytes;

use super::AdminResponse;

/// `(path under /admin-ui/, content type, content)`.
pub const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("ui/index.html"),
    ),
    (
        "login.html",
        "text/html; charset=utf-8",
        include_bytes!("ui/login.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("ui/app.js"),
    ),
    (
        "login.js",
        "text/javascript; charset=utf-8",
        include_bytes!("ui/login.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("ui/style.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("ui/favicon.svg"),
    ),
];

fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        FILES
            .iter()
            .map(|(_, _, body)| {
                let d = super::sha256(body);
                let hex: String = d[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

/// Serves `path` (relative to `/admin-ui/`; empty = `index.html`).
pub(super) fn serve(path: &str, if_none_match: Option<&str>) -> AdminResponse {
    let path = path.trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let Some(i) = FILES.iter().position(|(p, _, _)| *p == path) else {
        return AdminResponse {
            status: 404,
            headers: vec![("content-type", "text/plain; charset=utf-8".into())],
            body: Bytes::from_static(b"not found\n"),
        };
    };
    let (_, ctype, body) = FILES[i];
    let etag = etags()[i].clone();
    let matches = if_none_match.is_some_and(|v| {
        v.split(',').any(|t| {
            t.trim() == etag || t.trim() == "*" || t.trim().trim_start_matches("W/") == etag
        })
    });
    // Revalidate every time: after an upgrade the new files show at once.
    let headers = vec![
        ("content-type", ctype.to_string()),
        ("etag", etag),
        ("cache-control", "no-cache".to_string()),
    ];
    if matches {
        return AdminResponse {
            status: 304,
            headers,
            body: Bytes::new(),
        };
    }
    AdminResponse {
        status: 200,
        headers,
        body: Bytes::from_static(body),
    }
}

/// The page `/admin-ui/` shows when no admin key is configured.
pub(super) fn disabled_page() -> AdminResponse {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>llmo admin: off</title></head>\
         <body><h1>The llmo admin UI is off</h1><p>{}</p></body></html>\n",
        super::DISABLED_MESSAGE
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('`', "")
    );
    AdminResponse {
        status: 503,
        headers: vec![
            ("content-type", "text/html; charset=utf-8".into()),
            ("cache-control", "no-store".into()),
        ],
        body: Bytes::from(html),
    }
}

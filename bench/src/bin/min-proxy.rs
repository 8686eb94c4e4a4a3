//! Minimal pass-through proxy on the same hyper + reqwest stack as llmo.
//!
//! Forwards method, path, headers and body to `--upstream` with one shared
//! reqwest client and streams the answer back frame by frame. It does
//! nothing else (no auth, no parsing, no logging), so its numbers are the
//! ceiling for any proxy built on this stack on this machine.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderName};
use hyper::{Request, Response, StatusCode};
use llmo_bench::{die, Args, BoxError};

const USAGE: &str = "\
min-proxy: minimal pass-through HTTP proxy (hyper server + reqwest client)

  --upstream URL   base URL to forward to, e.g. http://127.0.0.1:8081 (required)
  --listen ADDR    address to bind (default 127.0.0.1:0); the bound address
                   is printed as the first stdout line: `listening on ADDR`
  --threads N      runtime worker threads (default: CPUs allowed)";

struct State {
    client: reqwest::Client,
    upstream: String,
}

type Body = UnsyncBoxBody<Bytes, BoxError>;

/// Connection-level headers that must not be forwarded (RFC 9110 7.6.1),
/// plus `host`, which reqwest sets from the URL.
fn hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::TE
        || name == header::TRAILER
        || name == header::UPGRADE
        || name == header::PROXY_AUTHORIZATION
        || name == header::PROXY_AUTHENTICATE
        || name == header::HOST
        || name.as_str() == "keep-alive"
}

fn filtered(src: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(src.len());
    for (k, v) in src {
        if !hop_by_hop(k) {
            out.append(k.clone(), v.clone());
        }
    }
    out
}

fn bad_gateway(msg: String) -> Response<Body> {
    let body = format!(r#"{{"error":{{"message":"{}","type":"bad_gateway"}}}}"#, msg.replace('"', "'"));
    let mut r = Response::new(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed_unsync());
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r
}

async fn handle(req: Request<Incoming>, st: Arc<State>) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(bad_gateway(format!("reading request body: {e}"))),
    };
    let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{}", st.upstream, pq);
    let mut headers = filtered(&parts.headers);
    headers.remove(header::CONTENT_LENGTH); // reqwest sets it from the body
    let resp = match st
        .client
        .request(parts.method, url)
        .headers(headers)
        .body(body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return Ok(bad_gateway(format!("upstream: {e}"))),
    };
    let status = resp.status();
    let headers = filtered(resp.headers());
    let stream = resp
        .bytes_stream()
        .map_ok(Frame::data)
        .map_err(|e| -> BoxError { Box::new(e) });
    let mut out = Response::new(StreamBody::new(stream).boxed_unsync());
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

fn main() {
    let args = Args::parse(&[]).unwrap_or_else(|e| die(format!("{e}\n\n{USAGE}")));
    if args.flag("help") {
        println!("{USAGE}");
        return;
    }
    args.check_known(&["listen", "upstream", "threads"])
        .unwrap_or_else(|e| die(format!("{e}\n\n{USAGE}")));
    let upstream = args
        .get("upstream")
        .unwrap_or_else(|| die(format!("--upstream is required\n\n{USAGE}")))
        .trim_end_matches('/')
        .to_string();
    let threads = args.num::<usize>("threads", 0).unwrap_or_else(|e| die(e));
    let listen = args.get("listen").unwrap_or("127.0.0.1:0").to_string();
    let rt = llmo_bench::runtime(threads);
    rt.block_on(async move {
        // Built inside the runtime; one client (one connection pool) shared
        // by every request, as a real gateway does.
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .unwrap_or_else(|e| die(format!("reqwest client: {e}")));
        let state = Arc::new(State { client, upstream });
        let listener = llmo_bench::bind(&listen).await;
        llmo_bench::serve(listener, state, handle).await;
    });
}

//! The one scriptable upstream on 127.0.0.1:0 that every test talking HTTP
//! to a vendor (or to something posing as `llmo serve`) uses: answers by
//! one-shot script, path prefix or default; JSON fixtures and
//! statuses, SSE with pauses or waiting on a [`Gate`], broken streams,
//! connection resets and stalls; counts calls and records requests.
//!
//! [`MockUpstream::start`] runs on the calling test's runtime;
//! [`MockUpstream::start_blocking`] on a thread of its own, for `#[test]`s
//! that drive the real binary.
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};

pub const CHAT: &str = include_str!("../../fixtures/openai/chat_completion.json");
pub const CHAT_SSE: &str = include_str!("../../fixtures/openai/chat_completion_stream.sse");
pub const EMBEDDINGS: &str = include_str!("../../fixtures/openai/embeddings_response.json");
pub const ERR_400: &str =
    include_str!("../../fixtures/openai/errors/400_context_length_exceeded.json");
pub const ERR_500: &str = include_str!("../../fixtures/openai/errors/500_server_error.json");
pub const ERR_429: &str = include_str!("../../fixtures/openai/errors/429_rate_limit_exceeded.json");

/// What the mock does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A JSON answer.
    Json {
        status: u16,
        body: String,
        headers: Vec<(&'static str, String)>,
    },
    /// SSE: each chunk after its delay; `broken` ends by cutting the
    /// connection instead of finishing the body.
    Sse {
        chunks: Vec<(Duration, String)>,
        broken: bool,
    },
    /// SSE driven step by step (see [`Step`]); the body ends after the last.
    Stream(Vec<Step>),
    /// An answer built from the request's headers (an upstream or proxy
    /// that echoes `Authorization` in its error body).
    Echo {
        status: u16,
        body: fn(&hyper::HeaderMap) -> String,
    },
    /// A body of any content type, as is (HTML, truncated JSON, empty).
    Raw {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// Closes the connection without an answer.
    Reset,
    /// Reads the request and never answers (the connection stays open), so
    /// only the caller's own timeout can end the exchange.
    Stall,
}

/// One step of a [`Reply::Stream`].
#[derive(Clone, Debug)]
pub enum Step {
    /// Sends these bytes as one chunk.
    Send(String),
    /// Waits until the test opens the gate: "the upstream holds back the
    /// rest until the client has seen what came before".
    Wait(Gate),
    /// Sends nothing more and keeps the connection open.
    Stall,
}

/// A one-way latch the test opens and a stream waits on.
#[derive(Clone, Debug)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Gate {
    pub fn new() -> Gate {
        Gate(Arc::new(tokio::sync::watch::channel(false).0))
    }

    pub fn open(&self) {
        self.0.send_replace(true);
    }

    async fn wait(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }
}

impl Reply {
    pub fn ok(body: &str) -> Reply {
        Reply::status(200, body)
    }

    pub fn status(status: u16, body: &str) -> Reply {
        Reply::Json {
            status,
            body: body.to_string(),
            headers: vec![],
        }
    }

    pub fn with_header(self, name: &'static str, value: &str) -> Reply {
        match self {
            Reply::Json {
                status,
                body,
                mut headers,
            } => {
                headers.push((name, value.to_string()));
                Reply::Json {
                    status,
                    body,
                    headers,
                }
            }
            other => other,
        }
    }

    /// `sse`'s events, one per chunk, no pauses.
    pub fn sse(sse: &str) -> Reply {
        Reply::sse_paced(sse, Duration::ZERO)
    }

    /// `sse`'s events, one per chunk, each after `pause`.
    pub fn sse_paced(sse: &str, pause: Duration) -> Reply {
        Reply::Sse {
            chunks: sse_events(sse).into_iter().map(|e| (pause, e)).collect(),
            broken: false,
        }
    }

    /// The fixture stream, one event per chunk, no pauses.
    pub fn sse_fixture() -> Reply {
        Reply::sse(CHAT_SSE)
    }
}

/// The events of an SSE text, each with its blank line.
pub fn sse_events(sse: &str) -> Vec<String> {
    sse.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| format!("{e}\n\n"))
        .collect()
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }
}

struct State {
    script: Mutex<VecDeque<Reply>>,
    routes: Mutex<Vec<(&'static str, Reply)>>,
    default: Mutex<Reply>,
    calls: AtomicUsize,
    requests: Mutex<Vec<Recorded>>,
}

#[derive(Clone)]
pub struct MockUpstream {
    pub addr: std::net::SocketAddr,
    state: Arc<State>,
    /// Dropping the last clone stops the accept loop (and, for
    /// [`MockUpstream::start_blocking`], its thread and open connections).
    _stop: Arc<tokio::sync::oneshot::Sender<()>>,
}

type Body = BoxBody<Bytes, std::io::Error>;

impl MockUpstream {
    /// Starts a mock on the current runtime that answers
    /// `chat_completion.json` unless told otherwise.
    pub async fn start() -> MockUpstream {
        let (listener, mock, stop) = MockUpstream::bind();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        tokio::spawn(accept_loop(listener, mock.state.clone(), stop));
        mock
    }

    /// [`MockUpstream::start`] for synchronous tests: the mock runs on a
    /// runtime in a thread of its own.
    pub fn start_blocking() -> MockUpstream {
        let (listener, mock, stop) = MockUpstream::bind();
        let state = mock.state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                accept_loop(listener, state, stop).await;
            });
        });
        mock
    }

    fn bind() -> (
        std::net::TcpListener,
        MockUpstream,
        tokio::sync::oneshot::Receiver<()>,
    ) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mock = MockUpstream {
            addr: listener.local_addr().unwrap(),
            state: Arc::new(State {
                script: Mutex::new(VecDeque::new()),
                routes: Mutex::new(Vec::new()),
                default: Mutex::new(Reply::ok(CHAT)),
                calls: AtomicUsize::new(0),
                requests: Mutex::new(Vec::new()),
            }),
            _stop: Arc::new(tx),
        };
        (listener, mock, rx)
    }

    /// The base URL to configure as a provider's `base_url`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://ADDR` followed by `path`.
    pub fn url_of(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The answer for every request neither scripted nor routed.
    pub fn set_default(&self, r: Reply) {
        *self.state.default.lock().unwrap() = r;
    }

    /// The answer for every request whose path starts with `prefix` (the
    /// first such route wins; Gemini's paths carry the model too).
    pub fn route(&self, prefix: &'static str, r: Reply) {
        self.state.routes.lock().unwrap().push((prefix, r));
    }

    /// One-shot answers, used in order before the routes and the default.
    pub fn push(&self, r: Reply) {
        self.state.script.lock().unwrap().push_back(r);
    }

    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn last_request(&self) -> Recorded {
        self.requests().pop().expect("the mock got no request")
    }

    /// The first recorded request whose path starts with `prefix`.
    pub fn request_to(&self, prefix: &str) -> Recorded {
        let all = self.requests();
        all.iter()
            .find(|r| r.path.starts_with(prefix))
            .cloned()
            .unwrap_or_else(|| panic!("no request to `{prefix}*` in {all:?}"))
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    st: Arc<State>,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let accept = async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let _ = sock.set_nodelay(true);
            let st = st.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let st = st.clone();
                    async move { serve(st, req).await }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    };
    tokio::select! {
        () = accept => {}
        _ = stop => {}
    }
}

async fn serve(st: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, std::io::Error> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let headers = req.headers().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut reply = pick(&st, &path);
    if let Reply::Echo { status, body: f } = reply {
        reply = Reply::status(status, &f(&headers));
    }
    st.calls.fetch_add(1, Ordering::SeqCst);
    st.requests.lock().unwrap().push(Recorded {
        method,
        path,
        query,
        headers,
        body,
    });
    answer(reply).await
}

/// The next scripted reply, else the first matching route, else the default.
fn pick(st: &State, path: &str) -> Reply {
    if let Some(r) = st.script.lock().unwrap().pop_front() {
        return r;
    }
    let routes = st.routes.lock().unwrap();
    match routes.iter().find(|(prefix, _)| path.starts_with(prefix)) {
        Some((_, r)) => r.clone(),
        None => st.default.lock().unwrap().clone(),
    }
}

async fn answer(reply: Reply) -> Result<Response<Body>, std::io::Error> {
    match reply {
        // An error from the service makes hyper drop the connection.
        Reply::Reset => Err(std::io::Error::other("reset")),
        Reply::Stall => std::future::pending().await,
        Reply::Json {
            status,
            body,
            headers,
        } => {
            let mut b = Response::builder()
                .status(status)
                .header("content-type", "application/json");
            for (k, v) in headers {
                b = b.header(k, v);
            }
            let full = Full::new(Bytes::from(body)).map_err(|e: Infallible| match e {});
            Ok(b.body(BodyExt::boxed(full)).unwrap())
        }
        Reply::Raw {
            status,
            content_type,
            body,
        } => Ok(Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(BodyExt::boxed(
                Full::new(Bytes::from(body)).map_err(|e: Infallible| match e {}),
            ))
            .unwrap()),
        Reply::Echo { .. } => unreachable!("replaced in `serve`"),
        Reply::Sse { chunks, broken } => Ok(sse_response(chunks, vec![], broken)),
        Reply::Stream(steps) => Ok(sse_response(vec![], steps, false)),
    }
}

/// An SSE response fed by a task: first the paced `chunks`, then `steps`,
/// then either the end of the body or (`broken`) a cut connection.
fn sse_response(chunks: Vec<(Duration, String)>, steps: Vec<Step>, broken: bool) -> Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    tokio::spawn(async move {
        let send = |chunk: String| tx.send(Ok(Frame::data(Bytes::from(chunk))));
        for (delay, chunk) in chunks {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if send(chunk).await.is_err() {
                return;
            }
        }
        for step in steps {
            match step {
                Step::Send(chunk) => {
                    if send(chunk).await.is_err() {
                        return;
                    }
                }
                Step::Wait(gate) => gate.wait().await,
                Step::Stall => {
                    // Holding the sender keeps the body open.
                    tx.closed().await;
                    return;
                }
            }
        }
        if broken {
            // Let hyper take every frame sent and flush it, then cut.
            while tx.capacity() < tx.max_capacity() && !tx.is_closed() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = tx
                .send(Err(std::io::Error::other("broken on purpose")))
                .await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .unwrap()
}

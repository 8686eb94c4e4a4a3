//! A scriptable OpenAI-compatible upstream on 127.0.0.1:0 for gateway tests:
//! answers with fixtures, statuses, delays, SSE chunks with pauses, broken
//! streams and connection resets; counts calls and records requests.
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
    /// Waits, then answers.
    Delay(Duration, Box<Reply>),
    /// Closes the connection without an answer.
    Reset,
}

impl Reply {
    pub fn ok(body: &str) -> Reply {
        Reply::Json {
            status: 200,
            body: body.to_string(),
            headers: vec![],
        }
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

    pub fn delayed(self, d: Duration) -> Reply {
        Reply::Delay(d, Box::new(self))
    }

    /// The fixture stream, one event per chunk, no pauses.
    pub fn sse_fixture() -> Reply {
        Reply::Sse {
            chunks: sse_events(CHAT_SSE)
                .into_iter()
                .map(|e| (Duration::ZERO, e))
                .collect(),
            broken: false,
        }
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
    pub path: String,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

struct State {
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Reply>,
    calls: AtomicUsize,
    requests: Mutex<Vec<Recorded>>,
}

#[derive(Clone)]
pub struct MockUpstream {
    pub addr: std::net::SocketAddr,
    state: Arc<State>,
}

type Body = BoxBody<Bytes, std::io::Error>;

impl MockUpstream {
    /// Starts a mock that answers `chat_completion.json` unless told otherwise.
    pub async fn start() -> MockUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(Reply::ok(CHAT)),
            calls: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        tokio::spawn(async move {
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
        });
        MockUpstream { addr, state }
    }

    /// The base URL to configure as a provider's `base_url`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The answer for every request not scripted with [`MockUpstream::push`].
    pub fn set_default(&self, r: Reply) {
        *self.state.default.lock().unwrap() = r;
    }

    /// One-shot answers, used in order before the default.
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
}

async fn serve(st: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, std::io::Error> {
    let path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    st.calls.fetch_add(1, Ordering::SeqCst);
    st.requests.lock().unwrap().push(Recorded {
        path,
        headers,
        body,
    });
    let reply = st
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| st.default.lock().unwrap().clone());
    answer(reply).await
}

async fn answer(mut reply: Reply) -> Result<Response<Body>, std::io::Error> {
    loop {
        match reply {
            Reply::Delay(d, r) => {
                tokio::time::sleep(d).await;
                reply = *r;
            }
            Reply::Reset => {
                // An error from the service makes hyper drop the connection.
                return Err(std::io::Error::other("reset"));
            }
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
                return Ok(b.body(BodyExt::boxed(full)).unwrap());
            }
            Reply::Sse { chunks, broken } => {
                let (tx, rx) =
                    tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
                tokio::spawn(async move {
                    for (delay, chunk) in chunks {
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                        if tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.is_err() {
                            return;
                        }
                    }
                    if broken {
                        // Let hyper flush what was sent, then cut.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let _ = tx
                            .send(Err(std::io::Error::other("broken on purpose")))
                            .await;
                    }
                });
                let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|item| (item, rx))
                });
                let body = BodyExt::boxed(StreamBody::new(stream));
                return Ok(Response::builder()
                    .status(200)
                    .header("content-type", "text/event-stream")
                    .body(body)
                    .unwrap());
            }
        }
    }
}

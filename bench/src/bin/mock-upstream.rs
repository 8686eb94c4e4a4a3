//! Fast mock of an OpenAI-compatible upstream.
//!
//! POST .../chat/completions answers a `chat.completion` JSON, or, when the
//! body has `"stream": true`, an SSE stream of `chat.completion.chunk` events
//! ending in `data: [DONE]`. GET .../models lists `bench-model`.
//! Every response body is built once at start-up.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use llmo_bench::{contains, die, Args};

const USAGE: &str = "\
mock-upstream: fast OpenAI-compatible mock for benchmarks

  --listen ADDR        address to bind (default 127.0.0.1:0); the bound address
                       is printed as the first stdout line: `listening on ADDR`
  --delay-ms N         fixed delay before answering (default 0)
  --chunks N           SSE chunks per streamed answer, >= 2 (default 20)
  --chunk-delay-ms N   pause between SSE chunks (default 0: all at once)
  --model NAME         model name in answers (default bench-model)
  --threads N          runtime worker threads (default: CPUs allowed)";

const PROMPT_TOKENS: usize = 9;

struct State {
    delay: Duration,
    chunk_delay: Duration,
    json: Bytes,
    models: Bytes,
    /// SSE events, one per chunk, without the usage chunk and [DONE].
    chunks: Vec<Bytes>,
    /// Same events with `"usage":null`, as OpenAI sends them when
    /// `stream_options.include_usage` is true.
    chunks_usage: Vec<Bytes>,
    usage_chunk: Bytes,
    done: Bytes,
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

fn build_state(model: &str, n_chunks: usize, delay: Duration, chunk_delay: Duration) -> State {
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let id = "chatcmpl-bench0000000000000000";
    // n_chunks = 1 role chunk + (n-2) content chunks + 1 finish chunk.
    let words: Vec<String> = (0..n_chunks - 2).map(|i| format!("word{i} ")).collect();
    let completion_tokens = words.len();
    let usage = format!(
        r#"{{"prompt_tokens":{PROMPT_TOKENS},"completion_tokens":{completion_tokens},"total_tokens":{}}}"#,
        PROMPT_TOKENS + completion_tokens
    );
    let json = format!(
        r#"{{"id":"{id}","object":"chat.completion","created":{created},"model":"{model}","choices":[{{"index":0,"message":{{"role":"assistant","content":"{}","refusal":null}},"logprobs":null,"finish_reason":"stop"}}],"usage":{usage},"system_fingerprint":null}}"#,
        words.concat()
    );
    let chunk = |delta: &str, finish: &str, usage: &str| {
        Bytes::from(format!(
            "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":\"{model}\",\"system_fingerprint\":null,\"choices\":[{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\"finish_reason\":{finish}}}]{usage}}}\n\n"
        ))
    };
    let build = |usage: &str| {
        let mut chunks = Vec::with_capacity(n_chunks);
        chunks.push(chunk(r#"{"role":"assistant","content":""}"#, "null", usage));
        for w in &words {
            chunks.push(chunk(&format!(r#"{{"content":"{w}"}}"#), "null", usage));
        }
        chunks.push(chunk("{}", r#""stop""#, usage));
        chunks
    };
    let chunks = build("");
    let chunks_usage = build(r#","usage":null"#);
    let usage_chunk = Bytes::from(format!(
        "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":\"{model}\",\"system_fingerprint\":null,\"choices\":[],\"usage\":{usage}}}\n\n"
    ));
    let models = format!(
        r#"{{"object":"list","data":[{{"id":"{model}","object":"model","created":{created},"owned_by":"llmo-bench"}}]}}"#
    );
    State {
        delay,
        chunk_delay,
        json: Bytes::from(json),
        models: Bytes::from(models),
        chunks,
        chunks_usage,
        usage_chunk,
        done: Bytes::from_static(b"data: [DONE]\n\n"),
    }
}

fn full(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Full::new(body).boxed_unsync());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn error(status: StatusCode, msg: &str) -> Response<Body> {
    let body = format!(r#"{{"error":{{"message":"{msg}","type":"invalid_request_error"}}}}"#);
    full(status, "application/json", Bytes::from(body))
}

async fn handle(req: Request<Incoming>, st: Arc<State>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path();
    if path.ends_with("/chat/completions") {
        if req.method() != Method::POST {
            return Ok(error(StatusCode::METHOD_NOT_ALLOWED, "use POST"));
        }
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return Ok(error(StatusCode::BAD_REQUEST, "cannot read body")),
        };
        // Cheap detection instead of a JSON parse.
        let stream = contains(&body, br#""stream":true"#) || contains(&body, br#""stream": true"#);
        let usage = stream
            && (contains(&body, br#""include_usage":true"#)
                || contains(&body, br#""include_usage": true"#));
        if !st.delay.is_zero() {
            tokio::time::sleep(st.delay).await;
        }
        if !stream {
            return Ok(full(StatusCode::OK, "application/json", st.json.clone()));
        }
        let mut frames: Vec<Bytes> = Vec::with_capacity(st.chunks.len() + 2);
        if usage {
            frames.extend(st.chunks_usage.iter().cloned());
            frames.push(st.usage_chunk.clone());
        } else {
            frames.extend(st.chunks.iter().cloned());
        }
        frames.push(st.done.clone());
        let body = if st.chunk_delay.is_zero() {
            let it = frames.into_iter().map(|b| Ok::<_, Infallible>(Frame::data(b)));
            StreamBody::new(futures_util::stream::iter(it)).boxed_unsync()
        } else {
            let pause = st.chunk_delay;
            let s = futures_util::stream::unfold(
                (frames.into_iter(), true),
                move |(mut it, first)| async move {
                    let b = it.next()?;
                    if !first {
                        tokio::time::sleep(pause).await;
                    }
                    Some((Ok::<_, Infallible>(Frame::data(b)), (it, false)))
                },
            );
            StreamBody::new(s).boxed_unsync()
        };
        let mut r = Response::new(body);
        let h = r.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return Ok(r);
    }
    if path.ends_with("/models") && req.method() == Method::GET {
        return Ok(full(StatusCode::OK, "application/json", st.models.clone()));
    }
    if path == "/ready" || path == "/health" {
        return Ok(full(StatusCode::OK, "text/plain", Bytes::from_static(b"ok\n")));
    }
    Ok(error(StatusCode::NOT_FOUND, "not found"))
}

fn main() {
    let args = Args::parse(&[]).unwrap_or_else(|e| die(format!("{e}\n\n{USAGE}")));
    if args.flag("help") {
        println!("{USAGE}");
        return;
    }
    args.check_known(&["listen", "delay-ms", "chunks", "chunk-delay-ms", "model", "threads"])
        .unwrap_or_else(|e| die(format!("{e}\n\n{USAGE}")));
    let num = |name, default| args.num::<u64>(name, default).unwrap_or_else(|e| die(e));
    let chunks = num("chunks", 20);
    if chunks < 2 {
        die("--chunks must be at least 2");
    }
    let state = Arc::new(build_state(
        args.get("model").unwrap_or("bench-model"),
        chunks as usize,
        Duration::from_millis(num("delay-ms", 0)),
        Duration::from_millis(num("chunk-delay-ms", 0)),
    ));
    let listen = args.get("listen").unwrap_or("127.0.0.1:0").to_string();
    let rt = llmo_bench::runtime(num("threads", 0) as usize);
    rt.block_on(async move {
        let listener = llmo_bench::bind(&listen).await;
        llmo_bench::serve(listener, state, handle).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_well_formed() {
        let st = build_state("m", 5, Duration::ZERO, Duration::ZERO);
        assert_eq!(st.chunks.len(), 5);
        assert_eq!(st.chunks_usage.len(), 5);
        for c in st.chunks.iter().chain(&st.chunks_usage).chain([&st.usage_chunk]) {
            let s = std::str::from_utf8(c).unwrap_or_default();
            assert!(s.starts_with("data: {\"id\":\"chatcmpl-"), "{s}");
            assert!(s.ends_with("}\n\n"), "{s}");
            assert_eq!(s.matches('\n').count(), 2, "one event per chunk: {s}");
            assert!(s.contains("\"object\":\"chat.completion.chunk\""));
        }
        assert!(contains(&st.chunks[0], br#""delta":{"role":"assistant","content":""}"#));
        assert!(contains(&st.chunks[4], br#""finish_reason":"stop""#));
        assert!(!contains(&st.chunks[1], b"usage"));
        assert!(contains(&st.chunks_usage[1], br#","usage":null}"#));
        assert!(contains(&st.usage_chunk, br#""choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}"#));
        assert_eq!(&st.done[..], b"data: [DONE]\n\n");
        assert!(contains(&st.json, br#""content":"word0 word1 word2 ""#));
    }
}

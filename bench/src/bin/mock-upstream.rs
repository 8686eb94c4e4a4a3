//! Fast mock of an OpenAI-compatible upstream (also of Anthropic's Messages API
//! and OpenAI's Responses API, for the `messages` and `responses` scenarios).
//!
//! POST .../chat/completions answers a `chat.completion` JSON, or, when the
//! body has `"stream": true`, an SSE stream of `chat.completion.chunk` events
//! ending in `data: [DONE]`. POST .../messages answers an Anthropic `message`
//! JSON or its `message_start` .. `message_stop` stream; POST .../responses a
//! Responses `response` object or its `response.created` ..
//! `response.completed` stream; same words, one event per body frame.
//! GET .../models lists `bench-model`. Every response body is built once at
//! start-up.

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
    /// Anthropic Messages: the non-stream answer and the stream's events.
    messages: Dialect,
    /// OpenAI Responses: the same.
    responses: Dialect,
}

struct Dialect {
    json: Bytes,
    events: Vec<Bytes>,
}

fn sse(event: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// Anthropic's `message` JSON and stream for the given words.
fn messages_dialect(model: &str, words: &[String]) -> Dialect {
    let id = "msg_bench000000000000000000";
    let out = words.len();
    let usage = format!(r#"{{"input_tokens":{PROMPT_TOKENS},"output_tokens":{out}}}"#);
    let json = format!(
        r#"{{"id":"{id}","type":"message","role":"assistant","model":"{model}","content":[{{"type":"text","text":"{}"}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{usage}}}"#,
        words.concat()
    );
    let mut events = vec![
        sse(
            "message_start",
            &format!(
                r#"{{"type":"message_start","message":{{"id":"{id}","type":"message","role":"assistant","model":"{model}","content":[],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{PROMPT_TOKENS},"output_tokens":1}}}}}}"#
            ),
        ),
        sse(
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ),
    ];
    for w in words {
        events.push(sse(
            "content_block_delta",
            &format!(r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{w}"}}}}"#),
        ));
    }
    events.push(sse("content_block_stop", r#"{"type":"content_block_stop","index":0}"#));
    events.push(sse(
        "message_delta",
        &format!(
            r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn","stop_sequence":null}},"usage":{{"output_tokens":{out}}}}}"#
        ),
    ));
    events.push(sse("message_stop", r#"{"type":"message_stop"}"#));
    Dialect { json: Bytes::from(json), events }
}

/// OpenAI's Responses `response` object and stream for the given words.
fn responses_dialect(model: &str, created: u64, words: &[String]) -> Dialect {
    let out = words.len();
    let text = words.concat();
    let usage = format!(
        r#"{{"input_tokens":{PROMPT_TOKENS},"input_tokens_details":{{"cached_tokens":0}},"output_tokens":{out},"output_tokens_details":{{"reasoning_tokens":0}},"total_tokens":{}}}"#,
        PROMPT_TOKENS + out
    );
    let item = |status: &str, text: &str| {
        format!(
            r#"{{"id":"msg_bench","type":"message","status":"{status}","role":"assistant","content":[{{"type":"output_text","text":"{text}","annotations":[]}}]}}"#
        )
    };
    let response = |status: &str, output: &str, usage: &str| {
        format!(
            r#"{{"id":"resp_bench","object":"response","created_at":{created},"status":"{status}","model":"{model}","output":[{output}],"usage":{usage}}}"#
        )
    };
    let json = response("completed", &item("completed", &text), &usage);
    let mut seq = 0u32;
    let mut ev = |kind: &str, rest: &str| {
        seq += 1;
        sse(kind, &format!(r#"{{"type":"{kind}","sequence_number":{seq},{rest}}}"#))
    };
    let part = |t: &str| format!(r#""part":{{"type":"output_text","text":"{t}","annotations":[]}}"#);
    let at = r#""item_id":"msg_bench","output_index":0,"content_index":0"#;
    let pending = response("in_progress", "", "null");
    let mut events = vec![
        ev("response.created", &format!(r#""response":{pending}"#)),
        ev("response.in_progress", &format!(r#""response":{pending}"#)),
        ev(
            "response.output_item.added",
            &format!(
                r#""output_index":0,"item":{{"id":"msg_bench","type":"message","status":"in_progress","role":"assistant","content":[]}}"#
            ),
        ),
        ev("response.content_part.added", &format!("{at},{}", part(""))),
    ];
    for w in words {
        events.push(ev("response.output_text.delta", &format!(r#"{at},"delta":"{w}""#)));
    }
    events.push(ev("response.output_text.done", &format!(r#"{at},"text":"{text}""#)));
    events.push(ev("response.content_part.done", &format!("{at},{}", part(&text))));
    events.push(ev(
        "response.output_item.done",
        &format!(r#""output_index":0,"item":{}"#, item("completed", &text)),
    ));
    events.push(ev("response.completed", &format!(r#""response":{json}"#)));
    Dialect { json: Bytes::from(json), events }
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
        messages: messages_dialect(model, &words),
        responses: responses_dialect(model, created, &words),
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
        return Ok(sse_response(frames, st.chunk_delay));
    }
    let dialect = if path.ends_with("/messages") {
        Some(&st.messages)
    } else if path.ends_with("/responses") {
        Some(&st.responses)
    } else {
        None
    };
    if let Some(d) = dialect {
        if req.method() != Method::POST {
            return Ok(error(StatusCode::METHOD_NOT_ALLOWED, "use POST"));
        }
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return Ok(error(StatusCode::BAD_REQUEST, "cannot read body")),
        };
        let stream = contains(&body, br#""stream":true"#) || contains(&body, br#""stream": true"#);
        if !st.delay.is_zero() {
            tokio::time::sleep(st.delay).await;
        }
        if !stream {
            return Ok(full(StatusCode::OK, "application/json", d.json.clone()));
        }
        return Ok(sse_response(d.events.clone(), st.chunk_delay));
    }
    if path.ends_with("/models") && req.method() == Method::GET {
        return Ok(full(StatusCode::OK, "application/json", st.models.clone()));
    }
    if path == "/ready" || path == "/health" {
        return Ok(full(StatusCode::OK, "text/plain", Bytes::from_static(b"ok\n")));
    }
    Ok(error(StatusCode::NOT_FOUND, "not found"))
}

/// An SSE answer, one body frame per event, `chunk_delay` apart.
fn sse_response(frames: Vec<Bytes>, chunk_delay: Duration) -> Response<Body> {
    let body = if chunk_delay.is_zero() {
        let it = frames.into_iter().map(|b| Ok::<_, Infallible>(Frame::data(b)));
        StreamBody::new(futures_util::stream::iter(it)).boxed_unsync()
    } else {
        let pause = chunk_delay;
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
    r
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

    #[test]
    fn messages_and_responses_events_are_well_formed() {
        let st = build_state("m", 5, Duration::ZERO, Duration::ZERO);
        for (d, first, last) in [
            (&st.messages, "event: message_start\n", "event: message_stop\n"),
            (&st.responses, "event: response.created\n", "event: response.completed\n"),
        ] {
            for e in &d.events {
                let s = std::str::from_utf8(e).unwrap_or_default();
                assert!(s.starts_with("event: ") && s.ends_with("}\n\n"), "{s}");
                assert_eq!(s.matches('\n').count(), 3, "one event per frame: {s}");
                assert_eq!(s.matches('{').count(), s.matches('}').count(), "{s}");
            }
            assert!(d.events[0].starts_with(first.as_bytes()));
            assert!(d.events[d.events.len() - 1].starts_with(last.as_bytes()));
            assert!(contains(&d.json, b"word0 word1 word2 "));
        }
        let deltas = |d: &Dialect, kind: &[u8]| d.events.iter().filter(|e| contains(e, kind)).count();
        assert_eq!(deltas(&st.messages, b"\"text_delta\""), 3);
        assert_eq!(deltas(&st.responses, b"event: response.output_text.delta\n"), 3);
        assert!(contains(&st.messages.json, br#""usage":{"input_tokens":9,"output_tokens":3}"#));
        assert!(contains(&st.responses.events[st.responses.events.len() - 1], br#""total_tokens":12"#));
    }
}

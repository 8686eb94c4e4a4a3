//! Closed-loop HTTP/1.1 load generator.
//!
//! `--concurrency C` workers, each with its own keep-alive connection, send
//! requests back to back. Each request's total latency and time to its first
//! body byte (for SSE: the first body frame) is recorded in microseconds in a
//! preallocated per-worker vector; the vectors are merged at the end.
//! A warm-up period runs first and is not counted.
//!
//! Duration mode (default): requests that complete inside the measurement
//! window are counted, and RPS = counted / window. Requests mode
//! (`--requests N`): the first N requests started after warm-up are counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use llmo_bench::{die, Args};
use tokio::net::TcpStream;

const USAGE: &str = "\
loadgen: closed-loop HTTP/1.1 load generator with latency and TTFB percentiles

  --url URL            target, e.g. http://127.0.0.1:8080/v1/chat/completions (required)
  --concurrency C      concurrent workers, one keep-alive connection each (default 1)
  --duration SECS      measured seconds after warm-up (default 5)
  --requests N         count the first N requests after warm-up instead of a duration
  --warmup SECS        warm-up seconds, not counted (default 1)
  --stream             send the default streaming body (stream + include_usage) and
                       check that every answer ends with `data: [DONE]`
  --stream-end TEXT    with --stream: instead, check that the last two body frames
                       contain TEXT (e.g. `event: message_stop` for Anthropic's
                       Messages stream, `event: response.completed` for Responses)
  --body JSON          request body (default: small chat request, model bench-model)
  --model NAME         model in the default body (default bench-model)
  --method M           HTTP method (default POST)
  --header 'K: V'      extra request header, repeatable (e.g. Authorization)
  --timeout SECS       per-request timeout, counted as an error (default 30)
  --threads N          runtime worker threads (default: CPUs allowed)
  --json               print one JSON object instead of text";

struct Config {
    addr: String,
    uri: Uri,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    stream: bool,
    /// What a complete stream's last frames contain (None: ends with `data: [DONE]`).
    stream_end: Option<Vec<u8>>,
    timeout: Duration,
}

#[derive(Default)]
struct Stats {
    lat: Vec<u32>,
    ttfb: Vec<u32>,
    non2xx: u64,
    errors: u64,
    incomplete: u64,
    bytes: u64,
    connects: u64,
    /// Every completed request, warm-up and out-of-window ones included
    /// (to divide the server's CPU time by).
    total: u64,
    first_error: Option<String>,
}

impl Stats {
    fn error(&mut self, counted: bool, msg: impl FnOnce() -> String) {
        if counted {
            self.errors += 1;
        }
        if self.first_error.is_none() {
            self.first_error = Some(msg());
        }
    }
}

enum Mode {
    Window { start: Instant, end: Instant },
    Count { start: Instant, left: Arc<AtomicU64> },
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

async fn connect(cfg: &Config) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(&cfg.addr)
        .await
        .map_err(|e| format!("connect {}: {e}", cfg.addr))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Result of one request: (status, ttfb, end, body ok).
async fn one_request(
    cfg: &Config,
    sender: &mut SendRequest<Full<Bytes>>,
    start: Instant,
    stats: &mut Stats,
) -> Result<(u16, Duration, Instant, bool), String> {
    let mut req = Request::new(Full::new(cfg.body.clone()));
    *req.method_mut() = cfg.method.clone();
    *req.uri_mut() = cfg.uri.clone();
    *req.headers_mut() = cfg.headers.clone();
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut ttfb = None;
    // Last two non-empty frames, to check the SSE terminator cheaply.
    let mut prev = Bytes::new();
    let mut last = Bytes::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("body: {e}"))?;
        if let Ok(data) = frame.into_data() {
            if data.is_empty() {
                continue;
            }
            if ttfb.is_none() {
                ttfb = Some(start.elapsed());
            }
            stats.bytes += data.len() as u64;
            prev = std::mem::replace(&mut last, data);
        }
    }
    let end = Instant::now();
    let ttfb = ttfb.unwrap_or_else(|| end - start);
    let complete = !cfg.stream || {
        let mut tail = Vec::with_capacity(prev.len() + last.len());
        tail.extend_from_slice(&prev);
        tail.extend_from_slice(&last);
        match &cfg.stream_end {
            Some(end) => llmo_bench::contains(&tail, end),
            None => tail.trim_ascii_end().ends_with(b"data: [DONE]"),
        }
    };
    Ok((status, ttfb, end, complete))
}

async fn worker(cfg: Arc<Config>, mode: Arc<Mode>, capacity: usize) -> Stats {
    let mut stats = Stats {
        lat: Vec::with_capacity(capacity),
        ttfb: Vec::with_capacity(capacity),
        ..Stats::default()
    };
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    loop {
        let now = Instant::now();
        let counted_start = match &*mode {
            Mode::Window { end, .. } => {
                if now >= *end {
                    break;
                }
                false
            }
            Mode::Count { start, left } => {
                if now >= *start {
                    // Take a ticket; stop when none are left.
                    if left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_err()
                    {
                        break;
                    }
                    true
                } else {
                    false
                }
            }
        };
        let measuring_now = match &*mode {
            Mode::Window { start, .. } => now >= *start,
            Mode::Count { .. } => counted_start,
        };
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            match connect(&cfg).await {
                Ok(s) => {
                    stats.connects += 1;
                    sender = Some(s);
                }
                Err(e) => {
                    stats.error(measuring_now, || e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        if s.ready().await.is_err() {
            // Server closed the idle connection: reconnect, not an error.
            sender = None;
            continue;
        }
        let start = Instant::now();
        let res = tokio::time::timeout(cfg.timeout, one_request(&cfg, s, start, &mut stats)).await;
        let (status, ttfb, end, complete) = match res {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                stats.error(measuring_now, || e);
                sender = None;
                continue;
            }
            Err(_) => {
                stats.error(measuring_now, || "timeout".to_string());
                sender = None;
                continue;
            }
        };
        stats.total += 1;
        let counted = match &*mode {
            Mode::Window { start: ws, end: we } => end >= *ws && end <= *we,
            Mode::Count { .. } => counted_start,
        };
        if !counted {
            continue;
        }
        if !(200..300).contains(&status) {
            stats.non2xx += 1;
            if stats.first_error.is_none() {
                stats.first_error = Some(format!("HTTP {status}"));
            }
        } else if !complete {
            stats.incomplete += 1;
            if stats.first_error.is_none() {
                stats.first_error = Some(match &cfg.stream_end {
                    Some(end) => format!("stream did not end with {}", String::from_utf8_lossy(end)),
                    None => "stream did not end with data: [DONE]".into(),
                });
            }
        }
        stats.lat.push(micros(end - start));
        stats.ttfb.push(micros(ttfb));
    }
    stats
}

struct Pct {
    mean: f64,
    p50: u32,
    p90: u32,
    p99: u32,
    p999: u32,
    max: u32,
}

fn percentiles(v: &mut [u32]) -> Pct {
    if v.is_empty() {
        return Pct { mean: 0.0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
    }
    v.sort_unstable();
    // Nearest-rank percentile, `per_mille` in 1/1000 (exact integer math).
    let at = |per_mille: usize| {
        let rank = (per_mille * v.len()).div_ceil(1000);
        v[rank.clamp(1, v.len()) - 1]
    };
    let sum: u64 = v.iter().map(|&x| u64::from(x)).sum();
    Pct {
        mean: sum as f64 / v.len() as f64,
        p50: at(500),
        p90: at(900),
        p99: at(990),
        p999: at(999),
        max: v[v.len() - 1],
    }
}

fn pct_json(p: &Pct) -> String {
    format!(
        r#"{{"mean":{:.1},"p50":{},"p90":{},"p99":{},"p999":{},"max":{}}}"#,
        p.mean, p.p50, p.p90, p.p99, p.p999, p.max
    )
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn parse_config(args: &Args) -> Result<Config, String> {
    let url = args.get("url").ok_or("--url is required")?;
    let uri: Uri = url.parse().map_err(|e| format!("--url: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("--url must be plain http://".into());
    }
    let authority = uri.authority().ok_or("--url has no host")?.clone();
    let addr = if authority.port().is_some() {
        authority.as_str().to_string()
    } else {
        format!("{}:80", authority.host())
    };
    let path: Uri = uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .map_err(|e| format!("--url path: {e}"))?;
    let method: Method = args
        .get("method")
        .unwrap_or("POST")
        .parse()
        .map_err(|_| "--method: invalid")?;
    let stream = args.flag("stream");
    let model = args.get("model").unwrap_or("bench-model");
    let body = match args.get("body") {
        Some(b) => b.to_string(),
        None if method == Method::GET => String::new(),
        None if stream => format!(
            r#"{{"model":"{model}","messages":[{{"role":"user","content":"Say hello."}}],"stream":true,"stream_options":{{"include_usage":true}}}}"#
        ),
        None => format!(
            r#"{{"model":"{model}","messages":[{{"role":"user","content":"Say hello."}}],"max_tokens":32}}"#
        ),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        HOST,
        HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?,
    );
    if !body.is_empty() {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if stream {
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    }
    for h in args.all("header") {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| format!("--header {h:?}: expected 'Name: value'"))?;
        let k = HeaderName::from_bytes(k.trim().as_bytes()).map_err(|e| format!("--header {k:?}: {e}"))?;
        let v = HeaderValue::from_str(v.trim()).map_err(|e| format!("--header value: {e}"))?;
        headers.insert(k, v);
    }
    let timeout = args.num::<f64>("timeout", 30.0)?;
    Ok(Config {
        addr,
        uri: path,
        method,
        headers,
        body: Bytes::from(body),
        stream,
        stream_end: args.get("stream-end").map(|s| s.as_bytes().to_vec()),
        timeout: Duration::from_secs_f64(timeout),
    })
}

fn main() {
    let args = Args::parse(&["stream", "json"]).unwrap_or_else(|e| die(format!("{e}\n\n{USAGE}")));
    if args.flag("help") {
        println!("{USAGE}");
        return;
    }
    args.check_known(&[
        "url", "concurrency", "duration", "requests", "warmup", "body", "model", "method", "header",
        "timeout", "threads", "stream-end",
    ])
    .unwrap_or_else(|e| die(format!("{e}\n\n{USAGE}")));
    let cfg = Arc::new(parse_config(&args).unwrap_or_else(|e| die(format!("{e}\n\n{USAGE}"))));
    let concurrency = args.num::<usize>("concurrency", 1).unwrap_or_else(|e| die(e)).max(1);
    let duration = args.num::<f64>("duration", 5.0).unwrap_or_else(|e| die(e));
    let warmup = args.num::<f64>("warmup", 1.0).unwrap_or_else(|e| die(e));
    let requests = args.get("requests").map(|_| args.num::<u64>("requests", 0).unwrap_or_else(|e| die(e)));
    let threads = args.num::<usize>("threads", 0).unwrap_or_else(|e| die(e));
    let json = args.flag("json");

    let rt = llmo_bench::runtime(threads);
    let (mut all, measured) = rt.block_on(async {
        let t0 = Instant::now();
        let start = t0 + Duration::from_secs_f64(warmup);
        let mode = Arc::new(match requests {
            Some(n) => Mode::Count { start, left: Arc::new(AtomicU64::new(n)) },
            None => Mode::Window { start, end: start + Duration::from_secs_f64(duration) },
        });
        // Preallocate for ~100k req/s spread over the workers (grows if needed).
        let expected = match requests {
            Some(n) => n as usize,
            None => (duration * 100_000.0) as usize,
        };
        let capacity = (expected / concurrency).clamp(1024, 1 << 22);
        let handles: Vec<_> = (0..concurrency)
            .map(|_| tokio::spawn(worker(cfg.clone(), mode.clone(), capacity)))
            .collect();
        let mut all = Vec::with_capacity(concurrency);
        for h in handles {
            match h.await {
                Ok(s) => all.push(s),
                Err(e) => die(format!("worker panicked: {e}")),
            }
        }
        let measured = match &*mode {
            Mode::Window { .. } => duration,
            Mode::Count { start, .. } => Instant::now().saturating_duration_since(*start).as_secs_f64(),
        };
        (all, measured)
    });

    let mut lat = Vec::with_capacity(all.iter().map(|s| s.lat.len()).sum());
    let mut ttfb = Vec::with_capacity(lat.capacity());
    let (mut non2xx, mut errors, mut incomplete, mut bytes, mut connects, mut total) = (0, 0, 0, 0, 0, 0);
    let mut first_error = None;
    for s in &mut all {
        lat.append(&mut s.lat);
        ttfb.append(&mut s.ttfb);
        non2xx += s.non2xx;
        errors += s.errors;
        incomplete += s.incomplete;
        bytes += s.bytes;
        connects += s.connects;
        total += s.total;
        if first_error.is_none() {
            first_error = s.first_error.take();
        }
    }
    let n = lat.len() as u64;
    let rps = if measured > 0.0 { n as f64 / measured } else { 0.0 };
    let l = percentiles(&mut lat);
    let t = percentiles(&mut ttfb);
    let url = args.get("url").unwrap_or_default();
    if json {
        println!(
            r#"{{"url":{},"concurrency":{concurrency},"stream":{},"duration_s":{measured:.3},"requests":{n},"non2xx":{non2xx},"errors":{errors},"incomplete":{incomplete},"bytes":{bytes},"connects":{connects},"total_requests":{total},"rps":{rps:.1},"latency_us":{},"ttfb_us":{},"first_error":{}}}"#,
            json_str(url),
            cfg.stream,
            pct_json(&l),
            pct_json(&t),
            first_error.as_deref().map_or("null".to_string(), json_str),
        );
    } else {
        let ms = |us: u32| f64::from(us) / 1000.0;
        println!("target       {url} (c={concurrency}, stream={})", cfg.stream);
        println!("requests     {n} in {measured:.2} s = {rps:.1} req/s");
        println!("failures     non-2xx {non2xx}, errors {errors}, incomplete streams {incomplete}");
        println!("connections  {connects}, body bytes {bytes}, all requests incl. warm-up {total}");
        println!("             {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}", "mean", "p50", "p90", "p99", "p99.9", "max");
        for (name, p) in [("latency ms", &l), ("ttfb ms", &t)] {
            println!(
                "{name:<12} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                p.mean / 1000.0,
                ms(p.p50),
                ms(p.p90),
                ms(p.p99),
                ms(p.p999),
                ms(p.max)
            );
        }
        if let Some(e) = &first_error {
            println!("first error  {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u32> = (1..=1000).rev().collect();
        let p = percentiles(&mut v);
        assert_eq!((p.p50, p.p90, p.p99, p.p999, p.max), (500, 900, 990, 999, 1000));
        assert!((p.mean - 500.5).abs() < 1e-9);
        let p = percentiles(&mut [7]);
        assert_eq!((p.p50, p.p999), (7, 7));
    }
}

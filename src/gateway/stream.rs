//! Streaming chat completions: the relay forwards upstream SSE events to the
//! client as they arrive (whole events, never the whole stream), watches the
//! gap between chunks, reads the usage chunk for the log (dropping it when
//! the client did not ask for it), and ends a broken stream with an SSE error
//! event and `data: [DONE]`. It writes the request's log row when the stream
//! ends, fails, or the client goes away.
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use hyper::body::Body as _;
use serde::Deserialize;
use tokio::time::Sleep;

use super::error::error_json;
use super::providers::translated::{from_mapped, usage_of};
use super::providers::{StreamMapper, UpstreamError, UpstreamStream, Usage};
use super::request_log::LogCtx;
use super::snapshot::ProviderRt;

enum Phase {
    Streaming,
    /// After `[DONE]`: end after the event that carried it.
    Done,
    Finished,
}

pub(crate) struct Relay {
    upstream: reqwest::Body,
    mapper: StreamMapper,
    buf: BytesMut,
    /// Events read while priming, sent first.
    pending: Option<Bytes>,
    /// Whole events received but not yet handed to hyper (see `poll_chunk`).
    stash: Option<Stash>,
    /// The upstream ended (or failed) while events were stashed.
    ended: Option<Result<(), UpstreamError>>,
    gap: Duration,
    deadline: Pin<Box<Sleep>>,
    client_wants_usage: bool,
    usage: Usage,
    phase: Phase,
    provider: Arc<ProviderRt>,
    upstream_started: Instant,
    log: Option<LogCtx>,
}

impl Relay {
    pub(crate) fn new(
        up: UpstreamStream,
        provider: Arc<ProviderRt>,
        client_wants_usage: bool,
        upstream_started: Instant,
    ) -> Relay {
        let gap = provider.timeout;
        Relay {
            upstream: up.body,
            mapper: up.mapper,
            buf: BytesMut::new(),
            pending: None,
            stash: None,
            ended: None,
            gap,
            deadline: Box::pin(tokio::time::sleep(gap)),
            client_wants_usage,
            usage: Usage::default(),
            phase: Phase::Streaming,
            provider,
            upstream_started,
            log: None,
        }
    }

    /// Reads until the first whole event; an upstream that closes before it
    /// sent one fails the attempt (nothing has reached the client yet, so
    /// the caller may retry).
    pub(crate) async fn prime(&mut self) -> Result<(), UpstreamError> {
        let first = poll_fn(|cx| self.poll_upstream(cx)).await?;
        if let Some(e) = self.vendor_error() {
            // The vendor reported an error (Anthropic `overloaded_error`
            // right after its 200, say) before anything reached the client:
            // the attempt failed as if the error had been the HTTP answer.
            return Err(e);
        }
        match first {
            Some(first) => {
                self.pending = Some(first);
                Ok(())
            }
            None => Err(UpstreamError::Broken(
                "the upstream closed the stream before sending an event".into(),
            )),
        }
    }

    /// Hands over the request's log context; the relay records it at the end.
    pub(crate) fn attach(&mut self, log: LogCtx) {
        self.log = Some(log);
    }

    /// The next batch of whole events from upstream, `Ok(None)` at its end.
    fn poll_upstream(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, UpstreamError>> {
        loop {
            match Pin::new(&mut self.upstream).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    self.deadline
                        .as_mut()
                        .reset(tokio::time::Instant::now() + self.gap);
                    if let Some(out) = self.process(data) {
                        return Poll::Ready(Ok(Some(out)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Err(UpstreamError::from_reqwest(
                        &e,
                        self.gap.as_millis() as u64,
                    )))
                }
                Poll::Ready(None) => return Poll::Ready(Ok(None)),
                Poll::Pending => {
                    return match self.deadline.as_mut().poll(cx) {
                        Poll::Ready(()) => {
                            Poll::Ready(Err(UpstreamError::Timeout(self.gap.as_millis() as u64)))
                        }
                        Poll::Pending => Poll::Pending,
                    }
                }
            }
        }
    }

    /// Appends a chunk; returns the whole events it completed, minus the
    /// usage chunk when the client did not ask for it.
    fn process(&mut self, chunk: Bytes) -> Option<Bytes> {
        let translated = match &mut self.mapper {
            StreamMapper::Passthrough => None,
            StreamMapper::Translated(t) => Some((t.feed(&chunk), t.is_done(), t.usage())),
        };
        if let Some((out, done, usage)) = translated {
            // Translators hand back whole OpenAI events, `[DONE]` included.
            if done {
                self.phase = Phase::Done;
            }
            if usage.is_some() {
                self.usage = usage_of(usage);
            }
            return (!out.is_empty()).then(|| Bytes::from(out));
        }
        let complete = if self.buf.is_empty() && last_boundary(&chunk) == Some(chunk.len()) {
            // The common case: a chunk of whole events, forwarded without a copy.
            chunk
        } else {
            self.buf.extend_from_slice(&chunk);
            let end = last_boundary(&self.buf)?;
            self.buf.split_to(end).freeze()
        };
        // Usage-only chunks the client did not ask for, and where the
        // event that carried `[DONE]` ends: nothing after it is relayed,
        // however the upstream's bytes were split into reads.
        let mut strip: Vec<(usize, usize)> = Vec::new();
        let mut cut = complete.len();
        'events: for (start, end) in events(&complete) {
            let ev = &complete[start..end];
            for data in data_lines(ev) {
                if data == b"[DONE]" {
                    self.phase = Phase::Done;
                    cut = end;
                    break 'events;
                } else if has_usage_object(data) {
                    #[derive(Deserialize)]
                    struct UsageChunk {
                        #[serde(default)]
                        choices: Vec<serde::de::IgnoredAny>,
                        usage: Option<Usage>,
                    }
                    if let Ok(c) = serde_json::from_slice::<UsageChunk>(data) {
                        if let Some(u) = c.usage {
                            self.usage = u;
                        }
                        if c.choices.is_empty()
                            && !self.client_wants_usage
                            && strip.last() != Some(&(start, end))
                        {
                            strip.push((start, end));
                        }
                    }
                }
            }
        }
        let complete = complete.slice(..cut);
        let out = if strip.is_empty() {
            complete
        } else {
            let mut b = BytesMut::with_capacity(complete.len());
            let mut from = 0;
            for (s, e) in strip {
                b.extend_from_slice(&complete[from..s]);
                from = e;
            }
            b.extend_from_slice(&complete[from..]);
            b.freeze()
        };
        (!out.is_empty()).then_some(out)
    }

    /// Writes the log row and tells the circuit breaker how it went.
    fn finish(&mut self, outcome: Result<(), UpstreamError>) {
        let Some(mut log) = self.log.take() else {
            return;
        };
        let now_ms = crate::time::now_ms();
        log.usage = self.usage;
        log.upstream += self.upstream_started.elapsed();
        match outcome {
            Ok(()) => log.finish(200, None),
            Err(e) => {
                let status = if e.is_timeout() { 504 } else { 502 };
                let kind = if e.is_timeout() {
                    "stream_timeout"
                } else {
                    "stream_interrupted"
                };
                let change = self.provider.live.on_failure(
                    Instant::now(),
                    now_ms,
                    &e.to_string(),
                    log.shared.breaker,
                );
                if let Some(ch) = change {
                    log.shared.report_change(&self.provider.name, ch);
                }
                tracing::debug!(request_id = %log.request_id, provider = %self.provider.name, "stream ended early: {e}");
                log.finish(status, Some(kind));
            }
        }
    }

    /// The error the vendor itself sent in a translated stream, if any.
    fn vendor_error(&self) -> Option<UpstreamError> {
        let m = match &self.mapper {
            StreamMapper::Passthrough => None,
            StreamMapper::Translated(t) => t.vendor_error(),
        }?;
        Some(from_mapped(&Default::default(), m, None))
    }

    /// The error a translated stream reported to the client, if any.
    fn translated_error(&self) -> Option<String> {
        let v = match &self.mapper {
            StreamMapper::Passthrough => None,
            StreamMapper::Translated(t) => t.error(),
        }?;
        Some(
            v.pointer("/error/message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string()),
        )
    }

    /// The next bytes for the client.
    ///
    /// hyper's HTTP/1 client hands a response body over one chunk per
    /// scheduler turn (a one-slot channel filled by the connection task), and
    /// hyper's server flushes (one `writev`) whenever the body is `Pending`.
    /// Forwarding each chunk as it comes therefore costs one syscall per SSE
    /// event even when the upstream sent twenty events in one TCP segment.
    /// So once an event is in hand, the relay yields (wakes itself and returns
    /// `Pending`, so the woken connection task runs first and queues its next
    /// chunk) and keeps gathering while more comes; it hands the gathered
    /// events over as one frame when `COALESCE_TURNS` turns bring nothing, when
    /// they reach `COALESCE_MAX`, or when the stream ends (the `[DONE]` event
    /// hands over at once). An upstream that trickles tokens costs two extra
    /// polls per event, no added wait.
    pub(crate) fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(p) = self.pending.take() {
            return Poll::Ready(Some(p));
        }
        match self.phase {
            Phase::Finished => return Poll::Ready(None),
            Phase::Done => {
                self.phase = Phase::Finished;
                let outcome = match self.translated_error() {
                    Some(msg) => Err(UpstreamError::Broken(msg)),
                    None => Ok(()),
                };
                self.finish(outcome);
                return Poll::Ready(None);
            }
            Phase::Streaming => {}
        }
        if let Some(end) = self.ended.take() {
            return self.end(end);
        }
        loop {
            match self.poll_upstream(cx) {
                Poll::Ready(Ok(Some(b))) => {
                    let len = match &mut self.stash {
                        None => {
                            let len = b.len();
                            self.stash = Some(Stash::new(b));
                            len
                        }
                        Some(s) => s.push(&b),
                    };
                    if len >= COALESCE_MAX || !matches!(self.phase, Phase::Streaming) {
                        return Poll::Ready(self.stash.take().map(Stash::into_bytes));
                    }
                }
                Poll::Pending => {
                    let Some(s) = &mut self.stash else {
                        return Poll::Pending;
                    };
                    if s.idle < COALESCE_TURNS {
                        // Something arrived lately: give the connection task
                        // another turn to hand over the rest.
                        s.idle += 1;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    return Poll::Ready(self.stash.take().map(Stash::into_bytes));
                }
                Poll::Ready(Ok(None)) => return self.end_or_flush(Ok(())),
                Poll::Ready(Err(e)) => return self.end_or_flush(Err(e)),
            }
        }
    }

    /// Sends what is stashed first, then ends on the next poll.
    fn end_or_flush(&mut self, end: Result<(), UpstreamError>) -> Poll<Option<Bytes>> {
        match self.stash.take() {
            Some(s) => {
                self.ended = Some(end);
                Poll::Ready(Some(s.into_bytes()))
            }
            None => self.end(end),
        }
    }

    /// The upstream body ended (`Ok`) or failed.
    fn end(&mut self, end: Result<(), UpstreamError>) -> Poll<Option<Bytes>> {
        self.phase = Phase::Finished;
        if let Err(e) = end {
            let tail = error_tail(&e);
            self.finish(Err(e));
            return Poll::Ready(Some(tail));
        }
        let tail = match &mut self.mapper {
            StreamMapper::Passthrough => None,
            StreamMapper::Translated(t) => Some((t.finish(), t.usage())),
        };
        if let Some((tail, usage)) = tail {
            // A translator ends every stream itself (an error event
            // if it was cut short, then `[DONE]`).
            if usage.is_some() {
                self.usage = usage_of(usage);
            }
            let outcome = match self.translated_error() {
                Some(msg) => Err(UpstreamError::Broken(msg)),
                None => Ok(()),
            };
            self.finish(outcome);
            return Poll::Ready((!tail.is_empty()).then(|| Bytes::from(tail)));
        }
        // Ended without `[DONE]`: the client must learn it is cut short.
        let e = UpstreamError::Broken("the upstream closed the stream before `[DONE]`".into());
        let tail = error_tail(&e);
        self.finish(Err(e));
        Poll::Ready(Some(tail))
    }
}

/// Gathered events hand over as one frame at this size.
const COALESCE_MAX: usize = 32 * 1024;

/// Scheduler turns the relay waits for more before it hands over what it
/// has. One turn merges nothing, since hyper's connection task needs two to
/// hand over its next chunk; two merge a whole answer that arrived in one
/// TCP segment into one `writev`.
const COALESCE_TURNS: u8 = 2;

/// Events gathered for one write: the first chunk is kept as is (no copy when
/// nothing else comes), later ones are appended.
struct Stash {
    first: Bytes,
    more: Option<BytesMut>,
    /// Turns yielded since something was last added.
    idle: u8,
}

impl Stash {
    fn new(first: Bytes) -> Stash {
        Stash {
            first,
            more: None,
            idle: 0,
        }
    }

    /// Appends a chunk; returns the stash's length.
    fn push(&mut self, b: &[u8]) -> usize {
        self.idle = 0;
        let first = &self.first;
        let more = self.more.get_or_insert_with(|| {
            let mut m = BytesMut::with_capacity((first.len() + b.len()) * 4);
            m.extend_from_slice(first);
            m
        });
        more.extend_from_slice(b);
        more.len()
    }

    fn into_bytes(self) -> Bytes {
        match self.more {
            Some(m) => m.freeze(),
            None => self.first,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // The client went away mid-stream: not the provider's fault.
        if let Some(mut log) = self.log.take() {
            log.usage = self.usage;
            log.upstream += self.upstream_started.elapsed();
            log.finish(499, Some("client_closed"));
        }
    }
}

/// `data: {"error":…}` then `data: [DONE]`.
fn error_tail(e: &UpstreamError) -> Bytes {
    let code = if e.is_timeout() {
        "stream_timeout"
    } else {
        "stream_interrupted"
    };
    let body = error_json(
        &format!("the upstream stream failed mid-way: {e}"),
        "upstream_error",
        Some(code),
        None,
    );
    let mut b = BytesMut::with_capacity(body.len() + 32);
    b.extend_from_slice(b"data: ");
    b.extend_from_slice(&body);
    b.extend_from_slice(b"\n\ndata: [DONE]\n\n");
    b.freeze()
}

/// The index just past the last blank line (`\n\n` or `\n\r\n`).
fn last_boundary(b: &[u8]) -> Option<usize> {
    let mut i = b.len();
    while i >= 2 {
        if b[i - 1] == b'\n'
            && (b[i - 2] == b'\n' || (i >= 3 && b[i - 2] == b'\r' && b[i - 3] == b'\n'))
        {
            return Some(i);
        }
        i -= 1;
    }
    None
}

/// `(start, end)` of each event in a buffer of whole events (end includes
/// the blank line).
fn events(b: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        let mut i = start;
        while i < b.len() {
            if b[i] == b'\n' {
                let end = if b.get(i + 1) == Some(&b'\n') {
                    Some(i + 2)
                } else if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') {
                    Some(i + 3)
                } else {
                    None
                };
                if let Some(end) = end {
                    let ev = (start, end);
                    start = end;
                    return Some(ev);
                }
            }
            i += 1;
        }
        None
    })
}

/// The payloads of an event's `data:` lines.
fn data_lines(ev: &[u8]) -> impl Iterator<Item = &[u8]> {
    ev.split(|c| *c == b'\n').filter_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let rest = line.strip_prefix(b"data:")?;
        Some(rest.strip_prefix(b" ").unwrap_or(rest))
    })
}

/// Does this JSON text have `"usage": {` (not `"usage": null`)?
fn has_usage_object(data: &[u8]) -> bool {
    const KEY: &[u8] = b"\"usage\"";
    let mut from = 0;
    while let Some(p) = data[from..].windows(KEY.len()).position(|w| w == KEY) {
        let mut i = from + p + KEY.len();
        while i < data.len() && (data[i] == b' ' || data[i] == b':') {
            i += 1;
        }
        if data.get(i) == Some(&b'{') {
            return true;
        }
        from = from + p + KEY.len();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_and_events() {
        assert_eq!(last_boundary(b"data: a\n\ndata: b"), Some(9));
        assert_eq!(last_boundary(b"data: a\r\n\r\n"), Some(11));
        assert_eq!(last_boundary(b"data: a\n"), None);
        let b = b"data: a\n\ndata: b\r\n\r\n";
        let evs: Vec<_> = events(b).collect();
        assert_eq!(evs, vec![(0, 9), (9, 20)]);
        let d: Vec<_> = data_lines(&b[9..20]).collect();
        assert_eq!(d, vec![&b"b"[..]]);
    }

    #[test]
    fn usage_detection() {
        assert!(has_usage_object(
            br#"{"choices":[],"usage":{"prompt_tokens":1}}"#
        ));
        assert!(has_usage_object(br#"{"usage": {"prompt_tokens":1}}"#));
        assert!(!has_usage_object(
            br#"{"choices":[{"delta":{}}],"usage":null}"#
        ));
    }

    #[test]
    fn fixture_events_split_cleanly() {
        let sse = include_bytes!("../../tests/fixtures/openai/chat_completion_stream.sse");
        let n = events(sse).count();
        let datas = sse.windows(6).filter(|w| w == b"data: ").count();
        assert_eq!(n, datas);
    }

    /// An upstream body that, like hyper's client connection, hands over
    /// one frame per scheduler turn: `Pending` (after waking itself) between
    /// frames; `stall` = after the first frame it never wakes again.
    struct TurnBody {
        frames: std::collections::VecDeque<Bytes>,
        ready: bool,
        stall: bool,
    }

    impl hyper::body::Body for TurnBody {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
            if !self.ready {
                self.ready = true;
                if !self.stall {
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
            if self.stall && self.frames.len() < 20 {
                return Poll::Pending;
            }
            self.ready = false;
            Poll::Ready(
                self.frames
                    .pop_front()
                    .map(|b| Ok(hyper::body::Frame::data(b))),
            )
        }
    }

    fn relay(stall: bool) -> (Relay, Vec<Bytes>) {
        let mut events: Vec<Bytes> = (0..19)
            .map(|i| {
                Bytes::from(format!(
                    "data: {{\"choices\":[{{\"delta\":{{\"content\":\"w{i}\"}}}}]}}\n\n"
                ))
            })
            .collect();
        events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        let body = TurnBody {
            frames: events.iter().cloned().collect(),
            ready: true,
            stall,
        };
        let provider = Arc::new(ProviderRt {
            name: Arc::from("p"),
            kind: crate::catalog::ProviderKind::OpenAiCompatible,
            enabled: true,
            max_retries: 0,
            timeout: Duration::from_secs(60),
            adapter: None,
            unusable: None,
            live: Arc::default(),
        });
        let up = UpstreamStream {
            body: reqwest::Body::wrap(body),
            mapper: StreamMapper::Passthrough,
        };
        (Relay::new(up, provider, false, Instant::now()), events)
    }

    #[tokio::test]
    async fn events_handed_over_one_per_turn_leave_as_one_write() {
        let (mut r, events) = relay(false);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut out = Vec::new();
        for _ in 0..1000 {
            match r.poll_chunk(&mut cx) {
                Poll::Ready(Some(b)) => out.push(b),
                Poll::Ready(None) => break,
                Poll::Pending => {}
            }
        }
        assert_eq!(out.concat(), events.concat(), "every byte, in order");
        assert_eq!(
            out.len(),
            1,
            "20 events in one frame, not one frame per event"
        );
    }

    #[tokio::test]
    async fn an_event_is_not_held_back_waiting_for_the_next() {
        let (mut r, events) = relay(true);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut polls = 0;
        let first = loop {
            polls += 1;
            assert!(
                polls <= 1 + usize::from(COALESCE_TURNS) + 1,
                "the first event was held back"
            );
            if let Poll::Ready(Some(b)) = r.poll_chunk(&mut cx) {
                break b;
            }
        };
        assert_eq!(first, events[0]);
        // Nothing else arrives: the relay waits without spinning.
        assert!(r.poll_chunk(&mut cx).is_pending());
        assert!(r.poll_chunk(&mut cx).is_pending());
    }
}

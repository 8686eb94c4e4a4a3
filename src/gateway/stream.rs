//! Streaming chat completions: the relay forwards upstream SSE events to the
//! client as they arrive (whole events, never the whole stream), reads the
//! usage chunk for the log (dropping it when the client did not ask for it),
//! and ends a broken stream with an SSE error event and `data: [DONE]`. It
//! writes the request's log row when the stream ends, fails, or the client
//! goes away.
//!
//! Bounds: each upstream byte is looked at once to find event boundaries; a
//! single event over [`MAX_EVENT`] ends the stream (`stream_event_too_large`);
//! the provider's timeout bounds the wait for the next complete *event* (an
//! upstream that sends bytes but never ends an event times out); at the
//! server's shutdown deadline the stream ends with a `shutdown` error event.
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
use super::ingress::{Egress, NativeState};
use super::providers::translated::{from_mapped, usage_of};
use super::providers::{StreamMapper, UpstreamError, UpstreamStream, Usage};
use super::request_log::LogCtx;
use super::snapshot::ProviderRt;
use crate::translate::EVENT_TOO_LARGE;
pub(crate) use crate::translate::MAX_EVENT;

enum Phase {
    Streaming,
    /// After `[DONE]`: end after the event that carried it.
    Done,
    Finished,
}

/// Why a stream ended before its upstream finished it.
#[derive(Debug)]
pub(crate) enum Cut {
    /// The upstream failed: an error, a timeout, an early close.
    Upstream(UpstreamError),
    /// The upstream sent an event over [`MAX_EVENT`].
    TooLarge,
    /// The server's shutdown deadline came first.
    Shutdown,
}

impl Cut {
    fn status(&self) -> u16 {
        match self {
            Cut::Upstream(e) if e.is_timeout() => 504,
            Cut::Upstream(_) | Cut::TooLarge => 502,
            Cut::Shutdown => 503,
        }
    }

    /// The log row's error type, and the error event's `code`.
    fn kind(&self) -> &'static str {
        match self {
            Cut::Upstream(e) if e.is_timeout() => "stream_timeout",
            Cut::Upstream(_) => "stream_interrupted",
            Cut::TooLarge => EVENT_TOO_LARGE,
            Cut::Shutdown => "shutdown",
        }
    }

    fn message(&self) -> String {
        match self {
            Cut::Upstream(e) => format!("the upstream stream failed mid-way: {e}"),
            Cut::TooLarge => too_large_message(),
            Cut::Shutdown => {
                "the server is shutting down and cut the stream; retry the request".into()
            }
        }
    }

    /// The failure of an attempt, before anything reached the client.
    fn into_upstream(self) -> UpstreamError {
        match self {
            Cut::Upstream(e) => e,
            c => UpstreamError::Broken(c.message()),
        }
    }
}

fn too_large_message() -> String {
    format!(
        "the upstream sent a stream event larger than {} KiB; the stream was cut",
        MAX_EVENT >> 10
    )
}

/// Resolves when the server's shutdown deadline has come.
type CutSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

pub(crate) struct Relay {
    upstream: reqwest::Body,
    mapper: StreamMapper,
    /// The start of an event whose end has not arrived (no blank line in it).
    buf: BytesMut,
    /// Bytes looked at by the boundary search (linear in the bytes received).
    scanned: u64,
    /// A failure found while reading, reported after the events before it.
    failed: Option<Cut>,
    /// Events read while priming, sent first.
    pending: Option<Bytes>,
    /// Whole events received but not yet handed to hyper (see `poll_chunk`).
    stash: Option<Stash>,
    /// The upstream ended (or failed) while events were stashed.
    ended: Option<Result<(), Cut>>,
    gap: Duration,
    /// When the next complete event must have arrived by.
    deadline: Pin<Box<Sleep>>,
    shutdown: Option<CutSignal>,
    client_wants_usage: bool,
    usage: Usage,
    phase: Phase,
    provider: Arc<ProviderRt>,
    upstream_started: Instant,
    log: Option<LogCtx>,
    /// A native passthrough's dialect state (usage, end marker, error).
    native: Option<Box<NativeState>>,
    /// Rewrites the relay's OpenAI output for a translated ingress dialect.
    egress: Option<Box<Egress>>,
}

impl Relay {
    pub(crate) fn new(
        up: UpstreamStream,
        provider: Arc<ProviderRt>,
        client_wants_usage: bool,
        upstream_started: Instant,
    ) -> Relay {
        let gap = provider.timeout;
        let native = match &up.mapper {
            StreamMapper::Native(d) => Some(Box::new(NativeState::new(*d))),
            _ => None,
        };
        Relay {
            native,
            egress: None,
            upstream: up.body,
            mapper: up.mapper,
            buf: BytesMut::new(),
            scanned: 0,
            failed: None,
            pending: None,
            stash: None,
            ended: None,
            gap,
            deadline: Box::pin(tokio::time::sleep(gap)),
            shutdown: None,
            client_wants_usage,
            usage: Usage::default(),
            phase: Phase::Streaming,
            provider,
            upstream_started,
            log: None,
        }
    }

    /// Reads until the first whole event; an upstream that closes, times out
    /// or overflows before it sent one fails the attempt (nothing has
    /// reached the client yet, so the caller may retry or fail over).
    pub(crate) async fn prime(&mut self) -> Result<(), UpstreamError> {
        let first = poll_fn(|cx| self.poll_upstream(cx))
            .await
            .map_err(Cut::into_upstream)?;
        if let Some(e) = self.native.as_ref().and_then(|n| n.vendor_error()) {
            // A native stream that opens with an error event (Anthropic's
            // `overloaded_error`): the attempt failed, as for chat.
            return Err(e);
        }
        if let Some(e) = self.vendor_error() {
            // The vendor reported an error (Anthropic `overloaded_error`
            // right after its 200, say) before anything reached the client:
            // the attempt failed as if the error had been the HTTP answer.
            return Err(e);
        }
        if let Some((code, msg)) = self.translated_error() {
            if code.as_deref() == Some(EVENT_TOO_LARGE) {
                return Err(UpstreamError::Broken(msg));
            }
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

    /// Sets the egress stage: everything the relay sends (its error tail
    /// included) is rewritten by it, burst by burst.
    pub(crate) fn set_egress(&mut self, e: Egress) {
        self.egress = Some(Box::new(e));
    }

    /// Hands over the request's log context; the relay records it at the
    /// end. From here on the server's shutdown deadline cuts the stream.
    pub(crate) fn attach(&mut self, log: LogCtx) {
        let mut rx = log.shared.cut.subscribe();
        self.shutdown = Some(Box::pin(async move {
            let _ = rx.wait_for(|cut| *cut).await;
        }));
        self.log = Some(log);
    }

    /// The next batch of whole events from upstream, `Ok(None)` at its end.
    fn poll_upstream(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, Cut>> {
        if let Some(c) = self.failed.take() {
            return Poll::Ready(Err(c));
        }
        loop {
            match Pin::new(&mut self.upstream).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    let (out, progressed) = self.process(data);
                    if progressed {
                        self.deadline
                            .as_mut()
                            .reset(tokio::time::Instant::now() + self.gap);
                    }
                    if let Some(out) = out {
                        return Poll::Ready(Ok(Some(out)));
                    }
                    if let Some(c) = self.failed.take() {
                        return Poll::Ready(Err(c));
                    }
                    // Bytes, but no event: the clock keeps running. Checked
                    // here too, as a fast upstream never lets this loop
                    // reach `Pending` (where the timer is polled).
                    if tokio::time::Instant::now() >= self.deadline.deadline() {
                        return Poll::Ready(Err(self.timeout()));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Err(Cut::Upstream(UpstreamError::from_reqwest(
                        &e,
                        self.gap.as_millis() as u64,
                    ))))
                }
                Poll::Ready(None) => return Poll::Ready(Ok(None)),
                Poll::Pending => {
                    return match self.deadline.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Err(self.timeout())),
                        Poll::Pending => Poll::Pending,
                    }
                }
            }
        }
    }

    fn timeout(&self) -> Cut {
        Cut::Upstream(UpstreamError::Timeout(self.gap.as_millis() as u64))
    }

    /// Appends a chunk; returns the whole events it completed (minus the
    /// usage chunk when the client did not ask for it), and whether it
    /// completed any event at all. An event over [`MAX_EVENT`] sets
    /// `failed`; the events before it are still returned.
    fn process(&mut self, chunk: Bytes) -> (Option<Bytes>, bool) {
        if let StreamMapper::Translated(t) = &mut self.mapper {
            let seen = t.events_seen();
            let out = t.feed(&chunk);
            // Translators hand back whole OpenAI events, `[DONE]` included.
            if t.is_done() {
                self.phase = Phase::Done;
            }
            if let Some(u) = t.usage() {
                self.usage = usage_of(Some(u));
            }
            let progressed = t.events_seen() != seen;
            return ((!out.is_empty()).then(|| Bytes::from(out)), progressed);
        }
        let complete = self.frame(chunk);
        if self.buf.len() > MAX_EVENT {
            self.buf = BytesMut::new();
            self.failed = Some(Cut::TooLarge);
        }
        let Some(mut complete) = complete else {
            return (None, false);
        };
        // Edits to the relayed bytes: usage-only chunks the client did not
        // ask for are dropped, upstream error events rewritten without the
        // provider's key or URLs; and where the event that carried `[DONE]`
        // ends: nothing after it is relayed, however the upstream's bytes
        // were split into reads.
        let mut edits: Vec<(usize, usize, Option<Vec<u8>>)> = Vec::new();
        let mut cut = complete.len();
        let mut too_large: Option<usize> = None;
        for (start, end) in events(&complete) {
            if end - start > MAX_EVENT {
                too_large = Some(start);
                break;
            }
            let ev = &complete[start..end];
            if let Some(n) = &mut self.native {
                // Usage, the end marker and error events of the dialect.
                if n.read(ev) {
                    self.phase = Phase::Done;
                }
                self.usage = n.usage();
                if let Some(clean) = self.scrubbed_error(ev) {
                    edits.push((start, end, Some(clean)));
                }
            } else {
                if let Some(clean) = self.scrubbed_error(ev) {
                    edits.push((start, end, Some(clean)));
                    continue;
                }
                self.read_event(ev, &mut || {
                    if edits.last().map(|e| (e.0, e.1)) != Some((start, end)) {
                        edits.push((start, end, None));
                    }
                });
            }
            if matches!(self.phase, Phase::Done) {
                cut = end;
                break;
            }
        }
        if let Some(start) = too_large {
            cut = cut.min(start);
            self.failed = Some(Cut::TooLarge);
        }
        complete.truncate(cut);
        let out = if edits.is_empty() {
            complete
        } else {
            let mut b = BytesMut::with_capacity(complete.len());
            let mut from = 0;
            for (s, e, with) in edits {
                b.extend_from_slice(&complete[from..s]);
                if let Some(w) = with {
                    b.extend_from_slice(&w);
                }
                from = e;
            }
            b.extend_from_slice(&complete[from..]);
            b.freeze()
        };
        ((!out.is_empty()).then_some(out), true)
    }

    /// A passthrough event carrying an upstream error (`data: {"error": ...}`
    /// or `event: error`), rewritten without the provider's key, key-like
    /// tokens or URLs, when the scrubber changed anything. Only error events
    /// are looked at, by their first bytes, so the common event costs a few
    /// byte compares.
    fn scrubbed_error(&self, ev: &[u8]) -> Option<Vec<u8>> {
        let is_error = ev.starts_with(b"event: error")
            || ev.starts_with(b"event:error")
            || data_lines(ev).any(|d| {
                let d = d.trim_ascii_start();
                d.starts_with(b"{") && d[1..].trim_ascii_start().starts_with(b"\"error\"")
            });
        if !is_error {
            return None;
        }
        let text = String::from_utf8_lossy(ev);
        let hide = self
            .provider
            .adapter
            .as_ref()
            .map_or(["", ""], |a| a.hidden());
        match crate::secret::scrub(&text, &hide) {
            std::borrow::Cow::Owned(clean) => Some(clean.into_bytes()),
            std::borrow::Cow::Borrowed(_) => None,
        }
    }

    /// Notes `[DONE]` and the usage of one passthrough event; calls `strip`
    /// when the event is the usage chunk the client did not ask for.
    fn read_event(&mut self, ev: &[u8], strip: &mut dyn FnMut()) {
        for data in data_lines(ev) {
            if data == b"[DONE]" {
                self.phase = Phase::Done;
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
                    if c.choices.is_empty() && !self.client_wants_usage {
                        strip();
                    }
                }
            }
        }
    }

    /// Adds a chunk to the unfinished event; returns the whole events now
    /// complete. Only the new bytes are searched for a boundary (the bytes
    /// already held had none), so a stream costs work linear in its size
    /// however it is cut into chunks.
    fn frame(&mut self, chunk: Bytes) -> Option<Bytes> {
        if self.buf.is_empty() {
            // The common case: a chunk of whole events, forwarded without a copy.
            let end = last_boundary(&chunk, 0, &mut self.scanned);
            return match end {
                Some(e) if e == chunk.len() => Some(chunk),
                Some(e) => {
                    self.buf.extend_from_slice(&chunk[e..]);
                    Some(chunk.slice(..e))
                }
                None => {
                    self.buf.extend_from_slice(&chunk);
                    None
                }
            };
        }
        let from = self.buf.len();
        self.buf.extend_from_slice(&chunk);
        let end = last_boundary(&self.buf, from, &mut self.scanned)?;
        Some(self.buf.split_to(end).freeze())
    }

    /// Writes the log row and tells the circuit breaker how it went.
    fn finish(&mut self, outcome: Result<(), Cut>) {
        let Some(mut log) = self.log.take() else {
            return;
        };
        let now_ms = crate::time::now_ms();
        log.usage = self.usage;
        log.upstream += self.upstream_started.elapsed();
        match outcome {
            Ok(()) => log.finish(200, None),
            Err(cut) => {
                if !matches!(cut, Cut::Shutdown) {
                    // The provider's fault: it counts against its circuit.
                    let change = self.provider.live.on_failure(
                        Instant::now(),
                        now_ms,
                        &cut.message(),
                        log.shared.breaker,
                    );
                    if let Some(ch) = change {
                        log.shared.report_change(&self.provider.name, ch);
                    }
                }
                if matches!(cut, Cut::TooLarge) {
                    tracing::warn!(request_id = %log.request_id, provider = %self.provider.name, "{}", cut.message());
                } else {
                    tracing::debug!(request_id = %log.request_id, provider = %self.provider.name, "stream ended early: {}", cut.message());
                }
                log.finish(cut.status(), Some(cut.kind()));
            }
        }
    }

    /// The error the vendor itself sent in a translated stream, if any.
    fn vendor_error(&self) -> Option<UpstreamError> {
        let m = match &self.mapper {
            StreamMapper::Passthrough | StreamMapper::Native(_) => None,
            StreamMapper::Translated(t) => t.vendor_error(),
        }?;
        Some(from_mapped(&Default::default(), m, None))
    }

    /// The error a translated stream reported to the client, if any: its
    /// `code` and message.
    fn translated_error(&self) -> Option<(Option<String>, String)> {
        let v = match &self.mapper {
            StreamMapper::Passthrough | StreamMapper::Native(_) => None,
            StreamMapper::Translated(t) => t.error(),
        }?;
        let code = v
            .pointer("/error/code")
            .and_then(|c| c.as_str())
            .map(str::to_string);
        let msg = v
            .pointer("/error/message")
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        Some((code, msg))
    }

    /// How a translated (or native) stream that ended by itself went.
    fn translated_outcome(&self) -> Result<(), Cut> {
        if let Some(msg) = self.native.as_ref().and_then(|n| n.error()) {
            return Err(Cut::Upstream(UpstreamError::Broken(msg)));
        }
        match self.translated_error() {
            None => Ok(()),
            Some((code, _)) if code.as_deref() == Some(EVENT_TOO_LARGE) => Err(Cut::TooLarge),
            Some((_, msg)) => Err(Cut::Upstream(UpstreamError::Broken(msg))),
        }
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
        if self.egress.is_none() {
            return self.poll_relay(cx);
        }
        loop {
            let next = match self.poll_relay(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(n) => n,
            };
            let Some(e) = &mut self.egress else {
                return Poll::Ready(next);
            };
            let out = match next {
                Some(b) => e.feed(&b),
                None => {
                    // The relay is done: the egress closes its own stream.
                    let tail = e.finish();
                    self.egress = None;
                    return Poll::Ready((!tail.is_empty()).then(|| Bytes::from(tail)));
                }
            };
            if !out.is_empty() {
                return Poll::Ready(Some(Bytes::from(out)));
            }
        }
    }

    /// The relay's own output (OpenAI SSE, or a native dialect's).
    fn poll_relay(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(p) = self.pending.take() {
            return Poll::Ready(Some(p));
        }
        match self.phase {
            Phase::Finished => return Poll::Ready(None),
            Phase::Done => {
                self.phase = Phase::Finished;
                let outcome = self.translated_outcome();
                self.finish(outcome);
                return Poll::Ready(None);
            }
            Phase::Streaming => {}
        }
        if let Some(end) = self.ended.take() {
            return self.end(end);
        }
        if let Some(s) = &mut self.shutdown {
            if s.as_mut().poll(cx).is_ready() {
                return self.end_or_flush(Err(Cut::Shutdown));
            }
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
    fn end_or_flush(&mut self, end: Result<(), Cut>) -> Poll<Option<Bytes>> {
        match self.stash.take() {
            Some(s) => {
                self.ended = Some(end);
                Poll::Ready(Some(s.into_bytes()))
            }
            None => self.end(end),
        }
    }

    /// The upstream body ended (`Ok`) or failed, or the stream was cut.
    fn end(&mut self, end: Result<(), Cut>) -> Poll<Option<Bytes>> {
        self.phase = Phase::Finished;
        if let Err(cut) = end {
            let tail = self.error_tail(&cut);
            self.finish(Err(cut));
            return Poll::Ready(Some(tail));
        }
        let tail = match &mut self.mapper {
            StreamMapper::Passthrough | StreamMapper::Native(_) => None,
            StreamMapper::Translated(t) => Some((t.finish(), t.usage())),
        };
        if let Some((tail, usage)) = tail {
            // A translator ends every stream itself (an error event
            // if it was cut short, then `[DONE]`).
            if usage.is_some() {
                self.usage = usage_of(usage);
            }
            let outcome = self.translated_outcome();
            self.finish(outcome);
            return Poll::Ready((!tail.is_empty()).then(|| Bytes::from(tail)));
        }
        // Ended without `[DONE]`: the client must learn it is cut short.
        let marker = self.native.as_ref().map_or("[DONE]", |n| n.end_marker());
        let cut = Cut::Upstream(UpstreamError::Broken(format!(
            "the upstream closed the stream before `{marker}`"
        )));
        let tail = self.error_tail(&cut);
        self.finish(Err(cut));
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
        // The client went away mid-stream: not the provider's fault (the
        // row says `shutdown` when the server cut it, see `LogCtx`'s drop).
        if let Some(mut log) = self.log.take() {
            log.usage = self.usage;
            log.upstream += self.upstream_started.elapsed();
            log.finish_abandoned();
        }
    }
}

impl Relay {
    /// The end of a stream cut short, in its dialect: OpenAI's (also for a
    /// translated ingress, whose egress rewrites it), or a native dialect's
    /// error event (never `[DONE]` there).
    fn error_tail(&self, cut: &Cut) -> Bytes {
        match &self.native {
            Some(n) => Bytes::from(n.error_event(cut.status(), cut.kind(), &cut.message())),
            None => error_tail(cut),
        }
    }
}

/// `data: {"error":…}` then `data: [DONE]`: the end of a stream cut short,
/// in the OpenAI stream's own shape (what the SDKs raise on).
fn error_tail(cut: &Cut) -> Bytes {
    let kind = match cut {
        Cut::Shutdown => "server_error",
        _ => "upstream_error",
    };
    let body = error_json(&cut.message(), kind, Some(cut.kind()), None);
    let mut b = BytesMut::with_capacity(body.len() + 32);
    b.extend_from_slice(b"data: ");
    b.extend_from_slice(&body);
    b.extend_from_slice(b"\n\ndata: [DONE]\n\n");
    b.freeze()
}

/// The index just past the last blank line (`\n\n` or `\n\r\n`) that ends
/// after `from`: the bytes before `from` were searched already. Counts the
/// positions it looks at in `scanned`.
fn last_boundary(b: &[u8], from: usize, scanned: &mut u64) -> Option<usize> {
    let mut i = b.len();
    while i > from.max(1) {
        *scanned += 1;
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
        let lb = |b: &[u8]| last_boundary(b, 0, &mut 0);
        assert_eq!(lb(b"data: a\n\ndata: b"), Some(9));
        assert_eq!(lb(b"data: a\r\n\r\n"), Some(11));
        assert_eq!(lb(b"data: a\n"), None);
        // Only boundaries ending after `from` are looked for.
        assert_eq!(last_boundary(b"a\n\nb\n", 4, &mut 0), None);
        assert_eq!(last_boundary(b"a\n\nb\n\n", 4, &mut 0), Some(6));
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
            key: crate::gateway::snapshot::KeyState::None,
            live: Arc::default(),
        });
        let up = UpstreamStream {
            body: reqwest::Body::wrap(body),
            mapper: StreamMapper::Passthrough,
        };
        (Relay::new(up, provider, false, Instant::now()), events)
    }

    #[tokio::test]
    async fn an_unframed_stream_costs_linear_work_and_ends_at_the_event_cap() {
        let (mut r, _) = relay(false);
        let chunk = Bytes::from(vec![b'x'; 512]);
        let n = 1024; // 512 KiB without a boundary, in 1024 reads
        r.process(Bytes::from_static(b"data: "));
        for _ in 0..n {
            let (out, progressed) = r.process(chunk.clone());
            assert!(out.is_none() && !progressed);
        }
        // Rescanning the buffer on every read would cost n²/2 × 512 ≈ 268 M.
        let total = (n * 512 + 6) as u64;
        assert!(
            r.scanned <= total,
            "{} positions for {total} bytes",
            r.scanned
        );
        let (out, progressed) = r.process(Bytes::from_static(b"\n\ndata: y"));
        assert!(progressed);
        assert_eq!(out.unwrap().len(), n * 512 + 8, "the event leaves whole");
        assert!(r.failed.is_none());
        // An unfinished event past the cap ends the stream.
        for _ in 0..=MAX_EVENT / 512 {
            r.process(chunk.clone());
            if r.failed.is_some() {
                break;
            }
        }
        assert!(matches!(r.failed, Some(Cut::TooLarge)), "{:?}", r.failed);
        assert!(r.buf.is_empty(), "the oversized event is not kept");
    }

    #[tokio::test]
    async fn a_whole_oversized_event_is_cut_after_the_events_before_it() {
        let (mut r, _) = relay(false);
        let mut chunk = b"data: {}\n\ndata: ".to_vec();
        chunk.extend(std::iter::repeat_n(b'x', MAX_EVENT));
        chunk.extend_from_slice(b"\n\n");
        let (out, _) = r.process(Bytes::from(chunk));
        assert_eq!(out.unwrap(), &b"data: {}\n\n"[..]);
        assert!(matches!(r.failed, Some(Cut::TooLarge)));
        let tail = error_tail(&Cut::TooLarge);
        let text = String::from_utf8_lossy(&tail);
        assert!(
            text.contains("\"code\":\"stream_event_too_large\""),
            "{text}"
        );
        assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
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

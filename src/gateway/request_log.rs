//! The request log's row in the making: [`LogCtx`] gathers what one
//! request's row needs on its way through the gateway (key, model, provider,
//! attempts, timings, usage) and records it exactly once, into the metrics,
//! the debug log and the recorder's queue.
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::providers::Usage;
use super::recorder::LogRow;
use super::Shared;

/// Longest path kept in a log row (bytes); longer ones are cut.
const MAX_LOGGED_PATH: usize = 256;

/// Everything the request's log row needs, gathered on the way. Recorded
/// exactly once: by `finish`, or on drop (see [`LogCtx::finish_abandoned`]).
pub(crate) struct LogCtx {
    pub shared: Arc<Shared>,
    pub started: Instant,
    pub ts_ms: i64,
    pub request_id: String,
    pub key_name: Option<Arc<str>>,
    pub model: Option<Arc<str>>,
    pub provider: Option<Arc<str>>,
    pub upstream_model: Option<Arc<str>>,
    pub attempts: u32,
    pub stream: bool,
    pub ttfb: Option<Duration>,
    /// Time spent waiting on upstreams (all attempts).
    pub upstream: Duration,
    /// Time spent in backoff sleeps.
    pub waited: Duration,
    pub usage: Usage,
    /// The client's method and path (without the query, at most
    /// [`MAX_LOGGED_PATH`] bytes) and which API that is.
    pub method: Option<Box<str>>,
    pub path: Option<Box<str>>,
    pub api: Option<&'static str>,
    /// A client key was presented and is unknown: logged as `invalid_key`
    /// with its shown prefix (llmo's key format only), never the key.
    pub invalid_key: Option<Option<Box<str>>>,
    /// The request's tracing span (disabled unless debug logging is on).
    span: tracing::Span,
    done: bool,
}

impl LogCtx {
    pub(crate) fn new(shared: Arc<Shared>, request_id: String) -> Self {
        LogCtx {
            shared,
            started: Instant::now(),
            ts_ms: crate::time::now_ms(),
            request_id,
            key_name: None,
            model: None,
            provider: None,
            upstream_model: None,
            attempts: 0,
            stream: false,
            ttfb: None,
            upstream: Duration::ZERO,
            waited: Duration::ZERO,
            usage: Usage::default(),
            method: None,
            path: None,
            api: None,
            invalid_key: None,
            span: tracing::Span::current(),
            done: false,
        }
    }

    /// Moves the context out, to the stream relay that records it when the
    /// stream ends; `self` is left done and records nothing.
    pub(crate) fn hand_over(&mut self) -> LogCtx {
        let mut moved = LogCtx::new(self.shared.clone(), String::new());
        std::mem::swap(&mut moved, self);
        self.done = true;
        moved
    }

    /// Notes the request's method, path and API (from the router).
    pub(crate) fn route(&mut self, method: &hyper::Method, path: &str, api: &'static str) {
        let mut end = path.len().min(MAX_LOGGED_PATH);
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        self.method = Some(method.as_str().into());
        self.path = Some(path[..end].into());
        self.api = Some(api);
    }

    /// Notes an unknown client key: its shown prefix when it has llmo's
    /// format (`llmo-` and 40 characters: the 9 characters `llmo key list`
    /// shows), else nothing of it.
    pub(crate) fn unknown_key(&mut self, token: &str) {
        let prefix = (token.starts_with("llmo-") && token.len() > 20 && token.is_ascii())
            .then(|| token[..9].into());
        self.invalid_key = Some(prefix);
    }

    /// Records the row (once; later calls do nothing).
    pub(crate) fn finish(&mut self, status: u16, error_type: Option<&'static str>) {
        if self.done {
            return;
        }
        self.done = true;
        let (error_type, key_prefix) = match self.invalid_key.take() {
            Some(prefix) if status == 401 => (Some("invalid_key"), prefix),
            _ => (error_type, None),
        };
        let total = self.started.elapsed();
        let overhead = total.saturating_sub(self.upstream + self.waited);
        self.shared.metrics.request(
            self.model.as_deref().unwrap_or(""),
            self.provider.as_deref().unwrap_or(""),
            status,
            self.upstream.as_secs_f64(),
            overhead.as_secs_f64(),
        );
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        if !self.span.is_disabled() {
            // Streams end in the response body, outside the request's
            // future: enter its span so the event carries the request id.
            let _in = self.span.enter();
            tracing::debug!(
                model = self.model.as_deref().unwrap_or(""),
                provider = self.provider.as_deref().unwrap_or(""),
                status,
                error_type = error_type.unwrap_or(""),
                attempts = self.attempts,
                latency_ms = ms(total),
                ttfb_ms = self.ttfb.map_or(0.0, ms),
                tokens_in = self.usage.prompt_tokens.unwrap_or(0),
                tokens_out = self.usage.completion_tokens.unwrap_or(0),
                stream = self.stream,
                "request finished"
            );
        }
        if let Some(rec) = self.shared.recorder.get() {
            rec.record(LogRow {
                ts_ms: self.ts_ms,
                request_id: std::mem::take(&mut self.request_id),
                key_name: self.key_name.take(),
                model: self.model.take(),
                provider: self.provider.take(),
                upstream_model: self.upstream_model.take(),
                attempts: self.attempts,
                status,
                error_type,
                latency_ms: ms(total),
                ttfb_ms: self.ttfb.map(ms),
                upstream_ms: (self.attempts > 0).then(|| ms(self.upstream)),
                prompt_tokens: self.usage.prompt_tokens,
                completion_tokens: self.usage.completion_tokens,
                stream: self.stream,
                method: self.method.take(),
                path: self.path.take(),
                api: self.api,
                key_prefix,
            });
        }
    }
}

impl LogCtx {
    /// Records the row of a request dropped before its answer was complete:
    /// 499 `client_closed` (the client went away), or 503 `shutdown` when
    /// the server's shutdown deadline cut it.
    pub(crate) fn finish_abandoned(&mut self) {
        if self.shared.is_cut() {
            self.finish(503, Some("shutdown"));
        } else {
            self.finish(499, Some("client_closed"));
        }
    }
}

impl Drop for LogCtx {
    fn drop(&mut self) {
        if !self.done {
            self.finish_abandoned();
        }
    }
}

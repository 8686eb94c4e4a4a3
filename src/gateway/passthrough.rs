//! A large non-stream answer of an OpenAI-kind upstream, relayed as it
//! arrives instead of buffered whole: the first [`BUFFERED_MAX`] bytes were
//! read (and checked to open a JSON object) by the adapter; the rest is
//! forwarded chunk by chunk under `upstream_max_body` and the provider's
//! timeout per gap, keeping only a small tail window to read `usage` from at
//! the end. The log row is written when the body ends, fails or the client
//! leaves. A failure after the status went out can only cut the connection:
//! the client sees an incomplete body, never a complete-looking one.
//!
//! [`BUFFERED_MAX`]: super::providers::BUFFERED_MAX
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use hyper::body::Body as _;
use tokio::time::Sleep;

use super::providers::{Rest, UpstreamError, Usage};
use super::request_log::LogCtx;
use super::snapshot::ProviderRt;

/// How much of the answer's end is kept to read `usage` from.
const TAIL: usize = 64 * 1024;

pub(crate) struct PassBody {
    head: Option<Bytes>,
    upstream: reqwest::Body,
    read: u64,
    limit: u64,
    /// Reads `usage` from the tail (the answer's dialect).
    usage: fn(&[u8]) -> Usage,
    /// The last bytes seen (at most `2 * TAIL`, trimmed to `TAIL`).
    tail: BytesMut,
    gap: Duration,
    deadline: Pin<Box<Sleep>>,
    provider: Arc<ProviderRt>,
    upstream_started: Instant,
    log: Option<LogCtx>,
}

impl PassBody {
    pub(crate) fn new(
        head: Bytes,
        rest: Rest,
        provider: Arc<ProviderRt>,
        upstream_started: Instant,
    ) -> PassBody {
        let gap = provider.timeout;
        let mut tail = BytesMut::with_capacity(2 * TAIL);
        tail.extend_from_slice(&head[head.len().saturating_sub(TAIL)..]);
        PassBody {
            head: Some(head),
            upstream: rest.body,
            read: rest.read,
            limit: rest.limit,
            usage: rest.usage,
            tail,
            gap,
            deadline: Box::pin(tokio::time::sleep(gap)),
            provider,
            upstream_started,
            log: None,
        }
    }

    /// Hands over the request's log context, recorded when the body ends.
    pub(crate) fn attach(&mut self, log: LogCtx) {
        self.log = Some(log);
    }

    fn keep_tail(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        if self.tail.len() > 2 * TAIL {
            let cut = self.tail.len() - TAIL;
            self.tail.advance(cut);
        }
    }

    /// The next bytes for the client; `Err` cuts the connection.
    pub(crate) fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        if let Some(h) = self.head.take() {
            return Poll::Ready(Some(Ok(h)));
        }
        if self.log.is_none() {
            return Poll::Ready(None);
        }
        loop {
            let e = match Pin::new(&mut self.upstream).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    self.read += data.len() as u64;
                    if self.read > self.limit {
                        UpstreamError::TooLarge(self.limit)
                    } else {
                        self.keep_tail(&data);
                        self.deadline
                            .as_mut()
                            .reset(tokio::time::Instant::now() + self.gap);
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    UpstreamError::from_reqwest(&e, self.gap.as_millis() as u64)
                }
                Poll::Ready(None) => {
                    let last = self.tail.iter().rev().find(|b| !b.is_ascii_whitespace());
                    if last == Some(&b'}') {
                        self.finish(Ok(()));
                        return Poll::Ready(None);
                    }
                    UpstreamError::Broken(format!(
                        "the upstream's {} byte answer does not end a JSON object",
                        self.read
                    ))
                }
                Poll::Pending => match self.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => UpstreamError::Timeout(self.gap.as_millis() as u64),
                    Poll::Pending => return Poll::Pending,
                },
            };
            let msg = e.to_string();
            self.finish(Err(e));
            return Poll::Ready(Some(Err(std::io::Error::other(msg))));
        }
    }

    /// Writes the log row; a failure counts against the provider.
    fn finish(&mut self, outcome: Result<(), UpstreamError>) {
        let Some(mut log) = self.log.take() else {
            return;
        };
        log.upstream += self.upstream_started.elapsed();
        match outcome {
            Ok(()) => {
                log.usage = (self.usage)(&self.tail);
                log.finish(200, None);
            }
            Err(e) => {
                let change = self.provider.live.on_failure(
                    Instant::now(),
                    crate::time::now_ms(),
                    &e.to_string(),
                    log.shared.breaker,
                );
                if let Some(ch) = change {
                    log.shared.report_change(&self.provider.name, ch);
                }
                tracing::debug!(request_id = %log.request_id, provider = %self.provider.name, "answer cut mid-way: {e}");
                let status = if e.is_timeout() { 504 } else { 502 };
                log.finish(status, Some(e.log_type()));
            }
        }
    }
}

impl Drop for PassBody {
    fn drop(&mut self) {
        // The client went away mid-answer: not the provider's fault.
        if let Some(mut log) = self.log.take() {
            log.upstream += self.upstream_started.elapsed();
            log.finish(499, Some("client_closed"));
        }
    }
}

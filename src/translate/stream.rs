//! The one stream translator: upstream SSE bytes in, OpenAI
//! `chat.completion.chunk` SSE out, incrementally. This module owns the loop
//! every vendor shares (SSE framing, the stray-bytes and oversized-event
//! rules, the error / `[DONE]` bookkeeping); a vendor supplies only its
//! [`Dialect`] hooks (`anthropic::stream`, `gemini::stream`).
//!
//! Dispatch is an enum with one `match` (in `dispatch!`), so the gateway
//! holds one concrete type and calls one method per operation; no trait
//! objects and no allocation beyond the output buffer per read.
use serde_json::Value;

use super::openai::{self, ChunkWriter, Usage};
use super::sse::{SseEvent, SseParser};
use super::{anthropic, gemini, MappedError};

/// What a vendor's stream translation implements.
pub(crate) trait Dialect {
    /// One complete upstream SSE event.
    fn event(&mut self, ev: &SseEvent, emit: &mut Emitter, out: &mut Vec<u8>);

    /// Called after each batch of events while the stream is live, with the
    /// parser holding any lines that were not SSE (a bare JSON error body, an
    /// HTML page from a proxy). By default they are dropped, so memory stays
    /// bounded; a body without events then ends as truncated.
    fn stray(&mut self, sse: &mut SseParser, at_end: bool, emit: &mut Emitter, out: &mut Vec<u8>) {
        let _ = (at_end, emit, out);
        if sse.has_other() {
            drop(sse.take_other());
        }
    }

    /// The upstream body ended and the stream is not done yet: write the
    /// closing chunks (or the truncation error).
    fn end(&mut self, emit: &mut Emitter, out: &mut Vec<u8>);

    /// Token usage seen so far, in OpenAI terms.
    fn usage(&self) -> Option<Usage>;
}

/// The OpenAI side of a stream, shared by every vendor: the chunk writer and
/// how the stream ended.
#[derive(Debug)]
pub(crate) struct Emitter {
    pub(crate) w: ChunkWriter,
    done: bool,
    error: Option<Value>,
    vendor_error: Option<MappedError>,
}

impl Emitter {
    /// Ends the stream with an OpenAI error event and `[DONE]`.
    pub(crate) fn fail(&mut self, out: &mut Vec<u8>, body: &Value) {
        ChunkWriter::error(out, body);
        self.error = Some(body.clone());
        self.done = true;
    }

    /// Ends the stream with the vendor's own error, kept for the gateway
    /// (see [`StreamTranslator::vendor_error`]).
    pub(crate) fn fail_vendor(&mut self, out: &mut Vec<u8>, mapped: MappedError) {
        self.fail(out, &mapped.body);
        self.vendor_error = Some(mapped);
    }

    /// Ends the stream with a `server_error` llmo detected itself.
    pub(crate) fn fail_server(&mut self, out: &mut Vec<u8>, message: &str, code: Option<&str>) {
        let body = openai::error_body(message, "server_error", None, code);
        self.fail(out, &body);
    }

    /// The upstream body ended before the vendor's end marker.
    pub(crate) fn fail_truncated(&mut self, out: &mut Vec<u8>) {
        self.fail_server(
            out,
            "the upstream stream ended before the response was complete",
            Some("upstream_stream_truncated"),
        );
    }

    /// An upstream event that is not the JSON the vendor documents.
    pub(crate) fn fail_unreadable_event(&mut self, out: &mut Vec<u8>) {
        self.fail_server(out, "the upstream stream sent an unreadable event", None);
    }

    /// The normal end: the usage chunk (when the client asked and the vendor
    /// reported usage), then `[DONE]`.
    pub(crate) fn end(&mut self, out: &mut Vec<u8>, usage: Option<Usage>) {
        if let Some(u) = usage {
            self.w.usage(out, &u);
        }
        ChunkWriter::done(out);
        self.done = true;
    }
}

/// The `code` of the error event that ends a stream whose upstream sent an
/// event over [`crate::translate::MAX_EVENT`] (also the log row's error type).
pub const EVENT_TOO_LARGE: &str = "stream_event_too_large";

/// The vendor hooks a stream runs with.
#[derive(Debug)]
enum Vendor {
    Anthropic(anthropic::Stream),
    Gemini(gemini::Stream),
}

/// The single place that matches on the vendor.
macro_rules! dispatch {
    ($vendor:expr, $d:ident => $call:expr) => {
        match $vendor {
            Vendor::Anthropic($d) => $call,
            Vendor::Gemini($d) => $call,
        }
    };
}

/// Translates a vendor SSE body into OpenAI `chat.completion.chunk` SSE,
/// incrementally. See the stream rules in the [`crate::translate`] docs.
#[derive(Debug)]
pub struct StreamTranslator {
    sse: SseParser,
    events: Vec<SseEvent>,
    /// Complete upstream events seen so far (the gateway's stream timeout
    /// bounds the wait for the next one, not for the next byte).
    seen: u64,
    emit: Emitter,
    vendor: Vendor,
}

impl StreamTranslator {
    /// An Anthropic Messages stream. `fallback_id` is used until (and
    /// unless) `message_start` gives an id.
    pub fn anthropic(
        public_model: &str,
        include_usage: bool,
        fallback_id: &str,
        created: u64,
    ) -> Self {
        let vendor = Vendor::Anthropic(anthropic::Stream::default());
        Self::new(vendor, public_model, include_usage, fallback_id, created)
    }

    /// A Gemini `streamGenerateContent?alt=sse` stream. `fallback_id` is used
    /// when Gemini sends no `responseId`.
    pub fn gemini(
        public_model: &str,
        include_usage: bool,
        fallback_id: &str,
        created: u64,
    ) -> Self {
        let vendor = Vendor::Gemini(gemini::Stream::new(fallback_id));
        Self::new(vendor, public_model, include_usage, fallback_id, created)
    }

    fn new(
        vendor: Vendor,
        public_model: &str,
        include_usage: bool,
        fallback_id: &str,
        created: u64,
    ) -> Self {
        Self {
            sse: SseParser::new(),
            events: Vec::new(),
            seen: 0,
            emit: Emitter {
                w: ChunkWriter {
                    id: fallback_id.to_string(),
                    created,
                    model: public_model.to_string(),
                    include_usage,
                },
                done: false,
                error: None,
                vendor_error: None,
            },
            vendor,
        }
    }

    /// Feeds upstream bytes; returns OpenAI SSE bytes to send now (maybe empty).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.emit.done {
            return out;
        }
        self.sse.feed(bytes, &mut self.events);
        self.drain(&mut out, false);
        out
    }

    /// The upstream body ended: returns the last bytes to send.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.emit.done {
            return out;
        }
        self.sse.finish(&mut self.events);
        self.drain(&mut out, true);
        if !self.emit.done {
            dispatch!(&mut self.vendor, d => d.end(&mut self.emit, &mut out));
        }
        out
    }

    /// Token usage seen so far (final after `finish`).
    pub fn usage(&self) -> Option<Usage> {
        dispatch!(&self.vendor, d => d.usage())
    }

    /// How many complete upstream events were read so far.
    pub fn events_seen(&self) -> u64 {
        self.seen
    }

    /// True once the stream has ended (normally or with an error event).
    pub fn is_done(&self) -> bool {
        self.emit.done
    }

    /// The OpenAI error body sent to the client, if the stream failed (for
    /// the request log: a failed stream still ends with `[DONE]`).
    pub fn error(&self) -> Option<&Value> {
        self.emit.error.as_ref()
    }

    /// The error the vendor itself reported in the stream (e.g. Anthropic's
    /// `overloaded_error` event right after the 200, or a Gemini error body),
    /// with its status and retry class: before anything reached the client
    /// the gateway treats it like the same error sent as an HTTP status
    /// (retry, fail over).
    pub fn vendor_error(&self) -> Option<&MappedError> {
        self.emit.vendor_error.as_ref()
    }

    fn drain(&mut self, out: &mut Vec<u8>, at_end: bool) {
        let events = std::mem::take(&mut self.events);
        self.seen += events.len() as u64;
        dispatch!(&mut self.vendor, d => {
            for ev in &events {
                if self.emit.done {
                    break;
                }
                d.event(ev, &mut self.emit, out);
            }
            if !self.emit.done {
                d.stray(&mut self.sse, at_end, &mut self.emit, out);
            }
        });
        self.events = events;
        self.events.clear();
        if self.sse.overflowed() && !self.emit.done {
            let msg = format!(
                "the upstream sent a stream event larger than {} KiB; the stream was cut",
                super::MAX_EVENT >> 10
            );
            self.emit.fail_server(out, &msg, Some(EVENT_TOO_LARGE));
        }
    }
}

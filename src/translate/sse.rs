//! Incremental Server-Sent Events parser for upstream streams.
//!
//! Bytes arrive in arbitrary pieces: a read can end inside a UTF-8 character,
//! inside a `data:` line, between the `\r` and `\n` of a CRLF, or hold many
//! events at once. The parser looks at each byte once and keeps only the
//! incomplete line (and the data of the event being assembled) between calls,
//! so memory stays bounded by [`MAX_EVENT`], and every complete event is
//! handed out as soon as its terminating blank line arrives.
//!
//! Follows the WHATWG event-stream grammar with two deliberate leniencies:
//! * at [`SseParser::finish`] an event that was never terminated by a blank line
//!   is still dispatched (Gemini's prompt-blocked stream ends with a single
//!   `\r\n`, see `tests/fixtures/gemini/stream_prompt_blocked_safety.sse`);
//! * lines that are not SSE fields (no known field name) are collected in
//!   [`SseParser::take_other`] instead of being silently dropped, because Vertex
//!   AI / Gemini can end a stream with a bare, pretty-printed JSON error body
//!   (`tests/fixtures/gemini/stream_error_mid_stream_vertex.txt`).

/// One dispatched event. `event` is empty when the stream had no `event:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    pub event: String,
    pub data: String,
}

/// Largest single event an upstream stream may send (1 MiB), for the relay
/// and the translators alike. A bigger one (or bytes that never end an
/// event) means a broken or hostile upstream: the parser drops it and
/// reports [`SseParser::overflowed`], and the stream ends with an error.
pub const MAX_EVENT: usize = 1 << 20;

#[derive(Debug, Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    data: String,
    has_data: bool,
    event: String,
    /// The previous byte was `\r`: a `\n` right after it belongs to the same
    /// line ending, even when it arrives in the next read.
    skip_lf: bool,
    /// Still at the very start of the stream (a UTF-8 BOM may be skipped).
    at_start: bool,
    other: Vec<u8>,
    overflowed: bool,
}

impl SseParser {
    pub(crate) fn new() -> Self {
        Self {
            at_start: true,
            ..Self::default()
        }
    }

    /// Feeds the next piece of the body; complete events are appended to `out`.
    pub(crate) fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) {
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if self.skip_lf {
                self.skip_lf = false;
                if b == b'\n' {
                    i += 1;
                    start = i;
                    continue;
                }
            }
            if b == b'\n' || b == b'\r' {
                self.push_line_bytes(&bytes[start..i]);
                self.end_line(out);
                self.skip_lf = b == b'\r';
                start = i + 1;
            }
            i += 1;
        }
        if start < bytes.len() {
            self.push_line_bytes(&bytes[start..]);
        }
    }

    /// The body ended: processes a last unterminated line and dispatches a last
    /// unterminated event.
    pub(crate) fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.line.is_empty() {
            self.end_line(out);
        }
        self.dispatch(out);
        self.skip_lf = false;
    }

    /// Lines seen so far that were not SSE fields, each followed by `\n`.
    pub(crate) fn take_other(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.other)
    }

    /// True if any non-SSE line was seen and not yet taken.
    pub(crate) fn has_other(&self) -> bool {
        !self.other.is_empty()
    }

    /// True once a line longer than [`MAX_LINE`] was dropped.
    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) {
        if self.line.len() + self.data.len() + bytes.len() > MAX_EVENT {
            self.overflowed = true;
            self.line.clear();
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let mut line = std::mem::take(&mut self.line);
        let mut body: &[u8] = &line;
        if self.at_start {
            self.at_start = false;
            if let Some(rest) = body.strip_prefix(b"\xEF\xBB\xBF") {
                body = rest;
            }
        }
        if body.is_empty() {
            self.dispatch(out);
        } else if body[0] == b':' {
            // comment / keep-alive
        } else {
            let (field, value) = match body.iter().position(|&c| c == b':') {
                Some(p) => {
                    let v = &body[p + 1..];
                    (&body[..p], v.strip_prefix(b" ").unwrap_or(v))
                }
                None => (body, &b""[..]),
            };
            match field {
                b"data" => {
                    if self.data.len() + value.len() > MAX_EVENT {
                        self.overflowed = true;
                        self.data.clear();
                    } else {
                        if self.has_data {
                            self.data.push('\n');
                        }
                        self.data.push_str(&String::from_utf8_lossy(value));
                        self.has_data = true;
                    }
                }
                b"event" => {
                    self.event.clear();
                    self.event.push_str(&String::from_utf8_lossy(value));
                }
                b"id" | b"retry" => {}
                _ => {
                    if self.other.len() + body.len() < MAX_EVENT {
                        self.other.extend_from_slice(body);
                        self.other.push(b'\n');
                    } else {
                        self.overflowed = true;
                    }
                }
            }
        }
        // Give the allocation back for the next line.
        line.clear();
        self.line = line;
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent {
                event: std::mem::take(&mut self.event),
                data: std::mem::take(&mut self.data),
            });
        }
        self.has_data = false;
        self.event.clear();
        self.data.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out);
        }
        p.finish(&mut out);
        out
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn many_events_in_one_read_with_comments_and_event_names() {
        let body = b": keep-alive\nevent: ping\ndata: {\"type\": \"ping\"}\n\ndata: a\ndata: b\n\nid: 7\nretry: 10\ndata:c\n\n";
        assert_eq!(
            parse_all(&[body]),
            vec![
                ev("ping", "{\"type\": \"ping\"}"),
                ev("", "a\nb"),
                ev("", "c")
            ]
        );
    }

    #[test]
    fn crlf_split_between_cr_and_lf_is_one_line_ending() {
        let out = parse_all(&[b"data: x\r", b"\n\r", b"\ndata: y\r\n\r\n"]);
        assert_eq!(out, vec![ev("", "x"), ev("", "y")]);
    }

    #[test]
    fn lone_cr_is_a_line_ending() {
        assert_eq!(
            parse_all(&[b"data: x\r\rdata: y\r\r"]),
            vec![ev("", "x"), ev("", "y")]
        );
    }

    #[test]
    fn split_inside_a_utf8_character_and_inside_the_field_name() {
        let body = "data: 68\u{b0}F \u{1F600}\n\n".as_bytes();
        for cut in 1..body.len() {
            let out = parse_all(&[&body[..cut], &body[cut..]]);
            assert_eq!(out, vec![ev("", "68\u{b0}F \u{1F600}")], "cut at {cut}");
        }
    }

    #[test]
    fn byte_by_byte_equals_whole() {
        let body = include_bytes!("../../tests/fixtures/anthropic/tool_use_stream.sse");
        let whole = parse_all(&[body]);
        let pieces: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(parse_all(&pieces), whole);
        assert_eq!(whole.len(), 16);
        assert_eq!(whole[0].event, "message_start");
    }

    #[test]
    fn unterminated_last_event_is_dispatched_at_finish() {
        let body = include_bytes!("../../tests/fixtures/gemini/stream_prompt_blocked_safety.sse");
        let out = parse_all(&[body]);
        assert_eq!(out.len(), 1);
        assert!(out[0].data.starts_with("{\"promptFeedback\""));
    }

    #[test]
    fn bom_is_skipped_and_non_sse_lines_are_kept_aside() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"\xEF\xBB\xBFdata: 1\n\n{\n  \"error\": 1\n}\n", &mut out);
        p.finish(&mut out);
        assert_eq!(out, vec![ev("", "1")]);
        assert_eq!(p.take_other(), b"{\n  \"error\": 1\n}\n");
        assert!(!p.has_other());
    }

    #[test]
    fn an_event_of_many_lines_over_the_cap_is_reported() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let line = format!("data: {}\n", "y".repeat(1000));
        for _ in 0..(MAX_EVENT / 1000 + 2) {
            p.feed(line.as_bytes(), &mut out);
        }
        assert!(p.overflowed());
        assert!(p.data.len() <= MAX_EVENT, "memory stays bounded");
    }

    #[test]
    fn overlong_line_is_dropped_and_reported() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let big = vec![b'x'; MAX_EVENT + 1];
        p.feed(b"data: ", &mut out);
        p.feed(&big, &mut out);
        p.feed(b"\n\ndata: ok\n\n", &mut out);
        assert!(p.overflowed());
        assert_eq!(out, vec![ev("", "ok")]);
    }
}

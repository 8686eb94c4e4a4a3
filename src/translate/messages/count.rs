//! The local input-token estimate of a Messages request: the answer of
//! `/v1/messages/count_tokens` for providers without that endpoint, and the
//! `input_tokens` of `message_start` before the upstream reports usage.
//!
//! Method (see the figures in [`crate::translate`]'s docs): every text
//! (system, text blocks, tool results, thinking, tool names, descriptions,
//! tool-use inputs and input schemas as compact JSON) counts
//! `ceil(chars / 4)`; each message adds [`PER_MESSAGE`] and the request
//! [`BASE`]; declaring tools adds Anthropic's tool-use system prompt
//! ([`TOOLS_PROMPT`]), each `tool_use` / `tool_result` block
//! [`TOOL_BLOCK`], a structured-output schema [`FORMAT_PROMPT`]; an image counts `width * height / 750` after
//! Anthropic's documented downscaling (long edge <= 1568 px, at most ~1600),
//! its size read from the first bytes of the base64 PNG / JPEG / GIF / WebP
//! data, else [`IMAGE_DEFAULT`]; a URL image counts [`IMAGE_DEFAULT`]; a
//! PDF document [`PDF_PAGE`] per page found in the data.
use std::borrow::Cow;

use crate::translate::openai::Json;
use crate::translate::{invalid, TranslateError};

type Obj<'a> = [(Cow<'a, str>, Json<'a>)];

/// Tokens of the request framing.
const BASE: u32 = 4;
/// Tokens per message (role and turn markers).
const PER_MESSAGE: u32 = 4;
/// The tool-use system prompt Anthropic adds when tools are declared
/// (fitted to the Claude Haiku 4.5 recordings; Anthropic documents 346 for
/// earlier Claude 4 models).
const TOOLS_PROMPT: u32 = 520;
/// The framing of a `tool_use` or `tool_result` block (fitted likewise).
const TOOL_BLOCK: u32 = 35;
/// The structured-output instructions of an `output_config.format`
/// (fitted to the one recording).
const FORMAT_PROMPT: u32 = 150;
/// An image whose size is not known (about the largest image Anthropic
/// keeps without downscaling: 1092 x 1092 / 750).
const IMAGE_DEFAULT: u32 = 1600;
/// A PDF page (text plus the page image, mid-range of Anthropic's 1500-3000).
const PDF_PAGE: u32 = 2300;

/// `/v1/messages/count_tokens`: the local estimate of the body's input
/// tokens (the gateway answers `{"input_tokens": n}`).
pub(crate) fn count_tokens(body: &[u8]) -> Result<u32, TranslateError> {
    let root = Json::parse(body)
        .map_err(|e| invalid("body", format!("the request body is not valid JSON: {e}")))?;
    let obj = root
        .as_object()
        .ok_or_else(|| invalid("body", "the request body must be a JSON object"))?;
    if !obj
        .iter()
        .any(|(k, v)| k == "messages" && v.as_array().is_some())
    {
        return Err(invalid("messages", "`messages` must be an array"));
    }
    Ok(estimate(obj))
}

/// The estimate for a parsed request object (missing or odd fields count 0).
pub(super) fn estimate(obj: &Obj<'_>) -> u32 {
    let mut n = BASE;
    let get = |k: &str| obj.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v);
    if let Some(system) = get("system") {
        n += content(system);
    }
    if let Some(messages) = get("messages").and_then(Json::as_array) {
        for m in messages {
            n += PER_MESSAGE + m.get("content").map_or(0, content);
        }
    }
    if let Some(tools) = get("tools").and_then(Json::as_array) {
        if !tools.is_empty() {
            n += TOOLS_PROMPT;
        }
        for t in tools {
            n += ["name", "description"]
                .iter()
                .map(|k| t.get(k).and_then(Json::as_str).map_or(0, text))
                .sum::<u32>();
            n += t.get("input_schema").map_or(0, json);
        }
    }
    let format = get("output_config")
        .and_then(|c| c.get("format"))
        .or_else(|| get("output_format"))
        .and_then(|f| f.get("schema"));
    if let Some(schema) = format {
        n += FORMAT_PROMPT + json(schema);
    }
    n
}

/// `ceil(chars / 4)`.
fn text(s: &str) -> u32 {
    let chars = s.chars().count();
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX)
}

/// A JSON value as compact JSON text (bytes / 4, counted without
/// building the text).
fn json(v: &Json<'_>) -> u32 {
    let n = crate::translate::json_len(v).unwrap_or(0);
    u32::try_from(n.div_ceil(4)).unwrap_or(u32::MAX)
}

/// A `content` (string or blocks) of a message, system or tool result.
fn content(v: &Json<'_>) -> u32 {
    match v {
        Json::String(s) => text(s),
        Json::Array(blocks) => blocks.iter().map(block).fold(0, u32::saturating_add),
        _ => 0,
    }
}

fn block(b: &Json<'_>) -> u32 {
    let s = |k: &str| b.get(k).and_then(Json::as_str).map_or(0, text);
    match b.get("type").and_then(Json::as_str).unwrap_or("") {
        "text" => s("text"),
        "thinking" => s("thinking"),
        "tool_use" => TOOL_BLOCK + s("name") + b.get("input").map_or(0, json),
        "tool_result" => TOOL_BLOCK + b.get("content").map_or(0, content),
        "image" => b.get("source").map_or(IMAGE_DEFAULT, image),
        "document" => b.get("source").map_or(0, document),
        _ => 0,
    }
}

fn document(source: &Json<'_>) -> u32 {
    match source.get("type").and_then(Json::as_str) {
        Some("text") => source.get("data").and_then(Json::as_str).map_or(0, text),
        Some("content") => source.get("content").map_or(0, content),
        Some("base64") => source
            .get("data")
            .and_then(Json::as_str)
            .map_or(PDF_PAGE, |d| PDF_PAGE * pdf_pages(d)),
        _ => PDF_PAGE,
    }
}

/// Pages of a base64 PDF: `/Type /Page` objects (not `/Pages`), at least 1.
fn pdf_pages(data: &str) -> u32 {
    let bytes = base64_decode(data.as_bytes());
    let pat = b"/Type";
    let mut pages = 0u32;
    let mut i = 0;
    while i + pat.len() <= bytes.len() {
        if &bytes[i..i + pat.len()] == pat {
            let rest = &bytes[i + pat.len()..];
            let rest = &rest[rest.iter().take_while(|c| c.is_ascii_whitespace()).count()..];
            if rest.starts_with(b"/Page") && !rest.starts_with(b"/Pages") {
                pages += 1;
            }
        }
        i += 1;
    }
    pages.max(1)
}

fn image(source: &Json<'_>) -> u32 {
    let data = match source.get("type").and_then(Json::as_str) {
        Some("base64") => source.get("data").and_then(Json::as_str),
        _ => None,
    };
    let Some((w, h)) =
        data.and_then(|d| image_size(&base64_decode(&d.as_bytes()[..d.len().min(MAX_HEADER_B64)])))
    else {
        return IMAGE_DEFAULT;
    };
    image_tokens(w, h)
}

/// Anthropic's formula after its downscaling (long edge at most 1568 px,
/// about 1600 tokens at most).
pub(super) fn image_tokens(w: u32, h: u32) -> u32 {
    let (mut w, mut h) = (f64::from(w.max(1)), f64::from(h.max(1)));
    let long = w.max(h);
    if long > 1568.0 {
        let s = 1568.0 / long;
        w *= s;
        h *= s;
    }
    (((w * h) / 750.0).ceil() as u32).min(IMAGE_DEFAULT)
}

/// How much of a base64 image is decoded to find its size (JPEG's size
/// comes after its metadata segments).
const MAX_HEADER_B64: usize = 96 * 1024;

/// Width and height from a PNG, JPEG, GIF or WebP header.
pub(super) fn image_size(b: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| Some(u32::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let le16 = |i: usize| Some(u32::from(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some((be32(16)?, be32(20)?));
    }
    if b.starts_with(b"GIF8") {
        return Some((le16(6)?, le16(8)?));
    }
    if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        let le24 = |i: usize| {
            Some(
                u32::from(*b.get(i)?)
                    | u32::from(*b.get(i + 1)?) << 8
                    | u32::from(*b.get(i + 2)?) << 16,
            )
        };
        return match b.get(12..16)? {
            b"VP8 " => Some((le16(26)? & 0x3fff, le16(28)? & 0x3fff)),
            b"VP8L" => {
                let v = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
                Some(((v & 0x3fff) + 1, ((v >> 14) & 0x3fff) + 1))
            }
            b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
            _ => None,
        };
    }
    if b.starts_with(b"\xff\xd8") {
        let mut i = 2;
        while i + 9 < b.len() {
            if b[i] != 0xff {
                return None;
            }
            let marker = b[i + 1];
            if marker == 0xff {
                i += 1;
                continue;
            }
            let len = be16(i + 2)? as usize;
            let sof = matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc);
            if sof {
                return Some((be16(i + 7)?, be16(i + 5)?));
            }
            i += 2 + len;
        }
    }
    None
}

/// Standard base64 (padding and invalid characters skipped); decodes as
/// much as it is given.
fn base64_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in input {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::messages::count_tokens;
    use crate::translate::openai::base64_encode;

    #[test]
    fn count_tokens_reads_the_request_and_names_a_bad_body() {
        let n = count_tokens(br#"{"model":"m","messages":[{"role":"user","content":"12345678"}]}"#)
            .unwrap();
        assert_eq!(n, BASE + PER_MESSAGE + 2);
        let with_tools = count_tokens(
            br#"{"model":"m","messages":[{"role":"user","content":"12345678"}],
            "tools":[{"name":"abcd","input_schema":{"type":"object"}}]}"#,
        )
        .unwrap();
        assert_eq!(with_tools, n + TOOLS_PROMPT + 1 + 5);
        assert_eq!(count_tokens(b"{").unwrap_err().param(), "body");
        assert_eq!(count_tokens(b"{}").unwrap_err().param(), "messages");
    }

    /// The estimate against the `input_tokens` Anthropic reported for the
    /// recorded requests (the figures in the module docs).
    #[test]
    fn estimate_error_against_recorded_usage() {
        macro_rules! fx {
            ($p:literal) => {
                include_bytes!(concat!("../../../tests/fixtures/anthropic/", $p)).as_slice()
            };
        }
        let cases = [
            (fx!("tool_use_request.json"), 656),
            (fx!("tool_use_stream_request.json"), 656),
            (fx!("tool_result_request.json"), 760),
            (fx!("tool_use_request_with_text.json"), 701),
            (fx!("messages_stream_request.json"), 770),
            (fx!("structured_output_request.json"), 249),
        ];
        let mut worst = 0.0f64;
        for (body, real) in cases {
            let est = count_tokens(body).unwrap();
            let err = (f64::from(est) - f64::from(real)) / f64::from(real);
            eprintln!("estimate {est} vs {real}: {:+.1}%", err * 100.0);
            worst = worst.max(err.abs());
        }
        assert!(worst < 0.05, "worst error {:.1}%", worst * 100.0);
    }

    #[test]
    fn image_sizes_from_headers() {
        // 1x1 PNG (the image fixture).
        let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
        assert_eq!(image_size(&base64_decode(png.as_bytes())), Some((1, 1)));
        let mut gif = b"GIF89a".to_vec();
        gif.extend([0x20, 0x03, 0x58, 0x02]);
        assert_eq!(image_size(&gif), Some((800, 600)));
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0, 0];
        jpeg.extend([0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0xe0, 0x02, 0x80, 0, 0]);
        assert_eq!(image_size(&jpeg), Some((640, 480)));
        let b64 = base64_encode(&jpeg);
        assert_eq!(image_size(&base64_decode(b64.as_bytes())), Some((640, 480)));
    }

    #[test]
    fn image_tokens_follow_anthropics_table() {
        // Anthropic's documented examples: 200x200 ~54, 1000x1000 ~1334, 1092x1092 ~1590.
        assert_eq!(image_tokens(200, 200), 54);
        assert_eq!(image_tokens(1000, 1000), 1334);
        assert_eq!(image_tokens(1092, 1092), 1590);
        // Downscaled: never much over ~1600.
        assert_eq!(image_tokens(4000, 3000), IMAGE_DEFAULT);
    }
}

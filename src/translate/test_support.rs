//! Helpers shared by the unit tests of the vendor modules: fixtures, golden
//! comparisons, reading an OpenAI stream back, random splits and messages.

use serde_json::Value;

/// Compares a translated JSON body with its insta snapshot (pretty JSON, in
/// the `snapshots/` folder next to the calling test). `$name` is the golden's
/// name, `vendor/what.json`; the snapshot is named `what`.
macro_rules! golden_json {
    ($name:expr, $got:expr $(,)?) => {{
        let got: &serde_json::Value = $got;
        insta::assert_snapshot!(
            $crate::translate::test_support::snapshot_name($name),
            serde_json::to_string_pretty(got).unwrap()
        );
    }};
}
pub(crate) use golden_json;

/// Compares translated SSE output with its insta snapshot. insta ignores
/// trailing newlines, so the event framing at the end is checked here.
macro_rules! golden_sse {
    ($name:expr, $got:expr $(,)?) => {{
        let got: &[u8] = $got;
        assert!(
            got.ends_with(b"\n\n"),
            "SSE output must end with a whole event"
        );
        insta::assert_snapshot!(
            $crate::translate::test_support::snapshot_name($name),
            std::str::from_utf8(got).unwrap()
        );
    }};
}
pub(crate) use golden_sse;

/// Translates a recorded stream in one read with the calling directory's
/// `translate_stream` (from its `test_util`), compares the output with its
/// snapshot and returns it. A macro, like [`golden_sse!`], so the snapshot
/// is named after the calling test module.
macro_rules! golden_stream {
    ($body:expr, $include_usage:expr, $name:expr $(,)?) => {{
        let out = translate_stream(&[$body], $include_usage);
        $crate::translate::test_support::golden_sse!($name, &out);
        out
    }};
}
pub(crate) use golden_stream;

/// `anthropic/request_system.json` -> `request_system`.
pub fn snapshot_name(golden: &str) -> &str {
    let file = golden.rsplit('/').next().unwrap_or(golden);
    file.split('.').next().unwrap_or(file)
}

pub fn fixture_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The `body` of a recorded `{status, headers, body}` fixture, as bytes.
pub fn fixture_body(text: &str) -> Vec<u8> {
    serde_json::to_vec(&fixture_json(text)["body"]).unwrap()
}

/// Feeds `chunks` to `t` one by one, then ends the stream: everything the
/// client would receive.
pub fn run_stream(mut t: crate::translate::StreamTranslator, chunks: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        out.extend(t.feed(c));
    }
    out.extend(t.finish());
    out
}

/// `translate` gives the same output for `body` in one read and in 200
/// random chunkings of it.
pub fn assert_chunkings_agree(
    rng: &mut fastrand::Rng,
    body: &[u8],
    translate: impl Fn(&[&[u8]]) -> Vec<u8>,
) {
    let whole = translate(&[body]);
    for _ in 0..200 {
        let pieces = random_split(rng, body);
        assert_eq!(translate(&pieces), whole);
    }
}

/// Feeds `sse` to `translate` in random pieces, checks the output is the
/// same as in one read, and returns what the client accumulates from it.
pub fn accumulate_random_chunks(
    rng: &mut fastrand::Rng,
    sse: &[u8],
    translate: impl Fn(&[&[u8]]) -> Vec<u8>,
) -> Accumulated {
    let pieces = random_split(rng, sse);
    let out = translate(&pieces);
    assert_eq!(out, translate(&[sse]), "chunking changed the output");
    accumulate(&out)
}

/// An error mapping gives the client status, retry class and OpenAI error
/// `type` / `code` its table row expects (`ctx` names the row).
pub fn assert_mapped(
    m: &crate::translate::MappedError,
    (status, retryable, ty, code): (u16, bool, &str, Option<&str>),
    ctx: &str,
) {
    assert_eq!(m.status, status, "{ctx}");
    assert_eq!(m.retryable, retryable, "{ctx}");
    assert_eq!(m.body["error"]["type"], ty, "{ctx}");
    assert_eq!(m.body["error"]["code"].as_str(), code, "{ctx}");
}

/// What a client gets by concatenating the deltas of an OpenAI stream.
#[derive(Debug, Default)]
pub struct Accumulated {
    pub first_is_role: bool,
    pub content: Option<String>,
    pub reasoning: Option<String>,
    /// (id, name, arguments) by tool-call index.
    pub tool_calls: Vec<(String, String, String)>,
    pub finish_reason: Option<String>,
    pub usage: Option<Value>,
    pub done: bool,
    pub error: Option<Value>,
    pub ids: std::collections::BTreeSet<String>,
}

/// The accumulated stream carries what the non-stream response carries
/// (choice 0): content, tool calls, finish reason and usage.
pub fn assert_same_answer(acc: &Accumulated, resp: &crate::translate::ChatCompletion, ctx: &str) {
    let m = &resp.choices[0].message;
    assert_eq!(acc.content, m.content, "{ctx}");
    let calls: Vec<(String, String, String)> = m
        .tool_calls
        .iter()
        .map(|c| {
            (
                c.id.clone(),
                c.function.name.clone(),
                c.function.arguments.clone(),
            )
        })
        .collect();
    assert_eq!(acc.tool_calls, calls, "{ctx}");
    assert_eq!(
        acc.finish_reason.as_deref(),
        resp.choices[0].finish_reason.map(|f| f.as_str()),
        "{ctx}"
    );
    assert_eq!(
        acc.usage.clone().unwrap(),
        serde_json::to_value(resp.usage.unwrap()).unwrap(),
        "{ctx}"
    );
}

/// Parses OpenAI SSE output (choice 0) and checks its framing.
pub fn accumulate(out: &[u8]) -> Accumulated {
    accumulate_choice(out, 0)
}

pub fn accumulate_choice(out: &[u8], choice: u64) -> Accumulated {
    let text = std::str::from_utf8(out).unwrap();
    let mut acc = Accumulated::default();
    let mut first = true;
    for event in text.split_terminator("\n\n") {
        let data = event
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("bad event {event:?}"));
        assert!(!acc.done, "event after [DONE]");
        if data == "[DONE]" {
            acc.done = true;
            continue;
        }
        let v: Value = serde_json::from_str(data).unwrap();
        assert!(acc.error.is_none(), "event after an error");
        if let Some(e) = v.get("error") {
            acc.error = Some(e.clone());
            continue;
        }
        assert_eq!(v["object"], "chat.completion.chunk");
        acc.ids.insert(v["id"].as_str().unwrap().to_string());
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            assert!(v["choices"].as_array().unwrap().is_empty());
            acc.usage = Some(u.clone());
        }
        for c in v["choices"].as_array().unwrap() {
            if c["index"].as_u64() != Some(choice) {
                continue;
            }
            let d = &c["delta"];
            if first {
                acc.first_is_role = d["role"] == "assistant";
                first = false;
            }
            if let Some(t) = d["content"].as_str() {
                if !t.is_empty() || acc.content.is_some() {
                    acc.content.get_or_insert_with(String::new).push_str(t);
                }
            }
            if let Some(t) = d["reasoning_content"].as_str() {
                acc.reasoning.get_or_insert_with(String::new).push_str(t);
            }
            if let Some(calls) = d["tool_calls"].as_array() {
                for tc in calls {
                    let i = tc["index"].as_u64().unwrap() as usize;
                    if let Some(id) = tc["id"].as_str() {
                        assert_eq!(i, acc.tool_calls.len(), "tool index must count up");
                        let name = tc["function"]["name"].as_str().unwrap().to_string();
                        acc.tool_calls.push((id.to_string(), name, String::new()));
                    }
                    acc.tool_calls[i]
                        .2
                        .push_str(tc["function"]["arguments"].as_str().unwrap());
                }
            }
            if let Some(f) = c["finish_reason"].as_str() {
                assert!(acc.finish_reason.is_none(), "two finish chunks");
                acc.finish_reason = Some(f.to_string());
            }
        }
    }
    assert!(
        acc.first_is_role || first,
        "first chunk must carry the role"
    );
    assert!(acc.ids.len() <= 1, "one id per stream");
    acc
}

/// Splits `body` at random points (including inside UTF-8 characters).
pub fn random_split<'a>(rng: &mut fastrand::Rng, body: &'a [u8]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let max = if rng.bool() { 8 } else { 200 };
        let n = rng.usize(1..=max.min(rest.len()));
        pieces.push(&rest[..n]);
        rest = &rest[n..];
    }
    pieces
}

/// Random message generators for the property tests of both providers.
pub(crate) mod gen {
    /// A random string mixing ASCII, JSON-escaped and multi-byte characters.
    pub fn text(rng: &mut fastrand::Rng, max_len: usize) -> String {
        const ALPHABET: &[&str] = &[
            "a", "b", "z", " ", "The ", "\n", "\"", "\\", "é", "ü", "東", "京", "😀", "°", "\t",
            "{", "}",
        ];
        let n = rng.usize(1..=max_len);
        (0..n)
            .map(|_| ALPHABET[rng.usize(..ALPHABET.len())])
            .collect()
    }

    /// Splits `s` into 1..=max pieces at random char boundaries.
    pub fn fragments(rng: &mut fastrand::Rng, s: &str, max: usize) -> Vec<String> {
        let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).skip(1).collect();
        let n = if bounds.is_empty() {
            0
        } else {
            rng.usize(0..max)
        };
        let mut cuts: Vec<usize> = (0..n).map(|_| bounds[rng.usize(..bounds.len())]).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut out = Vec::new();
        let mut last = 0;
        for c in cuts {
            out.push(s[last..c].to_string());
            last = c;
        }
        out.push(s[last..].to_string());
        out
    }
}

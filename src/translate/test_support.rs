//! Helpers shared by the unit tests of the vendor modules: fixtures, golden
//! comparisons, reading an OpenAI stream back, random splits and messages.

use serde_json::Value;

pub fn fixture_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The `body` of a recorded `{status, headers, body}` fixture, as bytes.
pub fn fixture_body(text: &str) -> Vec<u8> {
    serde_json::to_vec(&fixture_json(text)["body"]).unwrap()
}

fn expected_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/translate/expected")
        .join(name)
}

fn bless() -> bool {
    std::env::var_os("LLMO_BLESS").is_some()
}

/// Compares with a pretty JSON golden file. `LLMO_BLESS=1` (re)writes it.
pub fn check_golden(name: &str, got: &Value) {
    let path = expected_path(name);
    if bless() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut text = serde_json::to_string_pretty(got).unwrap();
        text.push('\n');
        std::fs::write(&path, text).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with LLMO_BLESS=1 to create)", path.display()));
    let want: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        got,
        &want,
        "golden {name} differs; got:\n{}",
        serde_json::to_string_pretty(got).unwrap()
    );
}

/// Compares SSE output bytes with a golden `.sse` file.
pub fn check_golden_sse(name: &str, got: &[u8]) {
    let path = expected_path(name);
    if bless() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with LLMO_BLESS=1 to create)", path.display()));
    assert_eq!(
        String::from_utf8_lossy(got),
        String::from_utf8_lossy(&want),
        "golden {name} differs"
    );
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

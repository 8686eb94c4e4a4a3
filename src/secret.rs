//! Secrets: a wrapper that never prints its content, the masking rule used
//! everywhere a key is shown (`sk-...abcd`), and [`scrub`], the one filter
//! every upstream error text passes before it reaches a client.
use std::borrow::Cow;
use std::fmt;

/// A secret string. `Debug` and `Display` print a mask, never the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The real value, for the one place that must send it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Masks a key: keeps a short vendor prefix (up to the first `-`, at most 4
/// characters) and the last 4 characters, e.g. `sk-...abcd`. Keys shorter than
/// 12 characters show no tail at all, so short secrets are not half revealed.
pub fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let prefix: String = match key.find('-') {
        Some(i) if i <= 4 => key[..=i].to_string(),
        _ => String::new(),
    };
    if chars.len() < 12 {
        return format!("{prefix}****");
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}...{tail}")
}

/// What replaces a key or key-like token in [`scrub`]ed text.
pub const REDACTED: &str = "[redacted]";
/// What replaces a URL in [`scrub`]ed text.
pub const URL_REDACTED: &str = "[url]";

/// Scrubs upstream text (an error message, or a whole JSON error body) before
/// a client sees it: every string of `exact` (the provider's key, its base
/// URL; those under 4 characters are ignored), key-like tokens (`sk-…`,
/// `sk-ant-…`, `AIza…` of 20 characters or more), the token after `Bearer `
/// and every `http://` / `https://` URL. Replacements hold no quote or
/// backslash and tokens end at one, so a JSON body stays valid JSON.
pub fn scrub<'a>(text: &'a str, exact: &[&str]) -> Cow<'a, str> {
    let mut out: Cow<'a, str> = Cow::Borrowed(text);
    for s in exact.iter().filter(|s| s.len() >= 4) {
        if out.contains(s) {
            out = Cow::Owned(out.replace(s, REDACTED));
        }
    }
    match scrub_tokens(&out) {
        Some(t) => Cow::Owned(t),
        None => out,
    }
}

/// A character that may continue a key-like token.
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Where a URL or a bearer token ends: whitespace, quotes, brackets.
fn ends_token(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '<' | '>' | '`' | '(' | ')')
}

/// The length of what [`scrub_tokens`] replaces at the start of `tail`, and
/// its replacement, if anything.
fn token_at(tail: &str) -> Option<(usize, &'static str)> {
    let starts = |p: &str| tail.len() >= p.len() && tail[..p.len()].eq_ignore_ascii_case(p);
    if starts("http://") || starts("https://") {
        let mut len = tail.find(ends_token).unwrap_or(tail.len());
        // Sentence punctuation after a URL is not part of it.
        while len > 0 && tail[..len].ends_with(['.', ',', ';', ':', '!', '?']) {
            len -= 1;
        }
        return Some((len, URL_REDACTED));
    }
    if starts("bearer ") {
        let rest = &tail[7..];
        let skip = rest.len() - rest.trim_start_matches(' ').len();
        let token = rest[skip..].find(ends_token).unwrap_or(rest.len() - skip);
        return (token > 0).then_some((7 + skip + token, "Bearer [redacted]"));
    }
    if tail.starts_with("sk-") || tail.starts_with("AIza") {
        let len = tail.find(|c: char| !is_key_char(c)).unwrap_or(tail.len());
        return (len >= 20).then_some((len, REDACTED));
    }
    None
}

/// Replaces URLs, bearer tokens and key-like tokens; `None` when there is
/// none (the common case allocates nothing).
fn scrub_tokens(text: &str) -> Option<String> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut prev: Option<char> = None;
    let mut iter = text.char_indices();
    while let Some((i, c)) = iter.next() {
        let boundary = prev.is_none_or(|p| !is_key_char(p));
        prev = Some(c);
        if !boundary || !matches!(c, 'h' | 'H' | 'b' | 'B' | 's' | 'A') {
            continue;
        }
        let Some((len, with)) = token_at(&text[i..]) else {
            continue;
        };
        let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
        o.push_str(&text[copied..i]);
        o.push_str(with);
        copied = i + len;
        // Skip the replaced token.
        while iter.as_str().len() > text.len() - copied {
            prev = iter.next().map(|(_, c)| c);
        }
    }
    let mut o = out?;
    o.push_str(&text[copied..]);
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_keys_bearer_tokens_and_urls() {
        let cases: [(&str, &[&str], &str); 10] = [
            ("nothing to hide", &[], "nothing to hide"),
            (
                "key plain-secret-42 echoed",
                &["plain-secret-42"],
                "key [redacted] echoed",
            ),
            ("short key abc kept", &["abc"], "short key abc kept"),
            (
                "bad key sk-ant-api03-abcdefghijklmnopqrstuvwxyz, retry",
                &[],
                "bad key [redacted], retry",
            ),
            (
                "Invalid: AIzaSyA1234567890abcdefghijklmnopqrstu",
                &[],
                "Invalid: [redacted]",
            ),
            (
                "task-sk-thing and sk-short",
                &[],
                "task-sk-thing and sk-short",
            ),
            (
                "got Authorization: Bearer tok3n.x/y== here",
                &[],
                "got Authorization: Bearer [redacted] here",
            ),
            (
                "see https://platform.openai.com/account/api-keys.",
                &[],
                "see [url].",
            ),
            (
                "error sending request for url (http://10.1.2.3:8080/v1/chat/completions)",
                &[],
                "error sending request for url ([url])",
            ),
            ("68°F über HTTP/1.1", &[], "68°F über HTTP/1.1"),
        ];
        for (text, exact, want) in cases {
            assert_eq!(scrub(text, exact), want, "{text}");
        }
        // A JSON body stays JSON, the key gone.
        let body = r#"{"error":{"message":"no auth \"Bearer sk-upstream-secret-key-0042\" at http://10.0.0.1/v1","code":null}}"#;
        let s = scrub(body, &["sk-upstream-secret-key-0042", "10.0.0.1/v1"]);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        let m = v["error"]["message"].as_str().unwrap();
        assert!(!m.contains("secret") && !m.contains("10.0.0.1"), "{m}");
        assert!(matches!(scrub("plain", &["key!"]), Cow::Borrowed(_)));
    }

    #[test]
    fn masks_keep_prefix_and_tail_only() {
        assert_eq!(mask("sk-proj-abcdefghijklmnop1234"), "sk-...1234");
        assert_eq!(mask("AIzaSyA-very-long-google-key-9876"), "...9876");
        assert_eq!(mask("short"), "****");
        assert_eq!(mask("sk-short"), "sk-****");
        let s = Secret::new("sk-ant-api03-secretsecret-zzzz");
        assert_eq!(format!("{s}"), "sk-...zzzz");
        assert!(!format!("{s:?}").contains("secretsecret"));
    }
}

//! Secrets: a wrapper that never prints its content, and the masking rule used
//! everywhere a key is shown (`sk-...abcd`).
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

#[cfg(test)]
mod tests {
    use super::*;

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

//! The value parsers the settings table names: each takes the text of an
//! environment variable (or a config-file string) and says what is wrong in
//! words that fit after "is invalid: ".
use std::path::PathBuf;
use std::time::Duration;

/// Parses a size: `10MiB`, `512KiB`, `1MB`, `2048` (bytes).
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size; write e.g. `10MiB` or a number of bytes"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1024 * 1024,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
                "unknown size unit `{other}`; use B, KiB, MiB or GiB"
            ))
        }
    };
    let v = n.saturating_mul(mult);
    if v == 0 {
        return Err("size must be greater than 0".into());
    }
    Ok(v)
}

/// A size in the config file: a positive integer (bytes) or a string.
pub(super) fn parse_file_size(v: &toml::Value) -> Result<u64, String> {
    match v {
        toml::Value::Integer(i) if *i > 0 => Ok(*i as u64),
        toml::Value::String(s) => parse_size(s),
        _ => Err("expected a size such as \"10MiB\" or a positive number of bytes".to_string()),
    }
}

pub(super) fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

pub(super) fn parse_u32(s: &str) -> Result<u32, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a non-negative whole number"))
}

/// A count that must be at least 1 (a circuit that opens after 0 failures
/// would never close).
pub(super) fn parse_count(s: &str) -> Result<u32, String> {
    at_least_one(parse_u32(s)?)
}

pub(super) fn at_least_one(n: u32) -> Result<u32, String> {
    match n {
        0 => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

/// A duration that must be greater than 0 (`30s`, `1500ms`).
pub(crate) fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = crate::time::parse_duration(s)?;
    if d.is_zero() {
        return Err("must be greater than 0".into());
    }
    Ok(d)
}

pub(super) fn parse_listen(s: &str) -> Result<String, String> {
    s.parse::<std::net::SocketAddr>()
        .map(|a| a.to_string())
        .map_err(|_| {
            format!("`{s}` is not an address; write e.g. `127.0.0.1:8000` or `0.0.0.0:8000`")
        })
}

pub(super) fn parse_db_path(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(PathBuf::from(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("2048"), Ok(2048));
        assert!(parse_size("0").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }
}

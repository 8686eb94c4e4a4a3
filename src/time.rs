//! Time helpers: the store keeps Unix epoch milliseconds; people read RFC 3339.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// RFC 3339 (UTC, seconds) for an epoch-millisecond timestamp.
pub fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A compact UTC stamp for file names: `20261127T172300Z`.
pub fn file_stamp(ms: i64) -> String {
    rfc3339(ms).replace(['-', ':'], "")
}

/// Parses a duration as people write it: `30s`, `1500ms`, `2m`, or a bare
/// number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. `30s`, `1500ms` or `2m`"))
}

/// Formats milliseconds the way `parse_duration` reads them back.
pub fn format_ms(ms: i64) -> String {
    if ms % 60_000 == 0 && ms >= 60_000 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(format_ms(120_000), "2m");
        assert_eq!(format_ms(30_000), "30s");
        assert_eq!(format_ms(1500), "1500ms");
        assert_eq!(file_stamp(0), "19700101T000000Z");
    }
}

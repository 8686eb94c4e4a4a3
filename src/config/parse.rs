//! The value parsers the settings table names: each takes the text of an
//! environment variable (or a config-file string) and says what is wrong in
//! words that fit after "is invalid: ".
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

/// A bytes-per-second rate: a whole number, 0 for none.
pub(super) fn parse_rate(s: &str) -> Result<u64, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of bytes per second (0: no minimum)"))
}

/// The proxies whose `X-Forwarded-For` is believed (`trusted_proxies`):
/// addresses and CIDR ranges. Empty by default: the client's address is the
/// connection's peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(std::net::IpAddr, u8)>);

impl TrustedProxies {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `ip` is one of the proxies or inside one of the ranges.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        // An IPv4-mapped IPv6 peer (`::ffff:10.0.0.1`) is the IPv4 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|(net, bits)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), *bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), *bits),
            _ => false,
        })
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = (usize::from(bits / 8), bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0
}

impl std::str::FromStr for TrustedProxies {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_trusted_proxies(s)
    }
}

impl std::fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none (the peer address is the client)");
        }
        for (i, (ip, bits)) in self.0.iter().enumerate() {
            let full = if ip.is_ipv4() { 32 } else { 128 };
            let sep = if i > 0 { ", " } else { "" };
            if *bits == full {
                write!(f, "{sep}{ip}")?;
            } else {
                write!(f, "{sep}{ip}/{bits}")?;
            }
        }
        Ok(())
    }
}

/// `10.0.0.1, 10.1.0.0/16, fd00::/8`: addresses or CIDR ranges, separated
/// by commas or spaces.
pub(crate) fn parse_trusted_proxies(s: &str) -> Result<TrustedProxies, String> {
    let items: Vec<&str> = s
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .collect();
    parse_proxy_list(&items)
}

/// The items of `trusted_proxies`, each an address or a CIDR range.
pub(super) fn parse_proxy_list(items: &[&str]) -> Result<TrustedProxies, String> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let bad = || {
            format!("`{item}` is not an IP address or CIDR range (e.g. `10.0.0.1` or `10.0.0.0/8`)")
        };
        let (addr, bits) = match item.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (*item, None),
        };
        let ip: std::net::IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let full = if ip.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => full,
            Some(b) => b
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= full)
                .ok_or_else(bad)?,
        };
        out.push((ip, bits));
    }
    Ok(TrustedProxies(out))
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

    #[test]
    fn trusted_proxies_hold_addresses_and_ranges() {
        let t = parse_trusted_proxies("10.0.0.1, 192.168.0.0/16 fd00::/8").unwrap();
        let has = |s: &str| t.contains(s.parse().unwrap());
        assert!(has("10.0.0.1") && !has("10.0.0.2"));
        assert!(has("192.168.44.7") && !has("192.169.0.1"));
        assert!(has("fd12::1") && !has("fe80::1"));
        assert!(
            has("::ffff:10.0.0.1"),
            "an IPv4-mapped peer is its IPv4 address"
        );
        assert_eq!(t.to_string(), "10.0.0.1, 192.168.0.0/16, fd00::/8");
        let t = parse_trusted_proxies("10.1.2.0/23").unwrap();
        assert!(t.contains("10.1.3.255".parse().unwrap()));
        assert!(!t.contains("10.1.4.0".parse().unwrap()));
        assert!(parse_trusted_proxies("").unwrap().is_empty());
        for bad in ["10.0.0.0/33", "example.com", "10.0.0.1/x"] {
            let e = parse_trusted_proxies(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }
}

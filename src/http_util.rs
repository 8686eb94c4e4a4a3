//! Small HTTP helpers shared across the servers (the gateway's `/v1` API
//! and the admin API): percent-decoding of a URL path segment, the one
//! `Authorization: Bearer` parser (and the `/v1` API's client key: Bearer
//! or Anthropic's `x-api-key`), the client's address behind trusted proxies, and the bounded read of a request body (size, deadline and
//! minimum rate).
//!
//! Path segments and query strings decode differently: in a path `+` is a
//! plus and a malformed escape is kept as written (the segment names a
//! thing, e.g. a model `meta%2Fllama`); a query component
//! (`application/x-www-form-urlencoded`) reads `+` as a space and rejects a
//! malformed escape (that is the admin API's own `percent_decode`).
use std::net::IpAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

/// A path segment with `%XX` escapes decoded: a malformed escape is kept as
/// written, `+` stays a plus, and invalid UTF-8 is replaced (U+FFFD).
pub(crate) fn decode_path_segment(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What an `Authorization` header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bearer<'a> {
    /// No `Authorization` header.
    Missing,
    /// A header that is not `Bearer <token>` (another scheme, no token).
    Malformed,
    Token(&'a str),
}

/// The token of `Authorization: Bearer <token>`. The scheme is
/// case-insensitive (RFC 9110 §11.1: `bearer`, `BEARER`), the token is
/// trimmed. The one parser of both APIs.
pub(crate) fn bearer(headers: &http::HeaderMap) -> Bearer<'_> {
    let Some(v) = headers.get(http::header::AUTHORIZATION) else {
        return Bearer::Missing;
    };
    v.to_str()
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.trim_start().split_once([' ', '\t'])?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .map_or(Bearer::Malformed, Bearer::Token)
}

/// The client key of a `/v1` request: `Authorization: Bearer <key>` (the
/// OpenAI SDKs), else `x-api-key: <key>` (the Anthropic SDK and Claude
/// Code). The same keys either way; a present `Authorization` wins.
pub(crate) fn client_key(headers: &http::HeaderMap) -> Bearer<'_> {
    match bearer(headers) {
        Bearer::Missing => match headers.get("x-api-key") {
            None => Bearer::Missing,
            Some(v) => v
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map_or(Bearer::Malformed, Bearer::Token),
        },
        other => other,
    }
}

/// The client's address: the connection's `peer`, unless the peer is a
/// trusted proxy; then the right-most `X-Forwarded-For` hop that is not a
/// trusted proxy (hops to its left could be written by anyone). A hop that
/// is not an address ends the walk at the last address known.
pub(crate) fn client_addr(
    peer: IpAddr,
    headers: &http::HeaderMap,
    trusted: &crate::config::TrustedProxies,
) -> IpAddr {
    if trusted.is_empty() || !trusted.contains(peer) {
        return peer;
    }
    // Several headers count as one list, in order.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    client
}

/// How a request body's read is bounded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyBounds {
    /// Most bytes (by `Content-Length` up front, and while reading).
    pub limit: u64,
    /// The whole body must have arrived within this time.
    pub timeout: Duration,
    /// Bytes per second the body must average once `grace` has passed;
    /// 0 for none.
    pub min_rate: u64,
    pub grace: Duration,
}

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    TooLarge {
        limit: u64,
    },
    /// Too slow: the deadline passed, or the rate fell below the minimum.
    /// The message says which, and what arrived.
    Slow(String),
    /// The connection failed mid-body.
    Read(String),
}

/// Reads a whole request body within `b`: more than `b.limit` bytes is
/// `TooLarge` (by `declared` up front), a body not complete within
/// `b.timeout`, or averaging less than `b.min_rate` bytes/s after
/// `b.grace`, is `Slow` (the caller answers 408 and closes the connection).
pub(crate) async fn read_body<B>(
    mut body: B,
    declared: Option<u64>,
    b: &BodyBounds,
) -> Result<Bytes, BodyError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    use http_body_util::BodyExt;
    if declared.is_some_and(|n| n > b.limit) {
        return Err(BodyError::TooLarge { limit: b.limit });
    }
    let start = tokio::time::Instant::now();
    let deadline = start + b.timeout;
    let mut first: Option<Bytes> = None;
    let mut acc: Option<BytesMut> = None;
    let mut len: u64 = 0;
    loop {
        // When the bytes so far stop meeting the minimum rate.
        let rate_due = (b.min_rate > 0).then(|| {
            start
                + b.grace
                    .max(Duration::from_secs_f64(len as f64 / b.min_rate as f64))
        });
        let wake = rate_due.map_or(deadline, |r| r.min(deadline));
        let frame = match tokio::time::timeout_at(wake, body.frame()).await {
            Ok(Some(f)) => f.map_err(|e| BodyError::Read(e.to_string()))?,
            Ok(None) => break,
            Err(_) => return Err(slow(b, len, declared, wake < deadline, start.elapsed())),
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        len += data.len() as u64;
        if len > b.limit {
            return Err(BodyError::TooLarge { limit: b.limit });
        }
        match (&mut first, &mut acc) {
            (None, None) => first = Some(data),
            (Some(f), None) => {
                let mut m = BytesMut::with_capacity(declared.unwrap_or(0).max(len) as usize);
                m.extend_from_slice(f);
                m.extend_from_slice(&data);
                acc = Some(m);
            }
            (_, Some(m)) => m.extend_from_slice(&data),
        }
    }
    Ok(match acc {
        Some(m) => m.freeze(),
        None => first.unwrap_or_default(),
    })
}

fn slow(
    b: &BodyBounds,
    len: u64,
    declared: Option<u64>,
    by_rate: bool,
    took: Duration,
) -> BodyError {
    let of = declared.map(|n| format!(" of {n}")).unwrap_or_default();
    let secs = |d: Duration| crate::time::format_ms(d.as_millis() as i64);
    BodyError::Slow(if by_rate {
        format!(
            "the request body arrived too slowly: {len}{of} bytes in {}; at least {} bytes/s are required after the first {} (request_body_min_rate)",
            secs(took),
            b.min_rate,
            secs(b.grace)
        )
    } else {
        format!(
            "the request body did not arrive within {} (request_body_timeout): {len}{of} bytes received",
            secs(b.timeout)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_are_percent_decoded() {
        assert_eq!(decode_path_segment("meta%2Fllama"), "meta/llama");
        assert_eq!(decode_path_segment("plain"), "plain");
        assert_eq!(decode_path_segment("bad%zz"), "bad%zz");
        assert_eq!(decode_path_segment("end%2"), "end%2");
        assert_eq!(decode_path_segment("a+b"), "a+b");
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let h = |v: &str| {
            let mut m = http::HeaderMap::new();
            m.insert(http::header::AUTHORIZATION, v.parse().unwrap());
            m
        };
        for v in [
            "Bearer k1",
            "bearer k1",
            "BEARER k1",
            "BeArEr   k1 ",
            "Bearer\tk1",
        ] {
            assert_eq!(bearer(&h(v)), Bearer::Token("k1"), "{v}");
        }
        for v in ["Basic k1", "k1", "Bearer ", "Bearerk1"] {
            assert_eq!(bearer(&h(v)), Bearer::Malformed, "{v}");
        }
        assert_eq!(bearer(&http::HeaderMap::new()), Bearer::Missing);
    }

    #[test]
    fn x_api_key_is_a_client_key_when_there_is_no_authorization() {
        let mut h = http::HeaderMap::new();
        assert_eq!(client_key(&h), Bearer::Missing);
        h.insert("x-api-key", " llmo-abc ".parse().unwrap());
        assert_eq!(client_key(&h), Bearer::Token("llmo-abc"));
        h.insert(
            http::header::AUTHORIZATION,
            "Bearer llmo-xyz".parse().unwrap(),
        );
        assert_eq!(client_key(&h), Bearer::Token("llmo-xyz"));
        h.remove(http::header::AUTHORIZATION);
        h.insert("x-api-key", "".parse().unwrap());
        assert_eq!(client_key(&h), Bearer::Malformed);
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_hop_behind_a_trusted_proxy() {
        let trusted = crate::config::parse_trusted_proxies("10.0.0.0/8").unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let xff = |vals: &[&str]| {
            let mut m = http::HeaderMap::new();
            for v in vals {
                m.append("x-forwarded-for", v.parse().unwrap());
            }
            m
        };
        let proxy = ip("10.0.0.5");
        let h = xff(&["6.6.6.6, 203.0.113.9, 10.0.0.7"]);
        assert_eq!(client_addr(proxy, &h, &trusted), ip("203.0.113.9"));
        // Two headers are one list.
        let h = xff(&["6.6.6.6", "203.0.113.9"]);
        assert_eq!(client_addr(proxy, &h, &trusted), ip("203.0.113.9"));
        // From an untrusted peer, or with no proxies configured: the peer.
        assert_eq!(
            client_addr(ip("198.51.100.1"), &h, &trusted),
            ip("198.51.100.1")
        );
        let none = crate::config::TrustedProxies::default();
        assert_eq!(client_addr(proxy, &h, &none), proxy);
        // No header, or garbage: the last address known.
        assert_eq!(client_addr(proxy, &xff(&[]), &trusted), proxy);
        assert_eq!(
            client_addr(proxy, &xff(&["junk, 10.0.0.9"]), &trusted),
            ip("10.0.0.9")
        );
    }
}

//! Admin-key authentication: the key is kept only as a SHA-256 digest and
//! compared in constant time, and an address that keeps sending wrong keys
//! is slowed down ([`FailureLimiter`]): its wrong keys get 429 for a while,
//! the right key always passes. The address is the client's as the gateway
//! sees it (`X-Forwarded-For` only from `trusted_proxies`).
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{Admin, AdminRequest, AdminResponse, DISABLED_MESSAGE};
use crate::http_util::{bearer, Bearer};

impl Admin {
    pub(super) fn authenticate(&self, req: &AdminRequest) -> Result<(), AdminResponse> {
        let Some(expected) = &self.key_digest else {
            return Err(AdminResponse::error(
                503,
                "admin_disabled",
                DISABLED_MESSAGE,
                None,
                None,
            ));
        };
        let presented = match bearer(&req.headers) {
            Bearer::Token(t) => t,
            Bearer::Missing => {
                return Err(AdminResponse::error(
                    401,
                    "authentication_error",
                    "missing admin key: send `Authorization: Bearer <admin key>`",
                    None,
                    Some("missing_admin_key"),
                ))
            }
            Bearer::Malformed => {
                return Err(AdminResponse::error(
                    401,
                    "authentication_error",
                    "malformed Authorization header: expected `Bearer <admin key>`",
                    None,
                    Some("missing_admin_key"),
                ))
            }
        };
        // The right key always passes, even from an address being slowed
        // down (behind a proxy, everyone shares one): only wrong keys are
        // slowed, so nobody can lock the operator out. It does not clear
        // the address's record either, or a guesser sharing the operator's
        // address would get a fresh round with every page the UI loads.
        if constant_time_eq(&sha256(presented.as_bytes()), expected) {
            return Ok(());
        }
        let now = Instant::now();
        let mut limiter = self.lock_limiter();
        if let Some(wait) = limiter.blocked_for(req.peer, now) {
            return Err(too_many(wait));
        }
        let failures = limiter.failed(req.peer, now);
        drop(limiter);
        // Never the key, not even masked: a near-miss would leak characters.
        tracing::warn!(peer = %req.peer, failures, path = %req.path, "admin API: wrong admin key");
        Err(AdminResponse::error(
            401,
            "authentication_error",
            "wrong admin key",
            None,
            Some("invalid_admin_key"),
        ))
    }

    fn lock_limiter(&self) -> std::sync::MutexGuard<'_, FailureLimiter> {
        self.limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn too_many(wait: Duration) -> AdminResponse {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut r = AdminResponse::error(
        429,
        "rate_limit_error",
        format!("too many wrong admin keys from this address; retry in {secs} s"),
        None,
        Some("too_many_auth_failures"),
    );
    r.headers.push(("retry-after", secs.to_string()));
    r
}

pub(super) fn sha256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

/// Compares two digests in time independent of where they differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// Addresses tracked at most (the map never grows past this).
pub(super) const LIMITER_CAPACITY: usize = 4096;
/// Wrong keys within [`FAILURE_WINDOW`] that trigger a block.
const MAX_FAILURES: u32 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
const FIRST_BLOCK: Duration = Duration::from_secs(5);
const MAX_BLOCK: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy)]
struct Failures {
    window_start: Instant,
    count: u32,
    /// Blocks so far; each doubles the next one.
    strikes: u32,
    blocked_until: Option<Instant>,
    last_seen: Instant,
}

/// Slows down guessing: after [`MAX_FAILURES`] wrong keys from one address
/// within a minute, that address gets 429 for 5 s, then 10 s, 20 s, ... (at
/// most 15 min) on each further round of failures. Bounded: when full, the
/// entries idle longest make room.
#[derive(Debug)]
pub(super) struct FailureLimiter {
    map: HashMap<IpAddr, Failures>,
    capacity: usize,
}

impl FailureLimiter {
    pub(super) fn new(capacity: usize) -> Self {
        FailureLimiter {
            map: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// How long `ip` must still wait, if it is blocked.
    fn blocked_for(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let until = self.map.get(&ip)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a wrong key; returns the failures in the current window.
    fn failed(&mut self, ip: IpAddr, now: Instant) -> u32 {
        if !self.map.contains_key(&ip) && self.map.len() >= self.capacity {
            self.evict(now);
        }
        let e = self.map.entry(ip).or_insert(Failures {
            window_start: now,
            count: 0,
            strikes: 0,
            blocked_until: None,
            last_seen: now,
        });
        if now.duration_since(e.window_start) > FAILURE_WINDOW {
            e.window_start = now;
            e.count = 0;
        }
        e.count += 1;
        e.last_seen = now;
        let count = e.count;
        if e.count >= MAX_FAILURES {
            let factor = 1u32 << e.strikes.min(16);
            e.blocked_until = Some(now + (FIRST_BLOCK * factor).min(MAX_BLOCK));
            e.strikes += 1;
            e.count = 0;
            e.window_start = now;
        }
        count
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }

    fn evict(&mut self, now: Instant) {
        // First drop everything that no longer matters; if the map is still
        // full, the address idle longest goes.
        self.map.retain(|_, f| {
            f.blocked_until.is_some_and(|u| u > now)
                || now.duration_since(f.last_seen) <= FAILURE_WINDOW
        });
        if self.map.len() >= self.capacity {
            if let Some(ip) = self
                .map
                .iter()
                .min_by_key(|(_, f)| f.last_seen)
                .map(|(ip, _)| *ip)
            {
                self.map.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_block_with_growing_waits() {
        let mut l = FailureLimiter::new(16);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        for i in 1..=4 {
            assert_eq!(l.failed(ip, t0), i);
            assert!(l.blocked_for(ip, t0).is_none());
        }
        l.failed(ip, t0);
        assert_eq!(l.blocked_for(ip, t0), Some(Duration::from_secs(5)));
        // Another round after the block: twice as long.
        let t1 = t0 + Duration::from_secs(6);
        assert!(l.blocked_for(ip, t1).is_none());
        for _ in 0..5 {
            l.failed(ip, t1);
        }
        assert_eq!(l.blocked_for(ip, t1), Some(Duration::from_secs(10)));
        // Other addresses are not affected.
        assert!(l.blocked_for("192.0.2.8".parse().unwrap(), t1).is_none());
    }

    #[test]
    fn failures_spread_over_minutes_do_not_block() {
        let mut l = FailureLimiter::new(16);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..20 {
            let t = t0 + Duration::from_secs(61 * i);
            l.failed(ip, t);
            assert!(l.blocked_for(ip, t).is_none());
        }
    }

    #[test]
    fn the_map_stays_bounded() {
        let mut l = FailureLimiter::new(8);
        let t0 = Instant::now();
        for i in 0..1000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            l.failed(ip, t0 + Duration::from_millis(u64::from(i)));
            assert!(l.len() <= 8);
        }
    }

    #[test]
    fn digests_compare_equal_only_when_equal() {
        let a = sha256(b"llmo-admin-one");
        assert!(constant_time_eq(&a, &sha256(b"llmo-admin-one")));
        assert!(!constant_time_eq(&a, &sha256(b"llmo-admin-two")));
    }
}

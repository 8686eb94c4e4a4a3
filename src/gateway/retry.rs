//! The retry and failover policy: after an attempt at a provider failed,
//! whether to try the same provider again (and after how long), move on to
//! the next candidate, or give up and answer the client with the upstream's
//! refusal. One predicate, [`UpstreamError::is_retryable`], decides what is
//! worth another attempt.
//!
//! Pure: no clock and no sleeping here (`proxy::route` waits), and the
//! backoff's random jitter is passed in, so the tests are exact.
use std::time::Duration;

use super::providers::UpstreamError;

/// Longest upstream `Retry-After` the gateway waits out; longer ones fail
/// over to the next candidate instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
const BACKOFF_BASE_MS: u64 = 50;
const BACKOFF_CAP_MS: u64 = 2_000;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Try the same provider again after this wait.
    Retry(Duration),
    /// Leave this provider; try the next candidate.
    Failover,
    /// The upstream is up and refused this request itself (a 4xx that is
    /// not worth retrying): no other provider will think differently, so
    /// the client gets that answer.
    GiveUp,
}

/// One provider's retry budget within one request.
#[derive(Debug)]
pub(crate) struct RetryPolicy {
    max_retries: u32,
    retries: u32,
}

impl RetryPolicy {
    pub(crate) fn new(max_retries: u32) -> Self {
        RetryPolicy {
            max_retries,
            retries: 0,
        }
    }

    /// Retries made so far.
    pub(crate) fn retries(&self) -> u32 {
        self.retries
    }

    /// What to do after an attempt failed with `error`. `draw(max)` is a
    /// uniform random number in `0..=max` (the backoff's jitter).
    pub(crate) fn after(&mut self, error: &UpstreamError, draw: impl FnOnce(u64) -> u64) -> Next {
        if error.is_retryable() {
            if self.retries >= self.max_retries {
                return Next::Failover;
            }
            let wait = match error.retry_after() {
                Some(ra) if ra <= MAX_RETRY_AFTER => ra,
                Some(_) => return Next::Failover,
                None => backoff(self.retries, draw),
            };
            self.retries += 1;
            return Next::Retry(wait);
        }
        match error {
            UpstreamError::Status { .. } => Next::GiveUp,
            // llmo's own account problem at this provider (`Unservable`):
            // the next candidate may not share it.
            _ => Next::Failover,
        }
    }
}

/// `50 ms * 2^n`, ±50 % jitter, capped.
fn backoff(n: u32, draw: impl FnOnce(u64) -> u64) -> Duration {
    let base = BACKOFF_BASE_MS
        .saturating_mul(1u64 << n.min(16))
        .min(BACKOFF_CAP_MS);
    let jitter = draw(base).min(base);
    Duration::from_millis(base / 2 + jitter)
}

/// The jitter of a real request.
pub(crate) fn random_draw(max: u64) -> u64 {
    fastrand::u64(0..=max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn status(status: u16, retry_after: Option<Duration>) -> UpstreamError {
        UpstreamError::Status {
            status,
            retry_after,
            message: String::new(),
            body: Bytes::new(),
        }
    }

    const LOW: fn(u64) -> u64 = |_| 0;
    const HIGH: fn(u64) -> u64 = |max| max;

    #[test]
    fn backoff_grows_jittered_and_capped() {
        assert_eq!(backoff(0, LOW), Duration::from_millis(25));
        assert_eq!(backoff(0, HIGH), Duration::from_millis(75));
        assert_eq!(backoff(3, LOW), Duration::from_millis(200));
        assert_eq!(backoff(3, HIGH), Duration::from_millis(600));
        assert_eq!(backoff(30, HIGH), Duration::from_millis(3000));
        assert_eq!(backoff(0, |_| u64::MAX), Duration::from_millis(75));
        for _ in 0..100 {
            let b0 = backoff(0, random_draw).as_millis();
            assert!((25..=75).contains(&b0), "{b0}");
            let b3 = backoff(3, random_draw).as_millis();
            assert!((200..=600).contains(&b3), "{b3}");
            assert!(backoff(30, random_draw).as_millis() <= 3000);
        }
    }

    #[test]
    fn transient_failures_retry_with_growing_backoff_then_fail_over() {
        let mut p = RetryPolicy::new(2);
        for e in [
            UpstreamError::Connect("refused".into()),
            UpstreamError::Timeout(1000),
        ] {
            let mut p = RetryPolicy::new(1);
            assert_eq!(p.after(&e, LOW), Next::Retry(Duration::from_millis(25)));
            assert_eq!(p.after(&e, LOW), Next::Failover);
        }
        let e = UpstreamError::Broken("cut".into());
        assert_eq!(p.after(&e, HIGH), Next::Retry(Duration::from_millis(75)));
        assert_eq!(p.after(&e, HIGH), Next::Retry(Duration::from_millis(150)));
        assert_eq!(p.after(&e, HIGH), Next::Failover);
        assert_eq!(
            RetryPolicy::new(0).after(&status(503, None), LOW),
            Next::Failover
        );
    }

    #[test]
    fn retryable_statuses_wait_out_a_short_retry_after_only() {
        for s in [408, 409, 425, 429, 500, 502, 503, 529] {
            let mut p = RetryPolicy::new(3);
            assert_eq!(
                p.after(&status(s, None), LOW),
                Next::Retry(Duration::from_millis(25)),
                "{s}"
            );
        }
        let mut p = RetryPolicy::new(3);
        let soon = status(429, Some(Duration::from_secs(2)));
        assert_eq!(p.after(&soon, HIGH), Next::Retry(Duration::from_secs(2)));
        let at_limit = status(429, Some(MAX_RETRY_AFTER));
        assert_eq!(p.after(&at_limit, HIGH), Next::Retry(MAX_RETRY_AFTER));
        let late = status(429, Some(MAX_RETRY_AFTER + Duration::from_millis(1)));
        assert_eq!(p.after(&late, HIGH), Next::Failover);
    }

    #[test]
    fn client_errors_give_up_and_account_errors_fail_over() {
        for s in [400, 401, 403, 404, 413, 422] {
            assert_eq!(
                RetryPolicy::new(3).after(&status(s, None), LOW),
                Next::GiveUp,
                "{s}"
            );
        }
        let account = UpstreamError::Unservable {
            status: 502,
            message: "bad key".into(),
            body: Bytes::new(),
        };
        assert_eq!(RetryPolicy::new(3).after(&account, LOW), Next::Failover);
    }
}

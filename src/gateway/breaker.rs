//! The circuit breaker: per-provider live state that outlives catalog
//! reloads (circuit, the provider's request-rate window, success counts for
//! the last five minutes), behind one short `std` mutex that is never held
//! across an `.await`. The admission of an attempt checks the circuit and
//! the rate window under that one lock.
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::rate::{lock, RateWindow};
use super::recorder::CircuitState as State;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Circuit {
    Closed,
    Open { until: Instant },
    HalfOpen { trial_in_flight: bool },
}

/// A circuit state change to report (outside the lock).
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub state: State,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_success_ms: Option<i64>,
}

/// Why a provider cannot take a request right now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Refusal {
    RateLimited(Duration),
    CircuitOpen(Duration),
}

#[derive(Debug, Clone, Copy, Default)]
struct Minute {
    minute: i64,
    ok: u32,
    total: u32,
}

#[derive(Debug)]
struct Inner {
    circuit: Circuit,
    consecutive_failures: u32,
    last_error: Option<String>,
    last_success_ms: Option<i64>,
    rate: RateWindow,
    minutes: [Minute; 5],
}

/// Live state of one provider.
#[derive(Debug)]
pub(crate) struct ProviderLive {
    inner: Mutex<Inner>,
}

/// The thresholds, from settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BreakerConfig {
    pub failures: u32,
    pub cooldown: Duration,
}

/// What `/ready` shows for a provider.
#[derive(Debug, Clone)]
pub(crate) struct HealthView {
    pub state: State,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_success_ms: Option<i64>,
    pub success_rate_5m: Option<f64>,
}

impl Default for ProviderLive {
    fn default() -> Self {
        ProviderLive {
            inner: Mutex::new(Inner {
                circuit: Circuit::Closed,
                consecutive_failures: 0,
                last_error: None,
                last_success_ms: None,
                rate: RateWindow::default(),
                minutes: [Minute::default(); 5],
            }),
        }
    }
}

impl Inner {
    fn change(&self, state: State) -> Change {
        Change {
            state,
            consecutive_failures: self.consecutive_failures,
            last_error: self.last_error.clone(),
            last_success_ms: self.last_success_ms,
        }
    }

    fn count(&mut self, now_ms: i64, ok: bool) {
        let minute = now_ms / 60_000;
        let slot = &mut self.minutes[(minute.rem_euclid(5)) as usize];
        if slot.minute != minute {
            *slot = Minute {
                minute,
                ok: 0,
                total: 0,
            };
        }
        slot.total += 1;
        if ok {
            slot.ok += 1;
        }
    }
}

impl ProviderLive {
    pub(crate) fn set_rpm(&self, rpm: u32) {
        lock(&self.inner).rate.set_rpm(rpm);
    }

    /// Cheap check used while picking: false while the circuit is open (and
    /// its cooldown not over) or a half-open trial is already running.
    pub(crate) fn may_try(&self, now: Instant) -> bool {
        match lock(&self.inner).circuit {
            Circuit::Closed => true,
            Circuit::Open { until } => now >= until,
            Circuit::HalfOpen { trial_in_flight } => !trial_in_flight,
        }
    }

    /// Admits one attempt: circuit first, then the rate window. An open
    /// circuit whose cooldown is over turns half-open and this attempt is
    /// its one trial.
    pub(crate) fn acquire(&self, now: Instant) -> (Result<(), Refusal>, Option<Change>) {
        let mut g = lock(&self.inner);
        let mut change = None;
        match g.circuit {
            Circuit::Closed => {}
            Circuit::Open { until } if now < until => {
                return (Err(Refusal::CircuitOpen(until - now)), None);
            }
            Circuit::Open { .. } => {
                g.circuit = Circuit::HalfOpen {
                    trial_in_flight: false,
                };
                change = Some(g.change(State::HalfOpen));
            }
            Circuit::HalfOpen {
                trial_in_flight: true,
            } => return (Err(Refusal::CircuitOpen(Duration::from_secs(1))), None),
            Circuit::HalfOpen { .. } => {}
        }
        if let Err(wait) = g.rate.try_acquire(now) {
            return (Err(Refusal::RateLimited(wait)), change);
        }
        if let Circuit::HalfOpen { .. } = g.circuit {
            g.circuit = Circuit::HalfOpen {
                trial_in_flight: true,
            };
        }
        (Ok(()), change)
    }

    /// Admits one attempt as far as the circuit goes (as [`Self::acquire`]
    /// does, the half-open trial taken at once), leaving the rate window to
    /// the caller: the provider's limit (0 = none) comes back, to be checked
    /// in the shared window ([`super::shared_limits`]) or, when that cannot
    /// answer, with [`Self::take_rate`]. A refusal then gives the trial
    /// back with [`Self::abandon`].
    pub(crate) fn acquire_circuit(&self, now: Instant) -> (Result<u32, Refusal>, Option<Change>) {
        let mut g = lock(&self.inner);
        let mut change = None;
        match g.circuit {
            Circuit::Closed => return (Ok(g.rate.rpm()), None),
            Circuit::Open { until } if now < until => {
                return (Err(Refusal::CircuitOpen(until - now)), None);
            }
            Circuit::HalfOpen {
                trial_in_flight: true,
            } => return (Err(Refusal::CircuitOpen(Duration::from_secs(1))), None),
            Circuit::Open { .. } => change = Some(g.change(State::HalfOpen)),
            Circuit::HalfOpen { .. } => {}
        }
        g.circuit = Circuit::HalfOpen {
            trial_in_flight: true,
        };
        (Ok(g.rate.rpm()), change)
    }

    /// The local rate window alone (after [`Self::acquire_circuit`]).
    pub(crate) fn take_rate(&self, now: Instant) -> Result<(), Duration> {
        lock(&self.inner).rate.try_acquire(now)
    }

    /// An admission the shared window made, noted locally (see
    /// [`super::rate::RateWindow::note`]).
    pub(crate) fn note_rate(&self, now: Instant) {
        lock(&self.inner).rate.note(now);
    }

    /// The provider answered (success, or a client error that proves it
    /// is up): closes a half-open circuit.
    pub(crate) fn on_success(&self, now_ms: i64) -> Option<Change> {
        let mut g = lock(&self.inner);
        g.consecutive_failures = 0;
        g.last_success_ms = Some(now_ms);
        g.count(now_ms, true);
        if g.circuit != Circuit::Closed {
            g.circuit = Circuit::Closed;
            return Some(g.change(State::Closed));
        }
        None
    }

    /// A failed attempt: opens the circuit after `cfg.failures` in a row, or
    /// at once when a half-open trial fails.
    pub(crate) fn on_failure(
        &self,
        now: Instant,
        now_ms: i64,
        error: &str,
        cfg: BreakerConfig,
    ) -> Option<Change> {
        let mut g = lock(&self.inner);
        g.consecutive_failures = g.consecutive_failures.saturating_add(1);
        g.last_error = Some(error.to_string());
        g.count(now_ms, false);
        let open = match g.circuit {
            Circuit::HalfOpen { .. } => true,
            Circuit::Closed => g.consecutive_failures >= cfg.failures,
            Circuit::Open { .. } => false,
        };
        if open {
            g.circuit = Circuit::Open {
                until: now + cfg.cooldown,
            };
            return Some(g.change(State::Open));
        }
        None
    }

    /// How long until an open circuit lets a trial through (`None` when
    /// closed).
    pub(crate) fn open_remaining(&self, now: Instant) -> Option<Duration> {
        match lock(&self.inner).circuit {
            Circuit::Closed => None,
            Circuit::Open { until } => Some(until.saturating_duration_since(now)),
            Circuit::HalfOpen { .. } => Some(Duration::from_secs(1)),
        }
    }

    /// An admitted attempt that never finished (the client went away):
    /// frees the half-open trial slot without judging the provider.
    pub(crate) fn abandon(&self) {
        let mut g = lock(&self.inner);
        if let Circuit::HalfOpen { .. } = g.circuit {
            g.circuit = Circuit::HalfOpen {
                trial_in_flight: false,
            };
        }
    }

    pub(crate) fn view(&self, now: Instant, now_ms: i64) -> HealthView {
        let g = lock(&self.inner);
        let state = match g.circuit {
            Circuit::Closed => State::Closed,
            Circuit::Open { until } if now < until => State::Open,
            Circuit::Open { .. } | Circuit::HalfOpen { .. } => State::HalfOpen,
        };
        let current = now_ms / 60_000;
        let (ok, total) = g
            .minutes
            .iter()
            .filter(|m| current - m.minute < 5)
            .fold((0u64, 0u64), |(o, t), m| {
                (o + u64::from(m.ok), t + u64::from(m.total))
            });
        HealthView {
            state,
            consecutive_failures: g.consecutive_failures,
            last_error: g.last_error.clone(),
            last_success_ms: g.last_success_ms,
            success_rate_5m: (total > 0).then(|| ok as f64 / total as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_half_opens_and_closes() {
        let cfg = BreakerConfig {
            failures: 2,
            cooldown: Duration::from_secs(30),
        };
        let p = ProviderLive::default();
        let t0 = Instant::now();
        assert!(p.acquire(t0).0.is_ok());
        assert!(p.on_failure(t0, 0, "boom", cfg).is_none());
        let ch = p.on_failure(t0, 0, "boom", cfg).unwrap();
        assert_eq!(ch.state, State::Open);
        assert_eq!(ch.consecutive_failures, 2);
        assert!(!p.may_try(t0 + Duration::from_secs(1)));
        assert!(matches!(
            p.acquire(t0 + Duration::from_secs(1)).0,
            Err(Refusal::CircuitOpen(_))
        ));
        // cooldown over: one trial only
        let t1 = t0 + Duration::from_secs(31);
        assert!(p.may_try(t1));
        let (r, ch) = p.acquire(t1);
        assert!(r.is_ok());
        assert_eq!(ch.unwrap().state, State::HalfOpen);
        assert!(!p.may_try(t1));
        assert!(p.acquire(t1).0.is_err());
        // failed trial reopens
        assert_eq!(
            p.on_failure(t1, 0, "again", cfg).unwrap().state,
            State::Open
        );
        let t2 = t1 + Duration::from_secs(31);
        assert!(p.acquire(t2).0.is_ok());
        assert_eq!(p.on_success(5).unwrap().state, State::Closed);
        let v = p.view(t2, 5);
        assert_eq!(v.state, State::Closed);
        assert_eq!(v.consecutive_failures, 0);
        assert_eq!(v.last_success_ms, Some(5));
        assert_eq!(v.success_rate_5m, Some(0.25));
    }

    #[test]
    fn the_circuit_alone_admits_and_leaves_the_window_to_the_caller() {
        let cfg = BreakerConfig {
            failures: 1,
            cooldown: Duration::from_secs(1),
        };
        let p = ProviderLive::default();
        p.set_rpm(1);
        let t0 = Instant::now();
        assert_eq!(p.acquire_circuit(t0).0, Ok(1));
        assert_eq!(p.acquire_circuit(t0).0, Ok(1), "no window taken");
        p.note_rate(t0);
        assert!(p.take_rate(t0).is_err(), "the noted admission counts");
        p.on_failure(t0, 0, "x", cfg);
        assert!(matches!(
            p.acquire_circuit(t0).0,
            Err(Refusal::CircuitOpen(_))
        ));
        let t1 = t0 + Duration::from_secs(2);
        let (r, ch) = p.acquire_circuit(t1);
        assert_eq!((r, ch.map(|c| c.state)), (Ok(1), Some(State::HalfOpen)));
        assert!(p.acquire_circuit(t1).0.is_err(), "one trial at a time");
        // The shared window refused it: the trial is given back.
        p.abandon();
        assert_eq!(p.acquire_circuit(t1).0, Ok(1));
    }

    #[test]
    fn an_abandoned_trial_frees_the_slot() {
        let cfg = BreakerConfig {
            failures: 1,
            cooldown: Duration::from_secs(1),
        };
        let p = ProviderLive::default();
        let t0 = Instant::now();
        p.on_failure(t0, 0, "x", cfg);
        let t1 = t0 + Duration::from_secs(2);
        assert!(p.acquire(t1).0.is_ok());
        assert!(!p.may_try(t1), "one trial at a time");
        p.abandon();
        assert!(
            p.may_try(t1),
            "the client went away: another request may try"
        );
        assert_eq!(p.open_remaining(t1), Some(Duration::from_secs(1)));
    }
}

//! Request-rate windows: the sliding 60-second window behind each
//! provider's and each client key's requests-per-minute limit, and the
//! per-key live state that holds one. Behind a short `std` mutex that is
//! never held across an `.await`.
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// At most `rpm` requests in any 60-second window (a sliding log of the
/// last `rpm` admissions): exact, so a limit of 60 never lets 120 through at
/// a minute's edge, and `Retry-After` is the true wait for a free slot.
#[derive(Debug, Default)]
pub(crate) struct RateWindow {
    rpm: u32,
    admitted: VecDeque<Instant>,
}

impl RateWindow {
    pub(crate) fn set_rpm(&mut self, rpm: u32) {
        self.rpm = rpm;
        while self.admitted.len() > rpm as usize {
            self.admitted.pop_front();
        }
    }

    pub(crate) fn rpm(&self) -> u32 {
        self.rpm
    }

    /// Takes a slot, or says how long until one frees.
    pub(crate) fn try_acquire(&mut self, now: Instant) -> Result<(), Duration> {
        if self.rpm == 0 {
            return Ok(());
        }
        while let Some(t) = self.admitted.front() {
            if now.duration_since(*t) >= WINDOW {
                self.admitted.pop_front();
            } else {
                break;
            }
        }
        if self.admitted.len() < self.rpm as usize {
            self.admitted.push_back(now);
            Ok(())
        } else {
            let oldest = self.admitted.front().copied().unwrap_or(now);
            Err((oldest + WINDOW).saturating_duration_since(now))
        }
    }

    /// Records an admission decided elsewhere (by the shared window in
    /// Redis), so that a fallback to local limits starts from this
    /// replica's own recent traffic instead of an empty window.
    pub(crate) fn note(&mut self, now: Instant) {
        if self.rpm == 0 {
            return;
        }
        if self.admitted.len() >= self.rpm as usize {
            self.admitted.pop_front();
        }
        self.admitted.push_back(now);
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the counters unusable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Live state of one client key: its request-rate window, shared by the
/// key's entries in successive snapshots so a reload does not reset it.
/// Keys without a limit have none (nothing is allocated for them); the
/// window's log of admissions grows only as requests come.
#[derive(Debug, Default, Clone)]
pub(crate) struct KeyLive(Option<Arc<Mutex<RateWindow>>>);

impl KeyLive {
    /// The state for a key limited to `rpm` (0 = unlimited), carrying on
    /// `previous`'s window when there is one.
    pub(crate) fn new(rpm: u32, previous: Option<&KeyLive>) -> KeyLive {
        if rpm == 0 {
            return KeyLive(None);
        }
        match previous.and_then(|p| p.0.as_ref()) {
            Some(w) => {
                lock(w).set_rpm(rpm);
                KeyLive(Some(w.clone()))
            }
            None => {
                let mut w = RateWindow::default();
                w.set_rpm(rpm);
                KeyLive(Some(Arc::new(Mutex::new(w))))
            }
        }
    }

    pub(crate) fn try_acquire(&self, now: Instant) -> Result<(), Duration> {
        match &self.0 {
            None => Ok(()),
            Some(w) => lock(w).try_acquire(now),
        }
    }

    /// See [`RateWindow::note`].
    pub(crate) fn note(&self, now: Instant) {
        if let Some(w) = &self.0 {
            lock(w).note(now);
        }
    }

    /// Whether `other` is the same window (tests).
    #[cfg(test)]
    pub(crate) fn same_as(&self, other: &KeyLive) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_admits_rpm_then_says_when() {
        let mut w = RateWindow::default();
        w.set_rpm(2);
        let t0 = Instant::now();
        assert!(w.try_acquire(t0).is_ok());
        assert!(w.try_acquire(t0 + Duration::from_secs(10)).is_ok());
        let wait = w.try_acquire(t0 + Duration::from_secs(20)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(40));
        assert!(w.try_acquire(t0 + Duration::from_secs(60)).is_ok());
        // Admissions noted from the shared window count locally, bounded.
        let t1 = t0 + Duration::from_secs(200);
        for _ in 0..5 {
            w.note(t1);
        }
        assert_eq!(w.admitted.len(), 2);
        assert_eq!(w.try_acquire(t1).unwrap_err(), Duration::from_secs(60));
        w.set_rpm(0);
        for _ in 0..1000 {
            assert!(w.try_acquire(t0).is_ok());
        }
    }

    #[test]
    fn key_state_is_kept_across_a_new_limit_and_absent_without_one() {
        let t0 = Instant::now();
        let a = KeyLive::new(1, None);
        assert!(a.try_acquire(t0).is_ok());
        assert!(a.try_acquire(t0).is_err());
        let b = KeyLive::new(1, Some(&a));
        assert!(b.same_as(&a));
        assert!(b.try_acquire(t0).is_err(), "the window carried over");
        let c = KeyLive::new(2, Some(&b));
        assert!(c.try_acquire(t0).is_ok(), "the new limit applies");
        let none = KeyLive::new(0, Some(&c));
        assert!(none.0.is_none());
        assert!(none.try_acquire(t0).is_ok());
    }
}

//! The request recorder: every request's log row (and every circuit-breaker
//! change) goes on a bounded queue to ONE writer thread that inserts them in
//! batches, one transaction per batch, on its own database connection.
//!
//! The request path never waits on the database: [`Recorder::record`] is a
//! `try_send`. If the queue is ever full the row is dropped and counted
//! (`llmo_log_rows_dropped_total`, plus a warning at most every 10 s), never
//! blocked on. [`RecorderHandle::shutdown`] flushes every queued row before it
//! returns. Retention runs on the same thread, in small chunks between
//! batches, so it never holds the write lock for long.
//!
//! **Database outages.** When a batch fails because the database cannot be
//! reached or is busy ([`FaultKind::Unreachable`], [`FaultKind::Busy`]:
//! states that pass by themselves), the writer keeps the batch and retries
//! it with backoff (0.1 s doubling to [`HOLD_BACKOFF_MAX`]) instead of
//! dropping it; meanwhile new rows wait in the queue, which is the bound:
//! [`DEFAULT_CAPACITY`] rows (65 s of 1,000 requests/s, about 20 MiB) plus
//! the batch in hand. Past it rows are dropped and counted, as always. The
//! state is `holding` in [`WriterView`] (`llmo_log_writer_state 3`), and
//! `/ready` carries a `degraded` note without turning unready. A retried
//! batch is never written twice: the engine's writer knows when a commit's
//! outcome is unknown (the connection broke during `COMMIT`) and checks it
//! before writing again (see `db::postgres::logs`). Other faults (a full
//! disk, a read-only or broken schema) need an operator: the batch is
//! dropped and counted after one retry, as before.
//!
//! The Responses API's stored responses ride the same queue and thread
//! ([`Recorder::store_response`], [`Recorder::delete_response`]): one
//! writer, so they never contend with the logs for SQLite's write lock.
//! Their rows can be large, so besides the queue's row count their queued
//! bytes are bounded ([`RESPONSE_QUEUE_BYTES`]); past it a response is not
//! stored (counted, and a warning at most a minute).
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::db::logs::{HealthChange, LogWriter, PruneTarget, Pruned};
use crate::db::responses::{ResponseKey, ResponseRow};
use crate::db::{FaultKind, StoreError};
use crate::time::now_ms;

pub use crate::db::logs::LogRow;

mod failure_log;
use failure_log::{log_failure_line, FailureLog};

/// A provider's circuit-breaker state (serialized as [`CircuitState::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    /// As stored in `provider_health.state` and shown by `/ready`.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }

    /// The `llmo_circuit_state` gauge value: 0 closed, 1 half-open, 2 open.
    pub fn gauge(self) -> u8 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::HalfOpen => 1,
            CircuitState::Open => 2,
        }
    }

    /// Inverse of [`CircuitState::gauge`] (unknown values read as closed).
    pub fn from_gauge(v: u8) -> CircuitState {
        match v {
            1 => CircuitState::HalfOpen,
            2 => CircuitState::Open,
            _ => CircuitState::Closed,
        }
    }
}

/// Tuning knobs; [`Recorder::start`] uses the defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// Queue capacity (rows). Sized for bursts: at 20k requests/s this is
    /// three seconds of rows while the writer is busy with a checkpoint.
    pub capacity: usize,
    /// Most rows in one transaction.
    pub batch_max: usize,
    /// Longest a row waits for its batch to fill before it is written.
    pub batch_wait: Duration,
    /// Days of logs to keep; 0 keeps them forever.
    pub retention_days: u32,
    /// How often retention runs (it also runs once at start).
    pub prune_every: Duration,
    /// Rows deleted per retention step (one short transaction each).
    pub prune_chunk: usize,
}

pub const DEFAULT_CAPACITY: usize = 65_536;

impl Default for Options {
    fn default() -> Self {
        Options {
            capacity: DEFAULT_CAPACITY,
            batch_max: 4096,
            batch_wait: Duration::from_millis(50),
            retention_days: crate::config::DEFAULT_LOG_RETENTION_DAYS,
            prune_every: Duration::from_secs(5 * 60),
            prune_chunk: 5000,
        }
    }
}

enum Msg {
    Log(LogRow),
    Health(HealthChange),
    Response(Arc<ResponseRow>),
    DeleteResponse(ResponseKey),
    /// Sent by [`RecorderHandle::shutdown`]: flush what is queued and stop.
    Close,
}

/// Counters shared by the senders and the writer thread.
struct Counters {
    /// Epoch ms when the writer's current database write began (0: none):
    /// a write waiting long is blocked (another process holds the lock).
    busy_since_ms: AtomicI64,
    /// Epoch ms since which batches fail (0: writes work).
    failing_since_ms: AtomicI64,
    /// Epoch ms since which a batch is held for a database that cannot be
    /// reached or is busy (0: none held).
    holding_since_ms: AtomicI64,
    /// Rows dropped because their batch could not be written.
    write_dropped: AtomicU64,
    /// The last write error (kept after recovery, for doctor).
    last_error: Mutex<Option<String>>,
    /// Messages sent and not yet taken by the writer.
    depth: AtomicUsize,
    /// Rows (and health changes) that were never written: queue full,
    /// recorder closed, or the batch's transaction failed.
    dropped: AtomicU64,
    /// Epoch ms of the last "rows dropped" warning (rate limit: one per 10 s).
    last_warn_ms: AtomicI64,
    closed: AtomicBool,
    /// Bytes of stored responses queued or being written.
    response_bytes: AtomicUsize,
    /// Stored responses (and deletes) never written.
    responses_dropped: AtomicU64,
    /// Epoch ms of the last "responses not stored" warning.
    responses_warn_ms: AtomicI64,
}

impl Counters {
    fn drop_rows(&self, n: u64, why: &'static str) {
        let total = self.dropped.fetch_add(n, Ordering::Relaxed) + n;
        let now = now_ms();
        let last = self.last_warn_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= WARN_EVERY_MS
            && self
                .last_warn_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                dropped_total = total,
                reason = why,
                "request-log rows dropped (not written to the database); see llmo_log_rows_dropped_total"
            );
        }
    }
}

/// Most bytes of stored responses queued for the writer (or in its
/// current batch): a burst of large conversations cannot take the
/// process's memory while the database is slow.
pub const RESPONSE_QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// At most one "rows dropped" warning per minute (a full queue drops rows
/// by the thousand).
const WARN_EVERY_MS: i64 = 60_000;

/// A database write waiting this long counts as blocked.
const BLOCKED_AFTER_MS: i64 = 1000;

/// First wait before a held batch is tried again (it doubles each time).
const HOLD_BACKOFF_FIRST: Duration = Duration::from_millis(100);

/// Longest wait between two tries of a held batch: a database that comes
/// back is written to within this time.
pub const HOLD_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Faults that pass by themselves (the server restarts, another writer
/// lets go of a lock): their batch is held and retried, not dropped.
fn holds(e: &StoreError) -> bool {
    matches!(e.fault(), FaultKind::Busy | FaultKind::Unreachable)
}

/// What the request-log writer is doing (for `/metrics`, and from there
/// `llmo doctor`).
#[derive(Debug, Clone, PartialEq)]
pub struct WriterView {
    /// `ok`, `blocked` (a write has waited over a second: another process
    /// holds the write lock), `failing` (the last batch was not written) or
    /// `holding` (the database cannot be reached or is busy: rows wait in
    /// the queue and are written when it answers).
    pub state: &'static str,
    /// How long rows have been held for the database (0 when none are).
    pub holding_ms: i64,
    /// Rows the queue holds at most (what an outage can keep).
    pub capacity: usize,
    /// How long the current write has waited (0 when none).
    pub blocked_ms: i64,
    /// How long writes have been failing (0 when they work).
    pub failing_ms: i64,
    /// The last write error, if any ever happened.
    pub last_error: Option<String>,
    /// Rows dropped because their batch could not be written (the rest of
    /// `dropped` is rows the full queue refused).
    pub write_dropped: u64,
}

/// Nice value of the writer thread (the request path runs at the process's).
const WRITER_NICE: i32 = 10;

/// Lowers this thread's CPU priority so that a batch being written (a few
/// ms of SQLite work every `batch_wait` under load) yields the CPU to request
/// handling at once instead of delaying the requests that wake meanwhile
/// (the p99 tail on one CPU). Nice 10 still leaves the writer a share of a
/// CPU saturated by request handling that is more than it needs at peak
/// load. Linux only: there `setpriority` with a
/// thread id applies to that thread alone.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain syscalls on this thread's own id; no memory involved.
        let rc = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            let now = libc::getpriority(libc::PRIO_PROCESS, tid);
            libc::setpriority(libc::PRIO_PROCESS, tid, (now + WRITER_NICE).min(19))
        };
        if rc != 0 {
            tracing::debug!("could not lower the request-log writer's priority");
        }
    }
}

/// Longest single sleep of the writer while a batch fills (it then drains
/// the queue and checks the batch size and deadline again). As long as the
/// default `batch_wait`: one wake-up per batch, because each wake-up is a
/// context switch that a request may wait behind when the writer shares
/// the request CPU. The queue (65,536 rows) holds 50 ms of far more than
/// peak load.
const GATHER_SLICE: Duration = Duration::from_millis(50);

struct Inner {
    tx: Sender<Msg>,
    capacity: usize,
    counters: Arc<Counters>,
}

/// The sending side: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("queue_depth", &self.queue_depth())
            .field("dropped", &self.dropped())
            .finish()
    }
}

/// Owns the writer thread; [`RecorderHandle::shutdown`] flushes and joins it.
pub struct RecorderHandle {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
    done: Receiver<()>,
}

impl Recorder {
    /// Opens the writer's connection (the database must already be
    /// migrated: `Store::open` does that) and starts the writer thread.
    pub fn start(
        db_path: impl Into<crate::db::DbLocation>,
        retention_days: u32,
    ) -> Result<(Recorder, RecorderHandle), StoreError> {
        Self::start_with(
            db_path,
            Options {
                retention_days,
                ..Options::default()
            },
        )
    }

    /// [`Recorder::start`] with explicit [`Options`].
    pub fn start_with(
        db_path: impl Into<crate::db::DbLocation>,
        opts: Options,
    ) -> Result<(Recorder, RecorderHandle), StoreError> {
        let writer = LogWriter::open(db_path)?;
        // An unbounded (linked-block) channel bounded by the `depth`
        // counter: its memory follows the queue's depth. `sync_channel`
        // preallocates and touches every slot: ~10 MiB resident at idle for
        // the default capacity.
        let capacity = opts.capacity.max(1);
        let (tx, rx) = mpsc::channel();
        let counters = Arc::new(Counters {
            busy_since_ms: AtomicI64::new(0),
            failing_since_ms: AtomicI64::new(0),
            holding_since_ms: AtomicI64::new(0),
            write_dropped: AtomicU64::new(0),
            last_error: Mutex::new(None),
            depth: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            last_warn_ms: AtomicI64::new(i64::MIN / 2),
            closed: AtomicBool::new(false),
            response_bytes: AtomicUsize::new(0),
            responses_dropped: AtomicU64::new(0),
            responses_warn_ms: AtomicI64::new(i64::MIN / 2),
        });
        let (done_tx, done) = mpsc::channel();
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name("llmo-log-writer".into())
            .spawn(move || {
                lower_priority();
                Writer::new(writer, rx, c, opts).run();
                let _ = done_tx.send(());
            })
            .map_err(|source| StoreError::Io {
                context: "starting the request-log writer thread".into(),
                source,
            })?;
        let inner = Arc::new(Inner {
            tx,
            capacity,
            counters,
        });
        Ok((
            Recorder {
                inner: inner.clone(),
            },
            RecorderHandle {
                inner,
                thread: Some(thread),
                done,
            },
        ))
    }

    /// Queues a request's log row. Never blocks or awaits: when the queue is
    /// full (or the recorder is shut down) the row is dropped and counted.
    pub fn record(&self, row: LogRow) {
        self.send(Msg::Log(row));
    }

    /// Queues a circuit-breaker state change for `provider_health`.
    pub fn health_change(
        &self,
        provider: &str,
        state: CircuitState,
        consecutive_failures: u32,
        last_error: Option<String>,
        last_success_ms: Option<i64>,
    ) {
        self.send(Msg::Health(HealthChange {
            provider: provider.to_string(),
            state: state.as_str(),
            consecutive_failures,
            last_error,
            last_success_ms,
            changed_at_ms: now_ms(),
        }));
    }

    /// Queues a stored response for the database. Never blocks: false (and
    /// counted) when the queue is full, over [`RESPONSE_QUEUE_BYTES`], or
    /// shut down.
    pub fn store_response(&self, row: Arc<ResponseRow>) -> bool {
        let c = &self.inner.counters;
        let n = row.size();
        if c.response_bytes.fetch_add(n, Ordering::Relaxed) + n > RESPONSE_QUEUE_BYTES {
            c.response_bytes.fetch_sub(n, Ordering::Relaxed);
            self.response_dropped("the stored-response queue is over its byte budget");
            return false;
        }
        if !self.try_send(Msg::Response(row)) {
            c.response_bytes.fetch_sub(n, Ordering::Relaxed);
            self.response_dropped("the request-log queue is full or shut down");
            return false;
        }
        true
    }

    /// Queues the delete of a stored response (behind any queued put of
    /// it). False when the queue refused it.
    pub fn delete_response(&self, key: ResponseKey) -> bool {
        self.try_send(Msg::DeleteResponse(key))
    }

    /// Stored responses (and deletes) that were never written.
    pub fn responses_dropped(&self) -> u64 {
        self.inner
            .counters
            .responses_dropped
            .load(Ordering::Relaxed)
    }

    fn response_dropped(&self, why: &'static str) {
        let c = &self.inner.counters;
        let total = c.responses_dropped.fetch_add(1, Ordering::Relaxed) + 1;
        let now = now_ms();
        let last = c.responses_warn_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= WARN_EVERY_MS
            && c.responses_warn_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                dropped_total = total,
                reason = why,
                "a /v1/responses answer was not stored in the database (only in memory)"
            );
        }
    }

    /// Sends without counting a refusal as a dropped log row.
    fn try_send(&self, msg: Msg) -> bool {
        let c = &self.inner.counters;
        if c.closed.load(Ordering::Relaxed) {
            return false;
        }
        if c.depth.fetch_add(1, Ordering::Relaxed) >= self.inner.capacity {
            c.depth.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        if self.inner.tx.send(msg).is_err() {
            c.depth.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn send(&self, msg: Msg) {
        let c = &self.inner.counters;
        if c.closed.load(Ordering::Relaxed) {
            c.drop_rows(1, "recorder is shut down");
            return;
        }
        // Count before sending so the writer's decrement never runs first.
        if c.depth.fetch_add(1, Ordering::Relaxed) >= self.inner.capacity {
            c.depth.fetch_sub(1, Ordering::Relaxed);
            c.drop_rows(1, "queue full");
            return;
        }
        if self.inner.tx.send(msg).is_err() {
            c.depth.fetch_sub(1, Ordering::Relaxed);
            c.drop_rows(1, "writer stopped");
        }
    }

    /// Rows queued and not yet taken by the writer.
    pub fn queue_depth(&self) -> usize {
        self.inner.counters.depth.load(Ordering::Relaxed)
    }

    /// Rows never written since start.
    pub fn dropped(&self) -> u64 {
        self.inner.counters.dropped.load(Ordering::Relaxed)
    }

    /// What the writer is doing now: ok, blocked in a write, or failing.
    pub fn writer_view(&self) -> WriterView {
        let c = &self.inner.counters;
        let now = now_ms();
        let since = |a: &AtomicI64| match a.load(Ordering::Relaxed) {
            0 => 0,
            t => now.saturating_sub(t).max(1),
        };
        let (blocked_ms, failing_ms) = (since(&c.busy_since_ms), since(&c.failing_since_ms));
        let holding_ms = since(&c.holding_since_ms);
        let state = if holding_ms > 0 {
            "holding"
        } else if blocked_ms >= BLOCKED_AFTER_MS {
            "blocked"
        } else if failing_ms > 0 {
            "failing"
        } else {
            "ok"
        };
        WriterView {
            state,
            holding_ms,
            capacity: self.inner.capacity,
            blocked_ms: if blocked_ms >= BLOCKED_AFTER_MS {
                blocked_ms
            } else {
                0
            },
            failing_ms,
            last_error: c
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            write_dropped: c.write_dropped.load(Ordering::Relaxed),
        }
    }
}

impl RecorderHandle {
    /// Closes the queue (later rows are dropped and counted), waits up to
    /// `timeout` for the writer to write every queued row, and joins it.
    /// Blocking: call it from `spawn_blocking` or after the runtime stops.
    pub fn shutdown(mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let c = &self.inner.counters;
        c.closed.store(true, Ordering::SeqCst);
        // `Close` goes behind every queued row (the channel has no bound of
        // its own); an error only means the writer has already stopped.
        let _ = self.inner.tx.send(Msg::Close);
        match self
            .done
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                if let Some(t) = self.thread.take() {
                    if t.join().is_err() {
                        tracing::error!("request-log writer thread panicked");
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                tracing::warn!(
                    queued = c.depth.load(Ordering::Relaxed),
                    "request-log writer did not finish before the shutdown timeout; queued rows are lost"
                );
            }
        }
    }
}

/// The writer thread's state.
struct Writer {
    db: LogWriter,
    rx: Receiver<Msg>,
    counters: Arc<Counters>,
    opts: Options,
    logs: Vec<LogRow>,
    health: Vec<HealthChange>,
    responses: Vec<Arc<ResponseRow>>,
    deletes: Vec<ResponseKey>,
    prune: Pruner,
    failures: FailureLog,
    /// Shut down while the database was away: what is left is dropped.
    abandoned: bool,
}

impl Writer {
    fn new(db: LogWriter, rx: Receiver<Msg>, counters: Arc<Counters>, opts: Options) -> Self {
        Writer {
            db,
            rx,
            counters,
            logs: Vec::with_capacity(opts.batch_max.max(1)),
            health: Vec::new(),
            responses: Vec::new(),
            deletes: Vec::new(),
            prune: Pruner::new(&opts),
            failures: FailureLog::default(),
            abandoned: false,
            opts,
        }
    }

    fn run(mut self) {
        let mut closing = false;
        while !closing {
            // Wake up for the next retention run even when idle; while a
            // retention run is in progress, do not wait at all.
            let wait = self.prune.wait();
            match self.rx.recv_timeout(wait) {
                Ok(msg) => closing = self.gather(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => closing = true,
            }
            self.flush();
            if !closing {
                self.prune.step(&mut self.db);
            }
        }
        // Closed: write what is left (rows sent while closing raced in).
        while let Ok(msg) = self.rx.try_recv() {
            self.take(msg);
            if self.logs.len() >= self.opts.batch_max {
                self.flush();
            }
        }
        self.flush();
    }

    /// Adds a message to the batch. Returns true for `Close`.
    fn take(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Log(r) => self.logs.push(r),
            Msg::Health(h) => self.health.push(h),
            Msg::Response(r) => self.responses.push(r),
            Msg::DeleteResponse(k) => self.deletes.push(k),
            Msg::Close => return true,
        }
        self.counters.depth.fetch_sub(1, Ordering::Relaxed);
        false
    }

    /// Collects a batch starting with `first`: up to `batch_max` rows, or
    /// until `batch_wait` has passed. Returns true when `Close` arrived.
    ///
    /// Once the first row is in, the writer does NOT block on the channel
    /// (a blocked receiver makes every sender's `try_send` a futex wake-up,
    /// a large share of a request's CPU): it sleeps in slices of at most
    /// [`GATHER_SLICE`] and drains what arrived with `try_recv`, so senders
    /// almost always find it asleep-by-timer rather than parked on the queue.
    fn gather(&mut self, first: Msg) -> bool {
        if self.take(first) {
            return true;
        }
        let deadline = Instant::now() + self.opts.batch_wait;
        loop {
            // Drain whatever is already queued.
            while self.logs.len() < self.opts.batch_max {
                match self.rx.try_recv() {
                    Ok(m) => {
                        if self.take(m) {
                            return true;
                        }
                    }
                    Err(TryRecvError::Disconnected) => return true,
                    Err(TryRecvError::Empty) => break,
                }
            }
            if self.logs.len() >= self.opts.batch_max {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            #[allow(
                clippy::disallowed_methods,
                reason = "the log writer runs on its own OS thread, never a runtime worker"
            )]
            std::thread::sleep(left.min(GATHER_SLICE));
        }
    }

    fn flush(&mut self) {
        self.flush_responses();
        if self.logs.is_empty() && self.health.is_empty() {
            return;
        }
        let result = if self.abandoned {
            Err(StoreError::Migration(
                "shut down while the database could not be reached".into(),
            ))
        } else {
            self.write_held()
        };
        let c = &self.counters;
        let n = (self.logs.len() + self.health.len()) as u64;
        let error = result.err().map(|e| e.to_string());
        if let Some(e) = &error {
            // Not `drop_rows`: its warning would repeat what the failure
            // log says.
            c.dropped.fetch_add(n, Ordering::Relaxed);
            c.write_dropped.fetch_add(n, Ordering::Relaxed);
            *c.last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.clone());
            let _ = c.failing_since_ms.compare_exchange(
                0,
                now_ms(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        } else {
            c.failing_since_ms.store(0, Ordering::Relaxed);
        }
        if let Some(line) = self.failures.batch(Instant::now(), error.as_deref(), n) {
            log_failure_line(line);
        }
        self.logs.clear();
        self.health.clear();
    }

    /// Writes the batch: retried once at once (another process held the
    /// lock past the busy timeout), then, while the fault is one that
    /// passes by itself ([`holds`]), again and again with backoff until it
    /// is written or the recorder shuts down. The queue fills meanwhile
    /// (its capacity is the bound). Returns the last result.
    fn write_held(&mut self) -> Result<(), StoreError> {
        let c = self.counters.clone();
        c.busy_since_ms.store(now_ms(), Ordering::Relaxed);
        let mut result = self.db.write_batch(&self.logs, &self.health);
        if let Err(e) = &result {
            tracing::debug!(error = %e, "request-log batch failed; retrying once");
            pause(Duration::from_millis(100));
            result = self.db.write_batch(&self.logs, &self.health);
        }
        let mut backoff = HOLD_BACKOFF_FIRST;
        let mut held_since: Option<Instant> = None;
        while let Err(e) = &result {
            if !holds(e) {
                break;
            }
            if c.closed.load(Ordering::Relaxed) {
                // Shutting down with the database away: the rest of the
                // queue is dropped (counted) without a try each.
                self.abandoned = true;
                break;
            }
            c.busy_since_ms.store(0, Ordering::Relaxed);
            if held_since.is_none() {
                held_since = Some(Instant::now());
                let _ = c.holding_since_ms.compare_exchange(
                    0,
                    now_ms(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                *c.last_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
                tracing::warn!(
                    "request-log writes wait for the database: {e}; rows are held in memory \
                     (up to {} queued) and written when it answers",
                    self.opts.capacity
                );
            }
            pause(backoff);
            backoff = (backoff * 2).min(HOLD_BACKOFF_MAX);
            c.busy_since_ms.store(now_ms(), Ordering::Relaxed);
            result = self.db.write_batch(&self.logs, &self.health);
        }
        c.busy_since_ms.store(0, Ordering::Relaxed);
        if let Some(t) = held_since {
            c.holding_since_ms.store(0, Ordering::Relaxed);
            if result.is_ok() {
                tracing::info!(
                    "request-log writes work again after {}; the rows held meanwhile are being written",
                    crate::time::format_ms(t.elapsed().as_millis() as i64)
                );
            }
        }
        result
    }
}

/// Sleeps the writer thread (never a runtime worker).
fn pause(d: Duration) {
    #[allow(
        clippy::disallowed_methods,
        reason = "the log writer runs on its own OS thread, never a runtime worker"
    )]
    std::thread::sleep(d);
}

impl Writer {
    /// Writes the queued stored responses and deletes (one transaction,
    /// retried once), then releases their bytes from the budget. While the
    /// database cannot be reached they are kept for the next flush (their
    /// bytes stay counted against [`RESPONSE_QUEUE_BYTES`]).
    fn flush_responses(&mut self) {
        if self.responses.is_empty() && self.deletes.is_empty() {
            return;
        }
        let mut result = self.db.write_responses(&self.responses, &self.deletes);
        if result.is_err() && !self.abandoned {
            pause(Duration::from_millis(100));
            result = self.db.write_responses(&self.responses, &self.deletes);
        }
        let c = &self.counters;
        match result {
            Err(e) if holds(&e) && !self.abandoned && !c.closed.load(Ordering::Relaxed) => {
                tracing::debug!(error = %e, "stored responses held for the database");
                return;
            }
            Err(e) => {
                let n = (self.responses.len() + self.deletes.len()) as u64;
                c.responses_dropped.fetch_add(n, Ordering::Relaxed);
                tracing::error!("cannot store {n} /v1/responses answer(s) or delete(s): {e}");
            }
            Ok(()) => {}
        }
        let bytes: usize = self.responses.iter().map(|r| r.size()).sum();
        c.response_bytes.fetch_sub(bytes, Ordering::Relaxed);
        self.responses.clear();
        self.deletes.clear();
    }
}

/// Retention: deletes rows older than `retention_days`, a chunk per step,
/// once at start and then every `prune_every`.
struct Pruner {
    retention_ms: Option<i64>,
    every: Duration,
    chunk: usize,
    next_run: Instant,
    /// An ongoing run: which table, the cutoff, what was removed so far.
    running: Option<(usize, i64, Pruned)>,
}

impl Pruner {
    fn new(opts: &Options) -> Self {
        Pruner {
            retention_ms: (opts.retention_days > 0)
                .then(|| i64::from(opts.retention_days) * 86_400_000),
            every: opts.prune_every.max(Duration::from_millis(10)),
            chunk: opts.prune_chunk.max(1),
            next_run: Instant::now(),
            running: None,
        }
    }

    /// How long the writer may sleep waiting for rows.
    fn wait(&self) -> Duration {
        match self.retention_ms {
            None => Duration::from_secs(3600),
            Some(_) if self.running.is_some() => Duration::ZERO,
            Some(_) => self.next_run.saturating_duration_since(Instant::now()),
        }
    }

    /// Runs at most one chunk if a run is due or in progress.
    fn step(&mut self, db: &mut LogWriter) {
        let Some(retention) = self.retention_ms else {
            return;
        };
        if self.running.is_none() {
            if Instant::now() < self.next_run {
                return;
            }
            self.running = Some((0, now_ms() - retention, Pruned::default()));
        }
        let Some((idx, cutoff, mut pruned)) = self.running.take() else {
            return;
        };
        let target = PruneTarget::ALL[idx];
        match db.prune_chunk(target, cutoff, self.chunk) {
            Ok(n) => {
                pruned.add(target, n);
                if n >= self.chunk {
                    self.running = Some((idx, cutoff, pruned));
                } else if idx + 1 < PruneTarget::ALL.len() {
                    self.running = Some((idx + 1, cutoff, pruned));
                } else {
                    if pruned.total() > 0 {
                        tracing::info!(
                            request_logs = pruned.request_logs,
                            provider_stats = pruned.provider_stats,
                            provider_health = pruned.provider_health,
                            responses = pruned.responses,
                            "retention removed rows older than the log retention"
                        );
                    }
                    self.next_run = Instant::now() + self.every;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, table = target.table(), "retention step failed; retrying later");
                self.next_run = Instant::now() + self.every.min(Duration::from_secs(60));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::failure_log::FailureLine;
    use super::*;

    /// 182 failed batches in 28 s are one line, not 182; then a summary a
    /// minute; recovery says how many rows went.
    #[test]
    fn failing_writes_log_state_changes_and_a_summary_a_minute() {
        let mut log = FailureLog::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(log.batch(at(0), None, 10), None);
        let mut lines = Vec::new();
        for i in 0..182u64 {
            lines.extend(log.batch(at(1000 + i * 154), Some("database is locked"), 100));
        }
        assert_eq!(lines, [FailureLine::Started("database is locked".into())]);
        // Still failing a minute after the first line: one summary.
        let mut lines = Vec::new();
        for i in 0..100u64 {
            lines.extend(log.batch(at(30_000 + i * 500), Some("database or disk is full"), 1));
        }
        assert_eq!(
            lines,
            [FailureLine::Still {
                error: "database or disk is full".into(),
                for_ms: 60_000,
                dropped: 18_200 + 63,
            }]
        );
        assert_eq!(
            log.batch(at(90_000), None, 5),
            Some(FailureLine::Recovered {
                after_ms: 89_000,
                dropped: 18_300,
            })
        );
        assert_eq!(log.batch(at(90_100), None, 5), None);
    }

    /// Stored responses and their deletes go through the writer in order;
    /// one over the byte budget is refused, not queued.
    #[test]
    fn stored_responses_are_written_by_the_writer_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let (store, _) = crate::db::Store::open(&path).unwrap();
        let (rec, handle) = Recorder::start(&path, 0).unwrap();
        let row = |id: &str, items: Vec<u8>| ResponseRow {
            id: id.into(),
            owner: "1".into(),
            model: "m".into(),
            created_at_ms: 1,
            response: bytes::Bytes::from_static(b"{}"),
            items: items.into(),
        };
        assert!(rec.store_response(Arc::new(row("resp_a", b"[]".to_vec()))));
        assert!(rec.store_response(Arc::new(row("resp_b", b"[]".to_vec()))));
        assert!(rec.delete_response(ResponseKey {
            id: "resp_a".into(),
            owner: "1".into(),
        }));
        let huge = row("resp_c", vec![b' '; RESPONSE_QUEUE_BYTES + 1]);
        assert!(!rec.store_response(Arc::new(huge)));
        assert_eq!(rec.responses_dropped(), 1);
        assert_eq!(rec.dropped(), 0, "not a dropped log row");
        handle.shutdown(Duration::from_secs(10));
        assert!(store.get_response("resp_a", "1").unwrap().is_none());
        assert!(store.get_response("resp_b", "1").unwrap().is_some());
        assert_eq!(store.count_responses().unwrap(), 1);
    }

    #[test]
    fn circuit_state_names_and_gauge() {
        for s in [
            CircuitState::Closed,
            CircuitState::Open,
            CircuitState::HalfOpen,
        ] {
            assert_eq!(CircuitState::from_gauge(s.gauge()), s);
        }
        assert_eq!(CircuitState::HalfOpen.as_str(), "half_open");
        assert_eq!(CircuitState::Open.gauge(), 2);
        assert_eq!(
            serde_json::to_string(&CircuitState::HalfOpen).unwrap(),
            "\"half_open\""
        );
    }
}

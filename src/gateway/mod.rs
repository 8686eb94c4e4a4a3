//! The gateway: `llmo serve`'s HTTP server. It owns start-up (open and
//! migrate the database, load the catalog, or stay up not-ready and retry),
//! the accept loop (hyper 1, `TCP_NODELAY` on every socket), hot reload of
//! the catalog, and graceful shutdown (drain requests and streams; at the
//! `--shutdown-timeout` deadline, end what is left with a 503 `shutdown`
//! error, logged; then flush the request-log queue).
//!
//! Request path: `router` → `proxy` (auth, body, routing; the `retry`
//! policy; `breaker` and `rate` admit each attempt) → `providers` (upstream
//! wire format) → `stream` (SSE relay); `request_log` gathers the request's
//! log row on the way and `recorder` writes it. Shared state is one
//! [`Shared`] behind an `Arc`; the routing catalog is an immutable
//! [`snapshot::Snapshot`] swapped whole on reload.
//!
//! Who may import whom: `providers/` is a leaf (the adapters, the client's
//! parsed request, the upstream HTTP exchange); it never imports the server
//! side (this file, `proxy`, `stream`, `body`, `error`, `router`), which a
//! test in `providers` checks.
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock, RwLock};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::db::{DbLocation, OpenReport, Store, StoreError};

mod apply;
pub(crate) mod body;
pub(crate) mod breaker;
pub(crate) mod error;
#[cfg(test)]
mod fuzz;
mod heartbeat;
pub(crate) mod ingress;
mod key_table;
mod mem;
mod messages;
pub(crate) mod metrics;
mod passthrough;
pub(crate) mod providers;
pub(crate) mod proxy;
pub(crate) mod rate;
pub mod recorder;
pub(crate) mod request_log;
mod responses;
pub(crate) mod responses_state;
mod retry;
mod router;
pub(crate) mod shared_limits;
pub(crate) mod snapshot;
pub(crate) mod stream;

use breaker::{BreakerConfig, Change};
use error::ApiError;
use metrics::Metrics;
use recorder::{Recorder, RecorderHandle};
use snapshot::{LiveStates, Reloaded, Snapshot};

/// Appends the low `digits` hex digits of `v`, lowercase, zero-padded.
fn push_hex(out: &mut String, v: u64, digits: u32) {
    for i in (0..digits).rev() {
        let d = ((v >> (i * 4)) & 0xf) as u8;
        out.push(char::from(if d < 10 { b'0' + d } else { b'a' + d - 10 }));
    }
}

/// Default of [`Options::header_timeout`]. It is also the idle keep-alive
/// limit (hyper starts it when it waits for the next request), so it must be
/// longer than the idle timeout of a proxy in front that reuses connections
/// (AWS ALB and nginx's upstream keep-alive: 60 s): a backend that closes
/// first races the proxy's next request and turns it into a 502. 75 s is
/// nginx's own client keep-alive timeout.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(75);

/// Default of [`Options::body_rate_grace`].
pub const BODY_RATE_GRACE: Duration = Duration::from_secs(5);

/// How often the catalog's `config_version` is polled.
pub const RELOAD_INTERVAL: Duration = Duration::from_millis(500);
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// How long shutdown waits for the request-log writer to flush.
const RECORDER_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// After the shutdown deadline cut the open requests and streams, how long
/// their connections get to write the error answer before they are dropped.
const CUT_GRACE: Duration = Duration::from_secs(2);

/// Everything `serve` needs besides the listener.
#[derive(Debug, Clone)]
pub struct Options {
    pub settings: Settings,
    /// Exit with an error instead of serving not-ready when the database
    /// cannot be opened.
    pub exit_on_error: bool,
    pub reload_interval: Duration,
    /// A client must send a request's whole header within this time, counted
    /// from when the connection opens or its previous response ended; else
    /// the connection is closed (slow-header clients cannot pin connections,
    /// and idle keep-alive connections close after it).
    pub header_timeout: Duration,
    /// How long a request body may arrive at any pace before the minimum
    /// rate (`request_body_min_rate`) applies.
    pub body_rate_grace: Duration,
    /// Prefix of the Redis keys of the shared rate limits (tests sharing
    /// one Redis give each gateway group its own).
    pub redis_prefix: String,
    /// Longest a request waits for Redis before using local limits.
    pub redis_timeout: Duration,
    /// How often this replica's heartbeat row is written.
    pub heartbeat_interval: Duration,
}

impl Options {
    pub fn new(settings: Settings) -> Self {
        Options {
            redis_timeout: settings.redis_timeout.value,
            settings,
            exit_on_error: false,
            reload_interval: RELOAD_INTERVAL,
            header_timeout: HEADER_TIMEOUT,
            body_rate_grace: BODY_RATE_GRACE,
            redis_prefix: "llmo:".into(),
            heartbeat_interval: heartbeat::BEAT_INTERVAL,
        }
    }
}

/// Why the gateway is not ready, and what to run about it.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    pub problem: String,
    pub fix: String,
}

impl Problem {
    fn from_store(e: &StoreError) -> Problem {
        Problem {
            problem: e.to_string(),
            fix: e
                .hint()
                .unwrap_or_else(|| "run `llmo doctor` for a diagnosis".into()),
        }
    }
}

/// The one HTTP client for upstreams: the embedded Mozilla roots plus the
/// CAs of `SSL_CERT_FILE` / `SSL_CERT_DIR` (see [`providers::tls`]); a
/// variable naming nothing usable stops the start.
fn upstream_client() -> anyhow::Result<reqwest::Client> {
    let extra = providers::tls::ExtraRoots::from_env().map_err(|e| {
        crate::error::user(e)
            .hint("point the variable at a readable PEM file (or directory), or unset it")
    })?;
    if !extra.certs.is_empty() {
        tracing::info!(
            "trusting {} extra CA certificate(s) besides the built-in roots: {}",
            extra.certs.len(),
            extra.sources.join(", ")
        );
    }
    let mut b = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .connect_timeout(Duration::from_secs(10));
    for cert in extra.certs {
        b = b.add_root_certificate(cert);
    }
    let sources = extra.sources.join(", ");
    b.build().map_err(|e| match sources.is_empty() {
        true => anyhow::Error::new(e),
        false => {
            crate::error::user(format!("cannot use the CA certificates of {sources}: {e}")).into()
        }
    })
}

/// State shared by every connection and request.
pub(crate) struct Shared {
    pub http: reqwest::Client,
    pub metrics: Metrics,
    pub recorder: OnceLock<Recorder>,
    pub breaker: BreakerConfig,
    pub allow_anonymous: bool,
    /// How `/v1` request bodies are read (the admin API's limit is its own).
    pub body: crate::http_util::BodyBounds,
    /// Peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: crate::config::TrustedProxies,
    /// Largest non-stream upstream answer read (`upstream_max_body`).
    pub upstream_max_body: u64,
    /// The Responses API's stored responses (recent ones in memory).
    pub responses: responses_state::ResponsesState,
    /// Rate limits shared across replicas through Redis (inert without).
    pub limits: shared_limits::SharedLimits,
    /// This replica's heartbeat identity and the last count of live ones.
    pub replicas: heartbeat::Replicas,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    problem: RwLock<Option<Arc<Problem>>>,
    /// Since when (epoch ms) and why configuration polls fail while the
    /// last snapshot keeps serving (`/ready`'s `degraded`, `llmo_db_up`).
    reads_failing: RwLock<Option<(i64, String)>>,
    lives: LiveStates,
    id_prefix: u32,
    ids: AtomicU64,
    /// Set at the shutdown deadline: every request still in flight answers
    /// 503 `shutdown`, every open stream ends with that error event, and
    /// each writes its log row before the queue is flushed.
    pub cut: tokio::sync::watch::Sender<bool>,
    /// The admin API and UI (`/admin`, `/admin-ui`); answers 503 without an
    /// admin key.
    pub admin: OnceLock<Arc<crate::admin::Admin>>,
    /// `--apply FILE`: the watcher (run by the database thread) and what
    /// `/ready` says about the file.
    applier: std::sync::Mutex<Option<apply::Applier>>,
    apply_status: RwLock<Option<Arc<apply::ApplyStatus>>>,
}

impl Shared {
    fn new(opts: &Options) -> anyhow::Result<Shared> {
        let s = &opts.settings;
        let http = upstream_client()?;
        Ok(Shared {
            http,
            metrics: Metrics::default(),
            recorder: OnceLock::new(),
            breaker: BreakerConfig {
                failures: s.circuit_failures.value,
                cooldown: s.circuit_cooldown.value,
            },
            allow_anonymous: s.allow_anonymous.value,
            body: crate::http_util::BodyBounds {
                limit: s.max_body.value,
                timeout: s.request_body_timeout.value,
                min_rate: s.request_body_min_rate.value,
                grace: opts.body_rate_grace,
            },
            trusted_proxies: s.trusted_proxies.value.clone(),
            upstream_max_body: s.upstream_max_body.value,
            responses: responses_state::ResponsesState::new(
                s.db.value.clone(),
                s.responses_cache.value,
            ),
            limits: shared_limits::SharedLimits::new(
                s.redis_url.value.as_ref(),
                &opts.redis_prefix,
                opts.redis_timeout,
            ),
            replicas: heartbeat::Replicas::new(
                s.redis_url.value.is_some(),
                opts.heartbeat_interval,
            ),
            snapshot: RwLock::new(None),
            problem: RwLock::new(None),
            reads_failing: RwLock::new(None),
            lives: LiveStates::default(),
            id_prefix: fastrand::u32(..),
            ids: AtomicU64::new(0),
            cut: tokio::sync::watch::channel(false).0,
            admin: OnceLock::new(),
            applier: std::sync::Mutex::new(
                s.apply
                    .value
                    .clone()
                    .map(|p| apply::Applier::new(p, s.apply_prune.value)),
            ),
            apply_status: RwLock::new(None),
        })
    }

    /// Applies the `--apply` file if it changed (at once when `now`), on the
    /// database thread, before the catalog is (re)loaded.
    fn apply_file(&self, store: &mut Store, now: bool) {
        let mut guard = self.applier.lock().unwrap_or_else(|p| p.into_inner());
        let Some(a) = guard.as_mut() else { return };
        if let Some(st) = a.tick(store, now) {
            *self.apply_status.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(st));
        }
    }

    pub(crate) fn apply_status(&self) -> Option<Arc<apply::ApplyStatus>> {
        self.apply_status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The current routing snapshot (an `Arc` clone; no lock is kept).
    pub(crate) fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_snapshot(&self, s: Arc<Snapshot>) {
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Some(s);
    }

    pub(crate) fn problem(&self) -> Option<Arc<Problem>> {
        self.problem
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_problem(&self, p: Option<Problem>) {
        *self.problem.write().unwrap_or_else(|p| p.into_inner()) = p.map(Arc::new);
    }

    /// Since when and why configuration polls fail (`None`: they work).
    pub(crate) fn reads_failing(&self) -> Option<(i64, String)> {
        self.reads_failing
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_reads_failing(&self, error: Option<String>) {
        let mut g = self
            .reads_failing
            .write()
            .unwrap_or_else(|p| p.into_inner());
        *g = error.map(|e| (g.as_ref().map_or_else(crate::time::now_ms, |f| f.0), e));
    }

    pub(crate) fn not_ready_error(&self) -> ApiError {
        match self.problem() {
            Some(p) => ApiError::NotReady {
                problem: p.problem.clone(),
                fix: p.fix.clone(),
            },
            None => ApiError::NotReady {
                problem: "the database is not open yet".into(),
                fix: "retry in a moment".into(),
            },
        }
    }

    /// Has the shutdown deadline cut the requests in flight?
    pub(crate) fn is_cut(&self) -> bool {
        *self.cut.borrow()
    }

    /// A process-unique request id: a random per-process prefix and a counter.
    pub(crate) fn next_request_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        // `req_` + 8 + 12 lowercase hex digits, without `format!`'s machinery
        // (this runs on every request).
        let mut id = String::with_capacity(24);
        id.push_str("req_");
        push_hex(&mut id, u64::from(self.id_prefix), 8);
        push_hex(&mut id, n, 12);
        id
    }

    /// Reports a circuit change: request log DB, metrics and one log line.
    pub(crate) fn report_change(&self, provider: &str, ch: Change) {
        match ch.state {
            recorder::CircuitState::Open => tracing::warn!(
                provider,
                "circuit opened after {} consecutive failure(s); last error: {}",
                ch.consecutive_failures,
                ch.last_error.as_deref().unwrap_or("-")
            ),
            recorder::CircuitState::HalfOpen => {
                tracing::info!(
                    provider,
                    "circuit half-open: letting one trial request through"
                )
            }
            recorder::CircuitState::Closed => {
                tracing::info!(provider, "circuit closed: the provider answered again")
            }
        }
        self.metrics.circuit(provider, ch.state);
        if let Some(r) = self.recorder.get() {
            r.health_change(
                provider,
                ch.state,
                ch.consecutive_failures,
                ch.last_error,
                ch.last_success_ms,
            );
        }
    }
}

struct Opened {
    store: Store,
    report: OpenReport,
    recorder: Recorder,
    handle: RecorderHandle,
}

/// Opens (creating and migrating) the database and starts the recorder.
fn open_db(path: &DbLocation, retention_days: u32) -> Result<Opened, StoreError> {
    let (store, report) = Store::open(path)?;
    let (recorder, handle) = Recorder::start(path, retention_days)?;
    Ok(Opened {
        store,
        report,
        recorder,
        handle,
    })
}

fn log_open_report(r: &OpenReport) {
    if let Some(b) = &r.backup {
        tracing::info!("backed up the database to {}", b.display());
    }
    if let Some(note) = &r.backup_note {
        tracing::info!("{note}");
    }
    if r.applied.is_empty() {
        tracing::info!("migrations: schema is current (version {})", r.version);
    } else {
        let names: Vec<String> = r.applied.iter().map(|(v, n)| format!("V{v} {n}")).collect();
        tracing::info!(
            "migrations: applied {} ({}); schema is at version {}",
            r.applied.len(),
            names.join(", "),
            r.version
        );
    }
}

/// Brings the routing snapshot up to date with the catalog and swaps the
/// new one in: a full load at start (or when routes changed), the changed
/// client keys alone when only keys changed, nothing when nothing did (see
/// [`snapshot::refresh`]).
fn load(shared: &Shared, store: &mut Store) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let current = shared.snapshot();
    let Some((snap, how)) = snapshot::refresh(store, current.as_deref(), &shared.lives)? else {
        return Ok(());
    };
    let initial = current.is_none();
    drop(current);
    let (np, nm, nk) = (snap.providers.len(), snap.models.len(), snap.keys.len());
    let version = snap.version;
    shared.set_snapshot(Arc::new(snap));
    let ms = started.elapsed().as_millis();
    match how {
        Reloaded::Full if initial => {
            tracing::info!("loaded {np} provider(s), {nm} model(s), {nk} key(s) in {ms} ms");
            if np == 0 {
                tracing::warn!(
                    "no providers configured; /ready answers 503 until one is added with `llmo provider add`"
                );
            }
        }
        Reloaded::Full => tracing::info!(
            "configuration changed (version {version}): reloaded {np} provider(s), {nm} model(s), {nk} key(s) in {ms} ms"
        ),
        Reloaded::Keys { added, removed } => tracing::info!(
            "client keys changed (version {version}): {added} added, {removed} revoked; {nk} key(s) live, applied in {ms} ms"
        ),
    }
    Ok(())
}

/// What the database thread is asked to do besides its polling.
enum WorkerMsg {
    /// Check `config_version` now (the admin API changed the catalog), then
    /// say so on the channel.
    Reload(mpsc::SyncSender<()>),
    /// Another process changed the configuration (PostgreSQL's `NOTIFY`):
    /// check `config_version` now rather than at the next poll.
    Changed,
    Stop,
}

/// What the admin API sees of the running gateway: the circuit states (as
/// in `/ready`) and a way to reload the snapshot at once instead of at the
/// next poll. Holds the gateway weakly: the admin lives inside it.
struct AdminLive {
    shared: std::sync::Weak<Shared>,
    reload: std::sync::Mutex<mpsc::Sender<WorkerMsg>>,
}

impl crate::admin::LiveView for AdminLive {
    fn provider_states(&self) -> serde_json::Value {
        match self.shared.upgrade() {
            Some(sh) => router::provider_states(&sh),
            None => serde_json::Value::Array(Vec::new()),
        }
    }

    fn config_changed(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        let sent = {
            let tx = self.reload.lock().unwrap_or_else(|p| p.into_inner());
            tx.send(WorkerMsg::Reload(done)).is_ok()
        };
        // Bounded: a slow disk must not hang the admin API; the poll catches up.
        if sent {
            let _ = wait.recv_timeout(Duration::from_secs(2));
        }
    }
}

/// The background database thread: retries opening with backoff while the
/// database is unusable, then polls `config_version` and reloads on change
/// (or at once when the admin API asks). Returns the recorder's handle at
/// the end so shutdown can flush it.
struct DbWorker {
    stop: mpsc::Sender<WorkerMsg>,
    thread: std::thread::JoinHandle<Option<RecorderHandle>>,
}

impl DbWorker {
    fn spawn(
        shared: Arc<Shared>,
        mut store: Option<Store>,
        mut handle: Option<RecorderHandle>,
        path: DbLocation,
        retention_days: u32,
        interval: Duration,
        (stop, rx): (mpsc::Sender<WorkerMsg>, mpsc::Receiver<WorkerMsg>),
    ) -> std::io::Result<DbWorker> {
        // Changes made elsewhere arrive within milliseconds where the
        // engine can say so; the poll below stays the fallback.
        let notify = stop.clone();
        let listener =
            crate::db::config_listener(&path, move || notify.send(WorkerMsg::Changed).is_ok());
        let thread = std::thread::Builder::new()
            .name("llmo-db".into())
            .spawn(move || {
                let _listener = listener;
                let mut backoff = RETRY_FIRST;
                let mut done: Option<mpsc::SyncSender<()>> = None;
                let mut failing: Option<String> = None;
                let mut beat = heartbeat::Beat::default();
                loop {
                    if let Some(d) = done.take() {
                        let _ = d.try_send(());
                    }
                    if let Some(s) = &mut store {
                        beat.tick(s, &shared.replicas);
                    }
                    // A failed read is tried again soon, whatever the poll
                    // interval: the change that woke us (a notification is
                    // sent once) must not wait for the next poll.
                    let wait = match (&store, &failing) {
                        (None, _) => backoff,
                        (Some(_), Some(_)) => interval.min(RETRY_FIRST),
                        (Some(_), None) => interval,
                    };
                    match rx.recv_timeout(wait) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Ok(WorkerMsg::Reload(d)) => done = Some(d),
                        Ok(WorkerMsg::Changed) => {}
                        Ok(WorkerMsg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                    match &mut store {
                        None => match open_db(&path, retention_days) {
                            Ok(o) => {
                                log_open_report(&o.report);
                                let _ = shared.recorder.set(o.recorder);
                                handle = Some(o.handle);
                                let mut s = o.store;
                                shared.apply_file(&mut s, true);
                                match load(&shared, &mut s) {
                                    Ok(()) => {
                                        shared.set_problem(None);
                                        tracing::info!("database is usable now; serving");
                                    }
                                    Err(e) => shared.set_problem(Some(Problem::from_store(&e))),
                                }
                                store = Some(s);
                            }
                            Err(e) => {
                                let p = Problem::from_store(&e);
                                tracing::warn!(
                                    "database still unusable ({}); retrying in {}s",
                                    p.problem,
                                    (backoff * 2).min(RETRY_MAX).as_secs()
                                );
                                shared.set_problem(Some(p));
                                backoff = (backoff * 2).min(RETRY_MAX);
                            }
                        },
                        Some(s) => {
                            shared.apply_file(s, false);
                            match load(&shared, s) {
                                Ok(()) => {
                                    if failing.take().is_some() {
                                        tracing::info!("configuration reads work again");
                                        shared.set_reads_failing(None);
                                    }
                                    shared.set_problem(None);
                                }
                                // Said once per distinct error, not every poll; the
                                // last good snapshot keeps serving meanwhile.
                                Err(e) => {
                                    let msg = e.to_string();
                                    if failing.as_deref() != Some(msg.as_str()) {
                                        tracing::warn!("cannot reload the configuration (serving the last one loaded): {msg}");
                                        shared.set_reads_failing(Some(msg.clone()));
                                        failing = Some(msg);
                                    }
                                }
                            }
                        }
                    }
                }
                if let Some(s) = &mut store {
                    beat.gone(s, &shared.replicas);
                }
                handle
            })?;
        Ok(DbWorker { stop, thread })
    }

    fn stop(self) -> Option<RecorderHandle> {
        let _ = self.stop.send(WorkerMsg::Stop);
        self.thread.join().ok().flatten()
    }
}

/// Runs the gateway on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    serve_with(Options::new(settings), listener, shutdown).await
}

/// Like [`serve`], with the options tests and `llmo serve` set.
pub async fn serve_with(
    opts: Options,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let settings = &opts.settings;
    mem::cap_arenas();
    let shared = Arc::new(Shared::new(&opts)?);
    shared.replicas.set_listen(listener.local_addr()?);
    shared.limits.connect().await;
    let path = settings.db.value.clone();
    let worker_channel = mpsc::channel::<WorkerMsg>();
    install_admin(&shared, settings, worker_channel.0.clone());
    let retention = settings.log_retention_days.value;
    tracing::info!("database: {path}");
    let (store, handle) = open_at_start(&shared, &path, retention, opts.exit_on_error).await?;
    let worker = DbWorker::spawn(
        shared.clone(),
        store,
        handle,
        path,
        retention,
        opts.reload_interval,
        worker_channel,
    )?;
    if shared.allow_anonymous {
        tracing::warn!("anonymous access is ON: requests without an API key are served");
    }
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!("listening on http://{addr}");

    let trimmer = tokio::spawn(mem::trim_task());
    let graceful = GracefulShutdown::new();
    // Tells connections that have not sent a byte yet to close at shutdown
    // (they hold a graceful-shutdown watcher the drain would wait for).
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    accept_until(
        &listener,
        &shared,
        &graceful,
        &stopping,
        opts.header_timeout,
        shutdown,
    )
    .await;
    drop(listener);
    let _ = stopping_tx.send(true);
    let timeout = settings.shutdown_timeout.value;
    tracing::info!(
        "shutting down: finishing in-flight requests (up to {})",
        crate::time::format_ms(timeout.as_millis() as i64)
    );
    let drained = graceful.shutdown();
    tokio::pin!(drained);
    if tokio::time::timeout(timeout, &mut drained).await.is_err() {
        tracing::warn!(
            "shutdown timeout reached: ending the requests and streams still open (503 `shutdown`, logged)"
        );
        shared.cut.send_replace(true);
        if tokio::time::timeout(CUT_GRACE, &mut drained).await.is_err() {
            tracing::warn!("cutting the connections that did not take their answer");
        }
    }
    let handle = tokio::task::spawn_blocking(move || worker.stop()).await?;
    if let Some(h) = handle {
        tokio::task::spawn_blocking(move || h.shutdown(RECORDER_FLUSH_TIMEOUT)).await?;
    }
    trimmer.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Sets up the admin API (off without an admin key).
fn install_admin(shared: &Arc<Shared>, settings: &Settings, reload: mpsc::Sender<WorkerMsg>) {
    let live = AdminLive {
        shared: Arc::downgrade(shared),
        reload: std::sync::Mutex::new(reload),
    };
    let _ = shared.admin.set(Arc::new(crate::admin::Admin::new(
        settings.db.value.clone(),
        settings.admin_key.value.clone(),
        Arc::new(live),
    )));
    if settings.admin_key.value.is_some() {
        tracing::info!(
            "admin API at /admin and web UI at /admin-ui/ (admin key from {})",
            settings.admin_key.source
        );
    } else {
        tracing::info!("admin API and UI are off: no admin key (see `llmo admin-key generate`)");
    }
}

/// Opens the database and loads the catalog at start-up. A database that
/// cannot be used is an error with `exit_on_error`; otherwise the gateway
/// serves not-ready (and the database thread keeps retrying).
async fn open_at_start(
    shared: &Arc<Shared>,
    path: &DbLocation,
    retention: u32,
    exit_on_error: bool,
) -> anyhow::Result<(Option<Store>, Option<RecorderHandle>)> {
    let p2 = path.clone();
    let opened = tokio::task::spawn_blocking(move || open_db(&p2, retention)).await?;
    Ok(match opened {
        Ok(mut o) => {
            log_open_report(&o.report);
            let _ = shared.recorder.set(o.recorder);
            let sh = shared.clone();
            let (store, res) = tokio::task::spawn_blocking(move || {
                sh.apply_file(&mut o.store, true);
                let r = load(&sh, &mut o.store);
                (o.store, r)
            })
            .await?;
            if let Err(e) = res {
                if exit_on_error {
                    return Err(anyhow::Error::new(e).context("loading the configuration"));
                }
                shared.set_problem(Some(Problem::from_store(&e)));
            }
            (Some(store), Some(o.handle))
        }
        Err(e) => {
            if exit_on_error {
                let hint = e.hint();
                let mut u = crate::error::user(format!("cannot serve: {e}"));
                if let Some(h) = hint {
                    u = u.hint(h);
                }
                return Err(u.into());
            }
            let p = Problem::from_store(&e);
            tracing::error!(
                "database unusable: {}; fix: {}; serving not-ready (/ready answers 503) and retrying in the background",
                p.problem,
                p.fix
            );
            shared.set_problem(Some(p));
            (None, None)
        }
    })
}

/// The answer of a request the shutdown deadline cut (its handler was
/// dropped; its log row says `shutdown`, see `LogCtx`): 503 `shutdown`.
fn cut_response() -> hyper::Response<body::Body> {
    use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE};
    let mut res = hyper::Response::new(body::Body::full(error::error_json(
        "the server is shutting down; retry the request",
        "server_error",
        Some("shutdown"),
        None,
    )));
    *res.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CONNECTION, HeaderValue::from_static("close"));
    res
}

/// Accepts connections until `shutdown` resolves; each is served by its own
/// task, watched by `graceful`.
async fn accept_until(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    graceful: &GracefulShutdown,
    stopping: &tokio::sync::watch::Receiver<bool>,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (sock, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, go on.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = sock.set_nodelay(true);
                let sh = shared.clone();
                let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                    // The admin API slows down wrong keys per client address.
                    req.extensions_mut().insert(router::Peer(peer.ip()));
                    let sh = sh.clone();
                    async move { Ok::<_, Infallible>(router::handle(sh, req).await) }
                });
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let mut stopping = stopping.clone();
                tokio::spawn(async move {
                    // hyper's header timeout starts once it knows the
                    // protocol, i.e. after the first bytes: a client that
                    // connects and sends nothing is bounded here.
                    let mut first = [0u8; 1];
                    tokio::select! {
                        r = tokio::time::timeout(header_timeout, sock.peek(&mut first)) => match r {
                            Ok(Ok(n)) if n > 0 => {}
                            _ => return,
                        },
                        _ = stopping.changed() => return,
                    }
                    let conn = builder.serve_connection(TokioIo::new(sock), svc);
                    let _ = watcher.watch(conn).await;
                });
            }
            () = &mut shutdown => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_zero_padded_lowercase_hex() {
        for (p, n) in [
            (0u32, 0u64),
            (0x0800_a6d1, 5),
            (u32::MAX, 0xffff_ffff_ffff),
            (0xabc, 0x1234_5678_9abc),
        ] {
            let mut id = String::from("req_");
            push_hex(&mut id, u64::from(p), 8);
            push_hex(&mut id, n, 12);
            assert_eq!(id, format!("req_{p:08x}{n:012x}"));
        }
    }
}

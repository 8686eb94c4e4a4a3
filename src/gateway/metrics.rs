//! Prometheus metrics (text exposition format 0.0.4) for `/metrics`.
//!
//! Cheap on the request path: each family is a `RwLock<HashMap<..>>` whose
//! values hold atomics, looked up under the read lock with a *borrowed* key
//! (`&str`s, no allocation); the write lock is taken only the first time a
//! label set is seen. Histograms have fixed buckets and keep their sum in
//! integer nanoseconds, so an observation is two `fetch_add`s.
//!
//! Label cardinality is bounded: past [`MAX_SERIES`] label sets in a family,
//! new ones are counted under the label value [`OVERFLOW_LABEL`], so a
//! client sending random model names cannot grow memory without bound.
use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use super::recorder::CircuitState;

/// Upper bounds (seconds) of `llmo_upstream_latency_seconds` buckets.
pub(crate) const UPSTREAM_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Upper bounds (seconds) of `llmo_gateway_overhead_seconds` buckets.
pub(crate) const OVERHEAD_BUCKETS: [f64; 11] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
];

/// Most label sets kept per metric family.
pub(crate) const MAX_SERIES: usize = 2000;

/// The label value that stands in for label sets past [`MAX_SERIES`].
pub(crate) const OVERFLOW_LABEL: &str = "_overflow_";

/// A histogram with fixed buckets.
#[derive(Debug)]
pub(crate) struct Histogram {
    bounds: &'static [f64],
    /// Per-bucket (not cumulative) counts; the last one is `+Inf`.
    counts: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

impl Histogram {
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Records one value in seconds (negative or NaN counts as 0).
    pub(crate) fn observe(&self, secs: f64) {
        let secs = if secs.is_finite() && secs > 0.0 {
            secs
        } else {
            0.0
        };
        // Bucket `le=b` holds values <= b.
        let i = self.bounds.partition_point(|b| *b < secs);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_ns
            .fetch_add((secs * 1e9) as u64, Ordering::Relaxed);
    }

    /// Cumulative counts per bound (`le`), then `+Inf` (= the total count).
    pub(crate) fn cumulative(&self) -> Vec<u64> {
        let mut acc = 0;
        self.counts
            .iter()
            .map(|c| {
                acc += c.load(Ordering::Relaxed);
                acc
            })
            .collect()
    }

    pub(crate) fn sum_secs(&self) -> f64 {
        self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let cum = self.cumulative();
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, n) in cum.iter().enumerate() {
            match self.bounds.get(i) {
                Some(b) => {
                    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {n}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {n}");
                }
            }
        }
        let braces = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{{{s}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), self.sum_secs());
        let _ = writeln!(
            out,
            "{name}_count{} {}",
            braces(labels),
            cum.last().copied().unwrap_or(0)
        );
    }
}

/// Per-provider series.
#[derive(Debug)]
struct ProviderSeries {
    upstream: Histogram,
    retries: AtomicU64,
    circuit: AtomicU8,
}

impl ProviderSeries {
    fn new() -> Self {
        ProviderSeries {
            upstream: Histogram::new(&UPSTREAM_BUCKETS),
            retries: AtomicU64::new(0),
            circuit: AtomicU8::new(CircuitState::Closed.gauge()),
        }
    }
}

/// `(model, provider, status)`, owned, as stored in the map.
#[derive(Debug)]
struct ReqKey {
    model: Box<str>,
    provider: Box<str>,
    status: u16,
}

/// A view of a request key, owned or borrowed, so the map can be searched
/// with `(&str, &str, u16)` without building a `ReqKey`.
trait ReqKeyView {
    fn parts(&self) -> (&str, &str, u16);
}

impl ReqKeyView for ReqKey {
    fn parts(&self) -> (&str, &str, u16) {
        (&self.model, &self.provider, self.status)
    }
}

impl ReqKeyView for (&str, &str, u16) {
    fn parts(&self) -> (&str, &str, u16) {
        *self
    }
}

impl<'a> Borrow<dyn ReqKeyView + 'a> for ReqKey {
    fn borrow(&self) -> &(dyn ReqKeyView + 'a) {
        self
    }
}

impl Hash for dyn ReqKeyView + '_ {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.parts().hash(h);
    }
}

impl PartialEq for dyn ReqKeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn ReqKeyView + '_ {}

// Must hash exactly like `dyn ReqKeyView` (the `Borrow` contract).
impl Hash for ReqKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.parts().hash(h);
    }
}

impl PartialEq for ReqKey {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for ReqKey {}

/// FxHash (as in rustc): a multiply-rotate over 8-byte words, several
/// times faster than SipHash on short label strings. Keys are label sets the
/// gateway chooses (configured names), bounded by [`MAX_SERIES`].
#[derive(Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

type Family<K, V> = RwLock<HashMap<K, V, BuildHasherDefault<FxHasher>>>;
type Map<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// One `llmo_requests_total` series, with the provider's series it feeds
/// (so a request is one map lookup).
#[derive(Debug)]
struct ReqSeries {
    count: AtomicU64,
    provider: Option<Arc<ProviderSeries>>,
}

/// All of llmo's metrics. One per server, shared behind an `Arc`.
#[derive(Debug)]
pub(crate) struct Metrics {
    requests: Family<ReqKey, ReqSeries>,
    providers: Family<Box<str>, Arc<ProviderSeries>>,
    failovers: Family<Box<str>, AtomicU64>,
    /// scope -> name -> count.
    rate_limited: Family<&'static str, Map<Box<str>, AtomicU64>>,
    overhead: Histogram,
    /// Request bodies cut off as too slow (408): `/v1`, then the admin API.
    body_timeouts: [AtomicU64; 2],
    /// Set once a family overflowed (the warning is logged once).
    overflowed: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Default::default(),
            providers: Default::default(),
            failovers: Default::default(),
            rate_limited: Default::default(),
            overhead: Histogram::new(&OVERHEAD_BUCKETS),
            body_timeouts: Default::default(),
            overflowed: AtomicBool::new(false),
        }
    }
}

fn read<K, V>(f: &Family<K, V>) -> std::sync::RwLockReadGuard<'_, Map<K, V>> {
    f.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<K, V>(f: &Family<K, V>) -> std::sync::RwLockWriteGuard<'_, Map<K, V>> {
    f.write().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    fn overflow(&self, family: &str) {
        if !self.overflowed.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                family,
                max = MAX_SERIES,
                "too many distinct metric labels; further ones are counted as `{OVERFLOW_LABEL}`"
            );
        }
    }

    /// The provider's series, created the first time.
    fn provider_series(&self, provider: &str) -> Arc<ProviderSeries> {
        if let Some(s) = read(&self.providers).get(provider) {
            return s.clone();
        }
        let mut map = write(&self.providers);
        let name = if map.len() >= MAX_SERIES && !map.contains_key(provider) {
            self.overflow("llmo_upstream_latency_seconds");
            OVERFLOW_LABEL
        } else {
            provider
        };
        map.entry(name.into())
            .or_insert_with(|| Arc::new(ProviderSeries::new()))
            .clone()
    }

    /// Runs `f` on the provider's series, creating it the first time.
    fn with_provider(&self, provider: &str, f: impl Fn(&ProviderSeries)) {
        if let Some(s) = read(&self.providers).get(provider) {
            return f(s);
        }
        f(&self.provider_series(provider));
    }

    /// One finished request: the client got `status`; `upstream_secs` were
    /// spent waiting on upstreams and `overhead_secs` in the gateway itself.
    /// `provider` is `""` when no upstream was tried (then the upstream
    /// histogram is not touched). Pass only configured model names (e.g. an
    /// unknown model as `""`) to keep labels bounded.
    pub(crate) fn request(
        &self,
        model: &str,
        provider: &str,
        status: u16,
        upstream_secs: f64,
        overhead_secs: f64,
    ) {
        let key = (model, provider, status);
        let observe = |r: &ReqSeries| {
            r.count.fetch_add(1, Ordering::Relaxed);
            if let Some(p) = &r.provider {
                p.upstream.observe(upstream_secs);
            }
        };
        let found = read(&self.requests)
            .get(&key as &dyn ReqKeyView)
            .map(observe)
            .is_some();
        if !found {
            self.request_new_labels(key, upstream_secs);
        }
        self.overhead.observe(overhead_secs);
    }

    /// [`Metrics::request`] for a label set not seen yet (or past the cap).
    #[cold]
    fn request_new_labels(&self, key: (&str, &str, u16), upstream_secs: f64) {
        let (_, provider, status) = key;
        if read(&self.requests).len() >= MAX_SERIES {
            // Too many label sets: count under the overflow labels; the
            // upstream time still goes to the provider's own histogram.
            self.overflow("llmo_requests_total");
            self.count_request(&(OVERFLOW_LABEL, OVERFLOW_LABEL, status), None);
            if !provider.is_empty() {
                self.with_provider(provider, |s| s.upstream.observe(upstream_secs));
            }
            return;
        }
        // No lock is held while the provider's series is looked up.
        let series = (!provider.is_empty()).then(|| self.provider_series(provider));
        if let Some(p) = self.count_request(&key, series) {
            p.upstream.observe(upstream_secs);
        }
    }

    /// Counts a request under `key`, creating the series; returns the
    /// series' provider series (to observe the upstream latency on).
    fn count_request(
        &self,
        key: &(&str, &str, u16),
        provider: Option<Arc<ProviderSeries>>,
    ) -> Option<Arc<ProviderSeries>> {
        if let Some(r) = read(&self.requests).get(key as &dyn ReqKeyView) {
            r.count.fetch_add(1, Ordering::Relaxed);
            return r.provider.clone();
        }
        let mut map = write(&self.requests);
        if map.get(key as &dyn ReqKeyView).is_none() {
            map.insert(
                ReqKey {
                    model: key.0.into(),
                    provider: key.1.into(),
                    status: key.2,
                },
                ReqSeries {
                    count: AtomicU64::new(0),
                    provider,
                },
            );
        }
        let r = map.get(key as &dyn ReqKeyView)?;
        r.count.fetch_add(1, Ordering::Relaxed);
        r.provider.clone()
    }

    /// A retry of a request on `provider` (the same or after a failover).
    pub(crate) fn retry(&self, provider: &str) {
        self.with_provider(provider, |s| {
            s.retries.fetch_add(1, Ordering::Relaxed);
        });
    }

    /// A request for `model` moved on to another provider.
    pub(crate) fn failover(&self, model: &str) {
        self.bump_named(&self.failovers, "llmo_failovers_total", model);
    }

    fn bump_named(&self, family: &Family<Box<str>, AtomicU64>, fname: &str, name: &str) {
        if let Some(c) = read(family).get(name) {
            c.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut map = write(family);
        let name = if map.len() >= MAX_SERIES && !map.contains_key(name) {
            self.overflow(fname);
            OVERFLOW_LABEL
        } else {
            name
        };
        map.entry(name.into())
            .or_insert_with(|| AtomicU64::new(0))
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A request refused by a rate limit: `scope` is `"provider"` or `"key"`,
    /// `name` the provider's or the key's name.
    pub(crate) fn rate_limited(&self, scope: &'static str, name: &str) {
        if let Some(c) = read(&self.rate_limited)
            .get(scope)
            .and_then(|names| names.get(name))
        {
            c.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut map = write(&self.rate_limited);
        let names = map.entry(scope).or_default();
        let name = if names.len() >= MAX_SERIES && !names.contains_key(name) {
            self.overflow("llmo_rate_limited_total");
            OVERFLOW_LABEL
        } else {
            name
        };
        names
            .entry(name.into())
            .or_insert_with(|| AtomicU64::new(0))
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A request body was cut off as too slow; `surface` is `api` (`/v1`)
    /// or `admin`.
    pub(crate) fn body_timeout(&self, surface: &'static str) {
        let i = usize::from(surface == "admin");
        self.body_timeouts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// A provider's circuit changed state.
    pub(crate) fn circuit(&self, provider: &str, state: CircuitState) {
        self.with_provider(provider, |s| {
            s.circuit.store(state.gauge(), Ordering::Relaxed)
        });
    }

    /// The whole exposition, with the recorder's queue depth and drop count.
    pub(crate) fn render(&self, queue_depth: usize, dropped: u64) -> String {
        let mut out = String::with_capacity(4096);
        self.render_requests(&mut out);
        self.render_providers(&mut out);
        self.render_failovers(&mut out);
        self.render_rate_limited(&mut out);
        header(
            &mut out,
            "llmo_log_queue_depth",
            "gauge",
            "Request-log rows waiting for the database writer.",
        );
        let _ = writeln!(out, "llmo_log_queue_depth {queue_depth}");
        header(
            &mut out,
            "llmo_log_rows_dropped_total",
            "counter",
            "Request-log rows never written (queue full or database error).",
        );
        let _ = writeln!(out, "llmo_log_rows_dropped_total {dropped}");
        header(
            &mut out,
            "llmo_request_body_timeouts_total",
            "counter",
            "Requests answered 408 because their body arrived too late or too slowly, by surface.",
        );
        for (i, surface) in ["api", "admin"].iter().enumerate() {
            let n = self.body_timeouts[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "llmo_request_body_timeouts_total{{surface=\"{surface}\"}} {n}"
            );
        }
        out
    }

    /// `llmo_requests_total`.
    fn render_requests(&self, out: &mut String) {
        header(
            out,
            "llmo_requests_total",
            "counter",
            "Requests answered, by public model, provider (empty: none tried) and HTTP status.",
        );
        {
            let map = read(&self.requests);
            let mut rows: Vec<_> = map
                .iter()
                .map(|(k, r)| (k.parts(), r.count.load(Ordering::Relaxed)))
                .collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            for ((model, provider, status), n) in rows {
                let _ = writeln!(
                    out,
                    "llmo_requests_total{{model=\"{}\",provider=\"{}\",status=\"{status}\"}} {n}",
                    escape(model),
                    escape(provider)
                );
            }
        }
    }

    /// The per-provider families (and the gateway overhead between them).
    fn render_providers(&self, out: &mut String) {
        let providers = read(&self.providers);
        let mut series: Vec<(&str, &ProviderSeries)> =
            providers.iter().map(|(n, s)| (&**n, &**s)).collect();
        series.sort_by_key(|(n, _)| *n);

        header(
            out,
            "llmo_upstream_latency_seconds",
            "histogram",
            "Time spent waiting on upstream providers per request, by provider.",
        );
        for (name, s) in &series {
            let labels = format!("provider=\"{}\"", escape(name));
            s.upstream
                .render(out, "llmo_upstream_latency_seconds", &labels);
        }

        header(
            out,
            "llmo_gateway_overhead_seconds",
            "histogram",
            "Time each request spent in the gateway itself (total minus upstream).",
        );
        self.overhead
            .render(out, "llmo_gateway_overhead_seconds", "");

        header(
            out,
            "llmo_retries_total",
            "counter",
            "Upstream attempts beyond the first, by the provider retried on.",
        );
        per_provider(out, "llmo_retries_total", &series, |s| {
            s.retries.load(Ordering::Relaxed)
        });
        header(
            out,
            "llmo_circuit_state",
            "gauge",
            "Circuit-breaker state by provider: 0 closed, 1 half-open, 2 open.",
        );
        per_provider(out, "llmo_circuit_state", &series, |s| {
            u64::from(s.circuit.load(Ordering::Relaxed))
        });
    }

    /// `llmo_failovers_total`.
    fn render_failovers(&self, out: &mut String) {
        header(
            out,
            "llmo_failovers_total",
            "counter",
            "Requests that moved on to another provider, by public model.",
        );
        {
            let map = read(&self.failovers);
            let mut rows: Vec<_> = map
                .iter()
                .map(|(k, c)| (k, c.load(Ordering::Relaxed)))
                .collect();
            rows.sort();
            for (model, n) in rows {
                let _ = writeln!(
                    out,
                    "llmo_failovers_total{{model=\"{}\"}} {n}",
                    escape(model)
                );
            }
        }
    }

    /// `llmo_rate_limited_total`.
    fn render_rate_limited(&self, out: &mut String) {
        header(
            out,
            "llmo_rate_limited_total",
            "counter",
            "Requests refused by a rate limit, by scope (provider or key) and name.",
        );
        {
            let map = read(&self.rate_limited);
            let mut rows: Vec<_> = map
                .iter()
                .flat_map(|(s, names)| {
                    names
                        .iter()
                        .map(move |(n, c)| ((*s, n), c.load(Ordering::Relaxed)))
                })
                .collect();
            rows.sort();
            for ((scope, name), n) in rows {
                let _ = writeln!(
                    out,
                    "llmo_rate_limited_total{{scope=\"{}\",name=\"{}\"}} {n}",
                    escape(scope),
                    escape(name)
                );
            }
        }
    }
}

/// The request-log writer's state (appended to [`Metrics::render`]'s
/// output): what `llmo doctor` reads to say whether the writer is blocked
/// or failing, and why.
/// `llmo_db_up`: 1 while the database answers (open, configuration polls
/// and request-log writes working), 0 while it does not.
pub(crate) fn render_db_up(out: &mut String, up: bool) {
    header(
        out,
        "llmo_db_up",
        "gauge",
        "1 while the database answers (configuration polls and request-log writes work), 0 while it does not (the gateway keeps serving from its snapshot).",
    );
    let _ = writeln!(out, "llmo_db_up {}", u8::from(up));
}

pub(crate) fn render_log_writer(out: &mut String, v: &super::recorder::WriterView) {
    header(
        out,
        "llmo_log_writer_state",
        "gauge",
        "The request-log writer: 0 ok, 1 blocked (a database write has waited over 1 s), 2 failing (batches are dropped), 3 holding (the database cannot be reached: rows wait in the queue).",
    );
    let state = match v.state {
        "ok" => 0,
        "blocked" => 1,
        "holding" => 3,
        _ => 2,
    };
    let _ = writeln!(out, "llmo_log_writer_state {state}");
    header(
        out,
        "llmo_log_writer_holding_seconds",
        "gauge",
        "How long rows have been held for a database that cannot be reached (0 when none are).",
    );
    let _ = writeln!(
        out,
        "llmo_log_writer_holding_seconds {}",
        v.holding_ms as f64 / 1000.0
    );
    header(
        out,
        "llmo_log_writer_blocked_seconds",
        "gauge",
        "How long the writer's current database write has waited (0 when not blocked).",
    );
    let _ = writeln!(
        out,
        "llmo_log_writer_blocked_seconds {}",
        v.blocked_ms as f64 / 1000.0
    );
    header(
        out,
        "llmo_log_writer_failing_seconds",
        "gauge",
        "How long request-log writes have been failing (0 when they work).",
    );
    let _ = writeln!(
        out,
        "llmo_log_writer_failing_seconds {}",
        v.failing_ms as f64 / 1000.0
    );
    header(
        out,
        "llmo_log_writer_rows_dropped_total",
        "counter",
        "Request-log rows dropped because their batch could not be written (part of llmo_log_rows_dropped_total).",
    );
    let _ = writeln!(
        out,
        "llmo_log_writer_rows_dropped_total {}",
        v.write_dropped
    );
    if let Some(e) = &v.last_error {
        header(
            out,
            "llmo_log_writer_last_error_info",
            "gauge",
            "The last request-log write error, as a label.",
        );
        let _ = writeln!(
            out,
            "llmo_log_writer_last_error_info{{error=\"{}\"}} 1",
            escape(e)
        );
    }
}

/// One `metric{provider="…"} value` line per provider, in name order.
fn per_provider(
    out: &mut String,
    metric: &str,
    series: &[(&str, &ProviderSeries)],
    value: impl Fn(&ProviderSeries) -> u64,
) {
    for (name, s) in series {
        let _ = writeln!(
            out,
            "{metric}{{provider=\"{}\"}} {}",
            escape(name),
            value(s)
        );
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value: backslash, double quote and line feed.
pub(crate) fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return v.into();
    }
    let mut s = String::with_capacity(v.len() + 4);
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s.into()
}

/// Escapes `# HELP` text: backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// The content type of [`Metrics::render`]'s output.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(out: &'a str, prefix: &str) -> Option<&'a str> {
        out.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn histogram_buckets_are_le_and_cumulative() {
        let h = Histogram::new(&UPSTREAM_BUCKETS);
        h.observe(0.0005); // exactly on a bound: counts in le=0.0005
        h.observe(0.0007);
        h.observe(0.2);
        h.observe(31.0); // past the last bound: +Inf only
        h.observe(-1.0); // clamped to 0
        h.observe(f64::NAN);
        let c = h.cumulative();
        assert_eq!(c.len(), UPSTREAM_BUCKETS.len() + 1);
        assert_eq!(c[0], 3, "le=0.0005: 0.0005, and the two zeros");
        assert_eq!(c[1], 4, "le=0.001");
        assert_eq!(c[7], 4, "le=0.1");
        assert_eq!(c[8], 5, "le=0.25");
        assert_eq!(c[14], 5, "le=30");
        assert_eq!(c[15], 6, "+Inf = count");
        assert!((h.sum_secs() - 31.2012).abs() < 1e-6, "{}", h.sum_secs());
    }

    #[test]
    fn renders_every_family_with_help_and_type() {
        let m = Metrics::default();
        m.request("gpt-4o", "openai", 200, 0.12, 0.00004);
        m.request("gpt-4o", "openai", 200, 0.3, 0.0002);
        m.request("gpt-4o", "openai", 502, 1.5, 0.0002);
        m.request("gpt-4o", "", 401, 0.0, 0.00001);
        m.retry("openai");
        m.failover("gpt-4o");
        m.rate_limited("key", "app");
        m.rate_limited("key", "app");
        m.rate_limited("provider", "openai");
        m.circuit("anthropic", CircuitState::Open);
        m.circuit("openai", CircuitState::HalfOpen);
        let out = m.render(7, 3);
        println!("{out}");
        for fam in [
            "llmo_requests_total counter",
            "llmo_upstream_latency_seconds histogram",
            "llmo_gateway_overhead_seconds histogram",
            "llmo_retries_total counter",
            "llmo_failovers_total counter",
            "llmo_rate_limited_total counter",
            "llmo_circuit_state gauge",
            "llmo_log_queue_depth gauge",
            "llmo_log_rows_dropped_total counter",
            "llmo_request_body_timeouts_total counter",
        ] {
            assert!(out.contains(&format!("# TYPE {fam}\n")), "{fam}");
            let name = fam.split(' ').next().unwrap_or_default();
            assert!(out.contains(&format!("# HELP {name} ")), "{name}");
        }
        assert!(out.contains(
            "llmo_requests_total{model=\"gpt-4o\",provider=\"openai\",status=\"200\"} 2\n"
        ));
        assert!(out.contains(
            "llmo_requests_total{model=\"gpt-4o\",provider=\"openai\",status=\"502\"} 1\n"
        ));
        assert!(
            out.contains("llmo_requests_total{model=\"gpt-4o\",provider=\"\",status=\"401\"} 1\n")
        );
        assert!(out
            .contains("llmo_upstream_latency_seconds_bucket{provider=\"openai\",le=\"0.25\"} 1\n"));
        assert!(out
            .contains("llmo_upstream_latency_seconds_bucket{provider=\"openai\",le=\"+Inf\"} 3\n"));
        assert!(out.contains("llmo_upstream_latency_seconds_count{provider=\"openai\"} 3\n"));
        assert!(out.contains("llmo_upstream_latency_seconds_sum{provider=\"openai\"} 1.92\n"));
        // The request with no provider did not create an empty-named series.
        assert!(!out.contains("llmo_upstream_latency_seconds_count{provider=\"\"}"));
        assert!(out.contains("llmo_gateway_overhead_seconds_bucket{le=\"0.00005\"} 2\n"));
        assert!(out.contains("llmo_gateway_overhead_seconds_bucket{le=\"0.00025\"} 4\n"));
        assert!(out.contains("llmo_gateway_overhead_seconds_count 4\n"));
        assert!(out.contains("llmo_retries_total{provider=\"openai\"} 1\n"));
        assert!(out.contains("llmo_failovers_total{model=\"gpt-4o\"} 1\n"));
        assert!(out.contains("llmo_rate_limited_total{scope=\"key\",name=\"app\"} 2\n"));
        assert!(out.contains("llmo_rate_limited_total{scope=\"provider\",name=\"openai\"} 1\n"));
        assert!(out.contains("llmo_circuit_state{provider=\"anthropic\"} 2\n"));
        assert!(out.contains("llmo_circuit_state{provider=\"openai\"} 1\n"));
        assert!(out.contains("llmo_log_queue_depth 7\n"));
        assert!(out.contains("llmo_log_rows_dropped_total 3\n"));
        // Every sample line is `name{labels} value` or `name value`.
        for l in out.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = l.rsplit_once(' ').unwrap();
            assert!(v.parse::<f64>().is_ok(), "bad sample: {l}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.request("we\"ird\\model\nx", "p", 200, 0.1, 0.001);
        m.failover("a\"b");
        let out = m.render(0, 0);
        let l = line(&out, "llmo_requests_total{").unwrap();
        assert_eq!(
            l,
            r#"llmo_requests_total{model="we\"ird\\model\nx",provider="p",status="200"} 1"#
        );
        assert!(out.contains(r#"llmo_failovers_total{model="a\"b"} 1"#));
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn label_sets_are_capped() {
        let m = Metrics::default();
        for i in 0..MAX_SERIES + 10 {
            m.failover(&format!("m{i}"));
        }
        m.failover("m0");
        let out = m.render(0, 0);
        let n = out
            .lines()
            .filter(|l| l.starts_with("llmo_failovers_total{"))
            .count();
        assert_eq!(n, MAX_SERIES + 1);
        assert!(out.contains("llmo_failovers_total{model=\"_overflow_\"} 10\n"));
        assert!(out.contains("llmo_failovers_total{model=\"m0\"} 2\n"));
    }

    #[test]
    fn request_label_sets_are_capped_without_losing_latency() {
        let m = Metrics::default();
        for i in 0..MAX_SERIES {
            m.request(&format!("m{i}"), "openai", 200, 0.001, 0.0);
        }
        m.request("one-too-many", "anthropic", 200, 0.2, 0.0);
        m.request("two-too-many", "anthropic", 200, 0.2, 0.0);
        m.request("m1", "openai", 200, 0.001, 0.0);
        let out = m.render(0, 0);
        assert!(out.contains(
            "llmo_requests_total{model=\"_overflow_\",provider=\"_overflow_\",status=\"200\"} 2\n"
        ));
        assert!(out
            .contains("llmo_requests_total{model=\"m1\",provider=\"openai\",status=\"200\"} 2\n"));
        assert!(!out.contains("one-too-many"));
        assert!(out.contains("llmo_upstream_latency_seconds_count{provider=\"anthropic\"} 2\n"));
        assert!(out.contains(&format!(
            "llmo_upstream_latency_seconds_count{{provider=\"openai\"}} {}\n",
            MAX_SERIES + 1
        )));
    }

    /// Not an assertion on speed (shared machine): prints the cost of the
    /// hot-path call. A benchmark, so ignored by default:
    /// `LLMO_TEST_BENCH=1 bash tests/run.sh` runs the ignored benchmarks optimised.
    #[test]
    #[ignore = "benchmark: LLMO_TEST_BENCH=1 bash tests/run.sh runs it optimised"]
    fn request_cost() {
        let m = Metrics::default();
        let models = ["gpt-4o", "claude-sonnet", "gemini-flash"];
        for model in models {
            m.request(model, "openai", 200, 0.01, 0.0001);
        }
        // Best of 5 rounds: the machine is shared, the minimum is the cost.
        let n = 200_000;
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            for i in 0..n {
                m.request(models[i % 3], "openai", 200, 0.01, 0.0001);
            }
            best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
        }
        println!("Metrics::request: {best:.0} ns per call (best of 5 x {n})");
        let out = m.render(0, 0);
        assert!(out.contains("llmo_gateway_overhead_seconds_count 1000003\n"));
    }
}

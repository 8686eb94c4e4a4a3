//! The `--probe` checks: one cheap call per enabled provider, as checks.
use std::time::Duration;

use super::providers::redact_url;
use crate::catalog::Provider;
use crate::doctor::{Check, Group};
use crate::gateway::providers::probe::{self, ProbeOutcome, ProbeResult};

/// One probe per provider, concurrently (see [`probe::probe`]).
pub(crate) async fn probes(providers: &[Provider], timeout: Duration) -> Vec<Check> {
    if providers.is_empty() {
        return Vec::new();
    }
    let b = reqwest::Client::builder().user_agent(concat!(
        "llmo/",
        env!("CARGO_PKG_VERSION"),
        " (doctor)"
    ));
    let b = match crate::gateway::providers::tls::with_extra_roots(b) {
        Ok(b) => b,
        Err(e) => {
            return vec![Check::fail(
                Group::Probe,
                "ca certificates",
                e,
                "point the variable at a readable PEM file (or directory), or unset it",
            )]
        }
    };
    let http = match b.build() {
        Ok(c) => c,
        Err(e) => {
            return vec![Check::fail(
                Group::Probe,
                "client",
                format!("cannot build the HTTP client: {e}"),
                "this is a bug; please report it with this output",
            )]
        }
    };
    let results =
        futures_util::future::join_all(providers.iter().map(|p| probe::probe(&http, p, timeout)))
            .await;
    providers
        .iter()
        .zip(results)
        .map(|(p, r)| probe_check(p, &r, timeout))
        .collect()
}

/// A probe result as a check.
fn probe_check(p: &Provider, r: &ProbeResult, timeout: Duration) -> Check {
    let g = Group::Probe;
    let name = p.name.clone();
    let ms = r.latency.as_millis();
    let call = format!("GET {}", redact_url(&r.url));
    let status = r.status.map(|s| s.to_string()).unwrap_or_default();
    match &r.outcome {
        ProbeOutcome::Ok => Check::ok(g, name, format!("{call}: {status} in {ms} ms")),
        ProbeOutcome::KeyRejected => Check::fail(
            g,
            name.clone(),
            if r.sent_key {
                format!("{call}: {status} in {ms} ms: key rejected")
            } else {
                format!("{call}: {status} in {ms} ms: the server wants a key and none is configured")
            },
            match &p.api_key_env {
                Some(var) => format!(
                    "check the key in `{var}` (expired, revoked, or for another project?), or store a new one: `llmo provider update {name} --api-key -`"
                ),
                None => format!("store a valid key: `llmo provider update {name} --api-key -`"),
            },
        ),
        ProbeOutcome::RateLimited => Check::warn(
            g,
            name,
            format!("{call}: {status} in {ms} ms: reachable, but rate limited right now"),
            "check the account's quota, or lower the provider's `--rate-limit`",
        ),
        ProbeOutcome::Http => Check::fail(
            g,
            name.clone(),
            format!("{call}: {status} in {ms} ms"),
            match r.status {
                Some(404) => format!(
                    "the models list is not at that URL: check the base URL (`llmo provider update {name} --base-url URL`)"
                ),
                Some(s) if s >= 500 => "the upstream is failing; retry later or check its status page".to_string(),
                _ => format!("check the base URL and key (`llmo provider show {name}`)"),
            },
        ),
        ProbeOutcome::Timeout => Check::fail(
            g,
            name,
            format!(
                "{call}: timeout: no answer within {}",
                crate::time::format_ms(timeout.as_millis() as i64)
            ),
            "check outbound network from this machine (firewall, `HTTPS_PROXY`), or raise `--probe-timeout`",
        ),
        ProbeOutcome::Connect(e) => Check::fail(
            g,
            name,
            format!("{call}: connect error after {ms} ms: {e}"),
            "check the base URL, DNS and outbound network (firewall, `HTTPS_PROXY`) from this machine",
        ),
        ProbeOutcome::Other(e) => Check::fail(
            g,
            name,
            format!("{call}: request error after {ms} ms: {e}"),
            "check the base URL",
        ),
    }
}

//! `llmo health`: asks a running server whether it is ready (`GET /ready`)
//! and shows each provider's circuit state. Exit 0 when ready, 1 otherwise
//! (including when the server cannot be reached), so it works as a
//! Kubernetes exec probe. It costs nothing upstream: the server answers
//! from its own state, it does not call providers.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

use super::Ctx;
use crate::error::user;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of the server [default: http:// + the `listen` setting, with
    /// 0.0.0.0 / [::] read as this machine]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// How long to wait for the answer, e.g. `5s` or `500ms`
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::time::parse_duration)]
    pub timeout: Duration,
}

/// The body of `GET /ready` (200 when ready, 503 otherwise).
#[derive(Debug, Deserialize)]
pub struct Ready {
    pub ready: bool,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub fix: Option<String>,
    #[serde(default)]
    pub providers: Vec<ProviderState>,
}

#[derive(Debug, Deserialize)]
pub struct ProviderState {
    pub name: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `closed`, `open`, `half_open`, or `key_missing` when the server's
    /// environment lacks the provider's key variable.
    #[serde(default)]
    pub state: String,
    /// Where the server gets the key: `stored`, `env`, `missing` or `none`
    /// (empty from older servers).
    #[serde(default)]
    pub key: String,
    /// The key variable's name, when the key comes from one.
    #[serde(default)]
    pub key_env: Option<String>,
    #[serde(default)]
    pub consecutive_failures: u64,
    #[serde(default)]
    pub last_error: Option<String>,
    /// Fraction of successful requests over the last 5 minutes (0..=1);
    /// `null` without requests.
    #[serde(default)]
    pub success_rate_5m: Option<f64>,
}

fn yes() -> bool {
    true
}

/// The address to probe for a listen address: an unspecified IP (0.0.0.0,
/// [::]) means "every interface", so ask the loopback of the same family.
pub fn probe_addr(listen: &str) -> String {
    match listen.parse::<SocketAddr>() {
        Ok(mut a) if a.ip().is_unspecified() => {
            a.set_ip(match a.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
            a.to_string()
        }
        _ => listen.to_string(),
    }
}

/// `host:port` → `http://host:port`; drops a trailing `/` or `/ready`.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim();
    let mut s = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    while s.ends_with('/') {
        s.pop();
    }
    if let Some(base) = s.strip_suffix("/ready") {
        s = base.to_string();
    }
    s
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let base = match &args.url {
        Some(u) => normalize_url(u),
        None => {
            let settings = ctx.settings()?;
            format!("http://{}", probe_addr(&settings.listen.value))
        }
    };
    let url = format!("{base}/ready");
    let fetched = fetch(&url, args.timeout).context("starting the HTTP client")?;
    let (status, body) = fetched.map_err(|e| {
        let hint = "start it with `llmo serve`, or pass `--url` if it listens elsewhere";
        if e.is_timeout() {
            user(format!(
                "llmo at {base} did not answer within {}",
                humantime::format_duration(args.timeout)
            ))
            .hint("it may be overloaded or stuck; check its logs, or raise `--timeout`")
        } else if e.is_connect() {
            user(format!("cannot reach llmo at {base}")).hint(hint)
        } else {
            user(format!("cannot reach llmo at {base}: {}", error_chain(&e))).hint(hint)
        }
    })?;
    if status != 200 && status != 503 {
        return Err(user(format!("unexpected answer from {url}: HTTP {status}"))
            .hint("is this an llmo server? pass its address with `--url`")
            .into());
    }
    let ready: Ready = serde_json::from_str(&body).map_err(|e| {
        user(format!(
            "{url} answered HTTP {status} with a body that is not llmo's readiness JSON ({e})"
        ))
        .hint("is this an llmo server? pass its address with `--url`")
    })?;
    let is_ready = ready.ready && status == 200;
    let p = &ctx.printer;
    if ctx.global.json {
        p.data(body.trim_end());
    } else {
        if is_ready {
            p.data("ready");
        } else {
            match &ready.problem {
                Some(problem) => p.data(&format!("not ready: {problem}")),
                None => p.data("not ready"),
            }
            if let Some(fix) = &ready.fix {
                p.data(&format!("hint: {fix}"));
            }
        }
        if ready.providers.is_empty() {
            p.status("no providers configured");
        } else {
            p.print_table(
                &[
                    "NAME",
                    "KIND",
                    "STATE",
                    "FAILURES",
                    "SUCCESS 5M",
                    "LAST ERROR",
                ],
                ready.providers.iter().map(row).collect(),
            );
        }
    }
    Ok(if is_ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn row(pv: &ProviderState) -> Vec<String> {
    let state = if pv.enabled {
        pv.state.clone()
    } else {
        "disabled".into()
    };
    let rate = match pv.success_rate_5m {
        Some(r) if r.is_finite() => format!("{:.1}%", (r * 100.0).clamp(0.0, 100.0)),
        _ => "-".into(),
    };
    let err = match (&pv.last_error, &pv.key_env) {
        (_, Some(var)) if pv.state == "key_missing" => {
            format!("{var} is not set in the server's environment")
        }
        (Some(e), _) if !e.is_empty() => one_line(e, 80),
        _ => "-".into(),
    };
    vec![
        pv.name.clone(),
        pv.kind.clone(),
        state,
        pv.consecutive_failures.to_string(),
        rate,
        err,
    ]
}

/// First line of `s`, at most `max` characters (with `…` when cut).
fn one_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or_default();
    if line.chars().count() <= max && line.len() == s.trim_end().len() {
        return line.to_string();
    }
    let mut out: String = line.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// `GET url` on a small current-thread runtime: `(status, body)`. The
/// outer error is the runtime failing to start (no file descriptors left).
fn fetch(url: &str, timeout: Duration) -> std::io::Result<Result<(u16, String), reqwest::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A probe of this server, not of the network: never via a proxy.
            .no_proxy()
            .user_agent(concat!("llmo-health/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let resp = client.get(url).send().await?;
        let status = resp.status().as_u16();
        let body = resp.text().await?;
        Ok((status, body))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_listen_addresses_probe_loopback() {
        assert_eq!(probe_addr("0.0.0.0:8000"), "127.0.0.1:8000");
        assert_eq!(probe_addr("[::]:9000"), "[::1]:9000");
        assert_eq!(probe_addr("10.0.0.5:8000"), "10.0.0.5:8000");
    }

    #[test]
    fn urls_are_normalized() {
        assert_eq!(normalize_url("127.0.0.1:8000"), "http://127.0.0.1:8000");
        assert_eq!(
            normalize_url("https://llmo.example/"),
            "https://llmo.example"
        );
        assert_eq!(normalize_url("http://h:1/ready"), "http://h:1");
    }

    #[test]
    fn rows_show_disabled_rate_and_short_errors() {
        let pv = ProviderState {
            name: "openai".into(),
            kind: "openai".into(),
            enabled: false,
            state: "open".into(),
            key: "stored".into(),
            key_env: None,
            consecutive_failures: 3,
            last_error: Some(format!("{}\nsecond line", "x".repeat(100))),
            success_rate_5m: Some(0.987),
        };
        let r = row(&pv);
        assert_eq!(r[2], "disabled");
        assert_eq!(r[4], "98.7%");
        assert_eq!(r[5].chars().count(), 80);
        assert!(r[5].ends_with('…'));
    }
}

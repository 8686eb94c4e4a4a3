//! The running server, asked rather than guessed. What matters for a
//! provider's key variable or the admin key is the environment and flags of
//! the `llmo serve` process, not doctor's: when a server answers `/ready`
//! at the configured listen address, doctor takes the provider key state
//! and the admin-key state from it (names and yes/no only, never a secret)
//! and says which process it is. Without one, the checks judge from
//! doctor's own environment and say so.
use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::Check;

/// What a running server said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Running {
    /// The address doctor reached it at.
    pub(crate) addr: String,
    /// Its process id (absent from servers that predate it).
    pub(crate) pid: Option<u32>,
    /// Whether it has an admin key (absent from older servers).
    pub(crate) admin_key: Option<bool>,
    /// Each provider's key state by name: `stored`, `env`, `missing`, `none`.
    pub(crate) keys: BTreeMap<String, String>,
}

/// Whose environment the key checks judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Judge {
    /// A server answered: its state counts.
    Server(Running),
    /// Nothing answered at this address: doctor's own environment counts.
    Local { addr: Option<String> },
}

impl Running {
    /// "the server (pid 42 at 127.0.0.1:8000)".
    pub(crate) fn who(&self) -> String {
        match self.pid {
            Some(pid) => format!("the server (pid {pid} at {})", self.addr),
            None => format!("the server at {}", self.addr),
        }
    }
}

impl Judge {
    /// The note a locally judged check carries.
    pub(crate) fn local_note(&self) -> String {
        match self {
            Judge::Local { addr: Some(a) } => format!(
                "judged from doctor's own environment: no llmo answers at {a}, and `llmo serve` reads its own"
            ),
            _ => "judged from doctor's own environment; `llmo serve` reads its own".into(),
        }
    }
}

#[derive(Deserialize)]
struct ReadyBody {
    #[serde(default)]
    providers: Vec<ReadyProvider>,
    #[serde(default)]
    server: Option<ServerFacts>,
}

#[derive(Deserialize)]
struct ReadyProvider {
    name: String,
    #[serde(default)]
    key: Option<String>,
}

#[derive(Deserialize)]
struct ServerFacts {
    pid: Option<u32>,
    admin_key: Option<bool>,
}

/// Asks `GET /ready` at the listen address; `Judge::Local` when nothing
/// answers there like llmo does.
pub(crate) async fn ask(listen: Option<&str>, timeout: Duration) -> Judge {
    let Some(listen) = listen else {
        return Judge::Local { addr: None };
    };
    let addr = crate::cli::health::probe_addr(listen);
    let local = || Judge::Local {
        addr: Some(addr.clone()),
    };
    let Ok(client) = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
    else {
        return local();
    };
    let Ok(res) = client.get(format!("http://{addr}/ready")).send().await else {
        return local();
    };
    if !matches!(res.status().as_u16(), 200 | 503) {
        return local();
    }
    let Ok(body) = res.bytes().await else {
        return local();
    };
    match parse_ready(&addr, &body) {
        Some(r) => Judge::Server(r),
        None => local(),
    }
}

/// Reads a `/ready` body; `None` unless it is llmo's (it has `server`).
fn parse_ready(addr: &str, body: &[u8]) -> Option<Running> {
    let b: ReadyBody = serde_json::from_slice(body).ok()?;
    let facts = b.server?;
    Some(Running {
        addr: addr.to_string(),
        pid: facts.pid,
        admin_key: facts.admin_key,
        keys: b
            .providers
            .into_iter()
            .filter_map(|p| Some((p.name, p.key?)))
            .collect(),
    })
}

/// The `admin_key` line: the server's state when one answered (doctor's
/// settings may differ from the flags and environment it was started
/// with), else doctor's own with a note saying so.
pub(crate) fn admin_key_check(local: Check, judge: &Judge) -> Check {
    let running = match judge {
        Judge::Server(r) => r,
        Judge::Local { .. } => {
            let mut c = local;
            c.message = format!("{} ({})", c.message, judge.local_note());
            return c;
        }
    };
    let who = running.who();
    let g = local.group;
    let name = local.name.clone();
    match running.admin_key {
        None => local,
        Some(true) => Check::ok(
            g,
            name,
            format!("{who} has an admin key: the admin API (/admin) and web UI (/admin-ui/) are on"),
        ),
        Some(false) => Check::warn(
            g,
            name,
            format!("{who} has none: its admin API (/admin) and web UI (/admin-ui/) answer 503"),
            "restart it with an admin key: `llmo admin-key generate --out /etc/llmo/admin.key`, then \
             `llmo serve --admin-key-file /etc/llmo/admin.key` (or `LLMO_ADMIN_KEY` in its environment, \
             or `admin_key_file` in the config file)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{Group, Status};

    fn running(admin: Option<bool>) -> Judge {
        Judge::Server(Running {
            addr: "127.0.0.1:8000".into(),
            pid: Some(42),
            admin_key: admin,
            keys: BTreeMap::new(),
        })
    }

    #[test]
    fn ready_bodies_of_llmo_only() {
        let body = br#"{"ready":true,"providers":[{"name":"a","key":"missing","key_env":"K"},{"name":"b"}],"server":{"pid":7,"admin_key":false}}"#;
        let r = parse_ready("h:1", body).unwrap();
        assert_eq!((r.pid, r.admin_key), (Some(7), Some(false)));
        assert_eq!(r.keys.get("a").map(String::as_str), Some("missing"));
        assert!(!r.keys.contains_key("b"));
        assert_eq!(r.who(), "the server (pid 7 at h:1)");
        assert_eq!(
            parse_ready("h:1", br#"{"ready":true,"providers":[]}"#),
            None
        );
        assert_eq!(parse_ready("h:1", b"<html>"), None);
        assert_eq!(crate::cli::health::probe_addr("0.0.0.0:9"), "127.0.0.1:9");
        assert_eq!(crate::cli::health::probe_addr("[::]:9"), "[::1]:9");
    }

    #[test]
    fn the_servers_admin_key_state_wins_over_doctors() {
        let local_none = Check::warn(Group::Config, "admin_key", "none: ...", "set one");
        let c = admin_key_check(local_none.clone(), &running(Some(true)));
        assert_eq!(c.status, Status::Ok);
        assert!(c
            .message
            .starts_with("the server (pid 42 at 127.0.0.1:8000) has an admin key"));
        let local_ok = Check::ok(
            Group::Config,
            "admin_key",
            "llmo-...abcd (env LLMO_ADMIN_KEY)",
        );
        let c = admin_key_check(local_ok.clone(), &running(Some(false)));
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.message.contains("(pid 42 at 127.0.0.1:8000) has none"),
            "{}",
            c.message
        );
        assert_eq!(admin_key_check(local_ok.clone(), &running(None)), local_ok);
        let alone = Judge::Local {
            addr: Some("127.0.0.1:8000".into()),
        };
        let c = admin_key_check(local_none, &alone);
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.message.contains("no llmo answers at 127.0.0.1:8000"),
            "{}",
            c.message
        );
    }
}

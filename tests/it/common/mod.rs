//! Helpers shared by the integration tests: a temporary "machine" per test
//! (HOME, XDG dirs and the database inside a tempdir) and the real `llmo`
//! binary run inside it with nothing leaking in from the real environment.
//! [`Env`] is used by cli/migrate tests, [`TestEnv`] by the doctor tests;
//! [`eventually`] waits for a condition instead of sleeping; [`gw`] runs the
//! gateway in-process and [`mock_upstream`] plays its upstreams.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

pub mod gw;
pub mod mock_upstream;
pub mod redis;

use assert_cmd::Command;
use tempfile::TempDir;

/// A per-test environment: everything llmo reads or writes lives in `dir`.
pub struct Env {
    pub dir: TempDir,
}

impl Env {
    pub fn new() -> Self {
        Env {
            dir: tempfile::tempdir().expect("creating a tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `$HOME` of the test machine.
    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    /// The database every [`Env::cmd`] uses (`LLMO_DB`).
    pub fn db(&self) -> PathBuf {
        self.path().join("llmo.db")
    }

    /// `llmo` with a clean environment: no inherited `LLMO_*`, `XDG_*`,
    /// `NO_COLOR` or terminal size; HOME and the XDG dirs inside the tempdir;
    /// no `LLMO_DB` (so the default paths apply).
    pub fn bare_cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_llmo"));
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("LLMO_")
                || k.starts_with("XDG_")
                || matches!(&*k, "NO_COLOR" | "COLUMNS" | "LINES" | "RUST_LOG")
            {
                cmd.env_remove(&*k);
            }
        }
        let home = self.home();
        cmd.env("HOME", &home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .current_dir(self.path())
            .timeout(Duration::from_secs(60));
        cmd
    }

    /// [`Env::bare_cmd`] with `LLMO_DB` set to [`Env::db`].
    pub fn cmd(&self) -> Command {
        let mut cmd = self.bare_cmd();
        cmd.env("LLMO_DB", self.db());
        cmd
    }

    /// Runs `llmo ARGS`, asserts exit 0, returns the output.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().expect("running llmo");
        assert_eq!(
            out.status.code(),
            Some(0),
            "llmo {args:?} failed\n{}",
            describe(&out)
        );
        out
    }

    /// Runs `llmo ARGS`, asserts exit 1 (a user error), returns the output.
    pub fn fails(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().expect("running llmo");
        assert_eq!(
            out.status.code(),
            Some(1),
            "llmo {args:?} should fail with exit 1\n{}",
            describe(&out)
        );
        out
    }

    /// Runs `llmo --json ARGS`, asserts exit 0, parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        json_of(&self.ok(&all))
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Parses stdout as one JSON document.
pub fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", describe(out)))
}

/// Exit code, stdout and stderr, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

/// The sorted keys of a JSON object.
pub fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

// ----- doctor tests -----

/// A temporary directory standing in for `$HOME`, with an (empty) config
/// file and a database path inside it.
pub struct TestEnv {
    pub dir: TempDir,
}

impl TestEnv {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("llmo.toml"), "").unwrap();
        TestEnv { dir }
    }

    /// `LLMO_DB`: `<tmp>/data/llmo.db` (the directory does not exist until
    /// a command creates it).
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("data").join("llmo.db")
    }

    /// `LLMO_CONFIG`: `<tmp>/llmo.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("llmo.toml")
    }

    /// The built `llmo` with a clean environment: only `HOME`/XDG dirs in
    /// the temp dir, `LLMO_DB`, `LLMO_CONFIG` and `NO_COLOR`.
    pub fn cmd(&self) -> Command {
        let home = self.dir.path();
        let mut cmd = Command::cargo_bin("llmo").unwrap();
        cmd.env_clear()
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("LLMO_DB", self.db_path())
            .env("LLMO_CONFIG", self.config_path())
            .env("NO_COLOR", "1");
        cmd
    }

    /// Runs `llmo ARGS` and asserts it succeeded; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "llmo {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

// ----- waiting without sleeping blind -----

/// How long [`eventually`] waits by default: far above what any condition
/// needs on an idle machine, so a loaded one does not fail the suite.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(15);

/// Polls `f` until it returns true; panics naming `what` after `within`.
/// Returns how long it took.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t0 = Instant::now();
    loop {
        if f().await {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] for synchronous tests.
pub fn eventually_blocking(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < within, "not within {within:?}: {what}");
        std::thread::sleep(POLL);
    }
}

/// An address nothing listens on (bound, then released).
pub fn closed_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

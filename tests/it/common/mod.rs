//! Shared test helpers: a temporary home for one test, and the `llmo`
//! binary run inside it with nothing leaking in from the real environment.
use std::path::PathBuf;

pub mod mock_upstream;

use assert_cmd::Command;
use tempfile::TempDir;

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

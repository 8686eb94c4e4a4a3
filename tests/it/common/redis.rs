//! Redis for the tests: [`redis_url`] names the shared server that
//! `tests/services.sh` started (`LLMO_TEST_REDIS_URL`; tests sharing it use
//! distinct key prefixes), and [`RedisServer`] starts a test's own
//! `redis-server` (Debian's package) in a temporary directory on a port the
//! OS gave, stopped by PID, for outage tests (`stop` / `start_again` on the
//! same port). Without a server a test skips, saying how to get one, unless
//! `LLMO_TEST_SERVICES=required` (CI), where it fails.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether a missing server fails the test (CI) instead of skipping it.
fn required() -> bool {
    std::env::var("LLMO_TEST_SERVICES").as_deref() == Ok("required")
}

fn skip<T>(what: &str) -> Option<T> {
    let msg = format!(
        "{what}: install Debian's `redis-server`, or run the suite through tests/run.sh (it starts one and sets LLMO_TEST_REDIS_URL)"
    );
    assert!(!required(), "LLMO_TEST_SERVICES=required but {msg}");
    eprintln!("skipped: {msg}");
    None
}

/// The shared Redis of the test run, if there is one.
pub fn redis_url() -> Option<String> {
    match std::env::var("LLMO_TEST_REDIS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => skip("no LLMO_TEST_REDIS_URL"),
    }
}

/// A `redis-server` of the test's own (no persistence: a restart starts
/// empty, as a Redis that lost its data would).
pub struct RedisServer {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one, or skips (`None`) when `redis-server` is not installed
    /// (fails instead under `LLMO_TEST_SERVICES=required`).
    pub fn try_start() -> Option<RedisServer> {
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok();
        if !found {
            return skip("`redis-server` is not on PATH");
        }
        Some(Self::start())
    }

    /// Starts one (panics when `redis-server` cannot run).
    pub fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = RedisServer {
            dir: tempfile::tempdir().unwrap(),
            port,
            child: None,
        };
        s.start_again();
        s
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL, by PID) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port and directory; returns
    /// once it answers PING.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log: PathBuf = self.dir.path().join("redis.log");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        let t0 = Instant::now();
        while !self.pings() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "redis-server did not answer on port {}: {}",
                self.port,
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn pings(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 16];
        s.write_all(b"PING\r\n").is_ok()
            && s.read(&mut buf)
                .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

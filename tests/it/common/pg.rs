//! PostgreSQL for the integration tests. [`PgDb::fresh`] is a database of
//! its own on the shared test server (`LLMO_TEST_PG_URL`, started by
//! tests/services.sh), dropped `WITH (FORCE)` when the test ends;
//! [`PgServer::start`] is a server of its own (initdb into a temporary
//! directory, as the `postgres` user when run as root, on a port from the
//! OS, stopped by its PID) that a test may stop and start again (outage
//! tests) or give a password (authentication tests). [`PgServer::init`]
//! stops before the start, so that a test can put files in its directory
//! ([`PgServer::give`]) and add settings ([`PgServer::set`]): the TLS tests.
//!
//! A test that needs a server and finds none skips with a note on stderr,
//! unless `LLMO_TEST_SERVICES=required` (CI), where it fails.
//!
//! The sync `postgres` client (and so a PostgreSQL `Store`) cannot run on a
//! tokio runtime's thread: async tests wrap such calls in [`blocking`]
//! (this module's own helpers already do).
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The password of every [`PgServer`]'s `postgres` user.
pub const PG_PASSWORD: &str = "llmo-test-pw";

fn services_required() -> bool {
    std::env::var("LLMO_TEST_SERVICES").as_deref() == Ok("required")
}

/// Runs `f` on a thread of its own: safe from sync and async tests alike.
pub fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

/// The shared server's superuser URL, or `None` (skip) with a note.
pub fn pg_url() -> Option<String> {
    match std::env::var("LLMO_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if services_required() => {
            panic!("LLMO_TEST_SERVICES=required but LLMO_TEST_PG_URL is not set")
        }
        _ => {
            eprintln!(
                "skipped: no PostgreSQL (set LLMO_TEST_PG_URL=postgres://postgres@127.0.0.1:PORT/postgres, or run tests/run.sh, which starts one)"
            );
            None
        }
    }
}

/// `url` with its database (the path) replaced by `db`.
pub fn url_with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let end = base[host_start..]
        .find('/')
        .map_or(base.len(), |i| host_start + i);
    match query {
        Some(q) => format!("{}/{db}?{q}", &base[..end]),
        None => format!("{}/{db}", &base[..end]),
    }
}

/// A database of its own on the shared test server.
pub struct PgDb {
    admin: String,
    name: String,
    url: String,
}

impl PgDb {
    /// An empty database `llmo_it_<pid>_<n>`; `None` when there is no server.
    pub fn fresh() -> Option<PgDb> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let admin = pg_url()?;
        Some(PgDb::create_on(&admin, N.fetch_add(1, Ordering::Relaxed)))
    }

    fn create_on(admin: &str, n: usize) -> PgDb {
        let name = format!("llmo_it_{}_{n}", std::process::id());
        blocking(|| {
            let mut c = postgres::Client::connect(admin, postgres::NoTls).unwrap();
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .unwrap();
            c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        });
        PgDb {
            admin: admin.to_string(),
            url: url_with_database(admin, &name),
            name,
        }
    }

    /// Its URL (the shared server's user and password).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// A plain connection, for checking rows (in a sync context, or
    /// inside [`blocking`]).
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }

    /// Runs `sql` and returns the first column of each row as `T`; usable
    /// from async tests.
    pub fn column<T>(&self, sql: &str) -> Vec<T>
    where
        T: for<'a> postgres::types::FromSql<'a> + Send,
    {
        blocking(|| {
            self.client()
                .query(sql, &[])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        })
    }

    /// Runs statements; usable from async tests.
    pub fn execute(&self, sql: &str) {
        blocking(|| self.client().batch_execute(sql).unwrap())
    }

    /// The location, as the settings take it.
    pub fn location(&self) -> llmo::db::DbLocation {
        llmo::db::DbLocation::parse(&self.url).unwrap()
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (admin, name) = (&self.admin, &self.name);
        blocking(|| {
            if let Ok(mut c) = postgres::Client::connect(admin, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        });
    }
}

/// The directory holding `initdb` and `postgres`: `LLMO_TEST_PG_BIN`, else
/// the newest `/usr/lib/postgresql/<n>/bin` (Debian's layout).
fn pg_bin() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("LLMO_TEST_PG_BIN").filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(b));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let n = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((n, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

/// The uid and gid of the `postgres` user when running as root (PostgreSQL
/// refuses to run as root), else `None` (run as ourselves).
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    Some((id("-u"), id("-g")))
}

/// A PostgreSQL server of the test's own, with password authentication
/// over TCP (user `postgres`, password [`PG_PASSWORD`]).
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    user: Option<(u32, u32)>,
    child: Option<Child>,
    settings: Vec<String>,
}

impl PgServer {
    /// Initialises and starts a server (about a second); panics when
    /// PostgreSQL is not installed (see [`PgServer::maybe_start`]).
    pub fn start() -> PgServer {
        let mut s = PgServer::init();
        s.start_again();
        s
    }

    /// Initialises a server without starting it: [`PgServer::start_again`]
    /// starts it.
    pub fn init() -> PgServer {
        let bin = pg_bin().expect(
            "PostgreSQL is not installed (apt-get install postgresql, or set LLMO_TEST_PG_BIN)",
        );
        let dir = tempfile::tempdir().unwrap();
        let user = run_as();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PG_PASSWORD).unwrap();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).unwrap();
        }
        let mut init = Command::new(bin.join("initdb"));
        init.arg("-D")
            .arg(dir.path().join("data"))
            .args(["-U", "postgres", "-E", "UTF8", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdout(Stdio::null());
        as_user(&mut init, user);
        let out = init.output().unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        PgServer {
            dir,
            bin,
            port,
            user,
            child: None,
            settings: Vec::new(),
        }
    }

    /// [`PgServer::start`], or `None` (skip, with a note) when PostgreSQL is
    /// not installed and services are not required.
    pub fn maybe_start() -> Option<PgServer> {
        let mut s = PgServer::maybe_init()?;
        s.start_again();
        Some(s)
    }

    /// [`PgServer::init`], or `None` as [`PgServer::maybe_start`].
    pub fn maybe_init() -> Option<PgServer> {
        if pg_bin().is_none() && !services_required() {
            eprintln!("skipped: PostgreSQL is not installed (apt-get install postgresql)");
            return None;
        }
        Some(PgServer::init())
    }

    /// The server's own directory (its data directory is `data/` in it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `name` in [`PgServer::dir`], owned by the server's user with
    /// `mode` (a private key must be 0600 and the server's), and returns
    /// its path.
    pub fn give(&self, name: &str, contents: &[u8], mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        if let Some((uid, gid)) = self.user {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
        }
        path
    }

    /// A `-c name=value` for the next start.
    pub fn set(&mut self, name: &str, value: &str) {
        self.settings.push(format!("{name}={value}"));
    }

    /// The superuser URL, password included.
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres:{PG_PASSWORD}@127.0.0.1:{}/postgres",
            self.port
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (fast shutdown: SIGINT to its PID) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill on the PID of a child this struct started.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGINT) };
            let _ = c.wait();
        }
    }

    /// Starts it again on the same data directory and port, and waits
    /// until it accepts connections.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=200"]);
        for s in &self.settings {
            cmd.args(["-c", s]);
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        as_user(&mut cmd, self.user);
        self.child = Some(cmd.spawn().unwrap());
        let deadline = Instant::now() + Duration::from_secs(20);
        // Over the Unix socket (trusted): TCP may demand TLS or a password.
        let mut probe = postgres::Config::new();
        probe
            .host_path(self.dir.path())
            .port(self.port)
            .user("postgres")
            .dbname("postgres");
        loop {
            if blocking(|| probe.connect(postgres::NoTls).is_ok()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start in 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn as_user(cmd: &mut Command, user: Option<(u32, u32)>) {
    if let Some((uid, gid)) = user {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(gid);
    }
}

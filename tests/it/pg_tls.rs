//! PostgreSQL over TLS end to end (issue 13 §1 "TLS via sslmode with
//! rustls"): a server of the test's own with `ssl=on`, a certificate for
//! `localhost` and 127.0.0.1 signed by a CA made here with the `openssl`
//! CLI, and a pg_hba.conf that admits TCP clients over TLS only. Each of
//! libpq's `sslmode`s is driven through the real `llmo` binary (`doctor`,
//! `migrate status`), the library's `Store::open` and a gateway: the modes
//! that should connect do (encrypted, as doctor says), the ones that should
//! not fail with one line that names the problem, the fix and no password.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use llmo::db::{DbLocation, Store};
use serde_json::Value;

use crate::common::gw::{add_provider, chat_body, map, Gw, JsonValue};
use crate::common::mock_upstream::MockUpstream;
use crate::common::pg::{blocking, PgServer, PG_PASSWORD};
use crate::common::{describe, eventually, stderr, stdout, Env};

/// Runs `openssl ARGS` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the `openssl` CLI (Debian package `openssl`)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA (`NAME.pem`, `NAME.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) -> PathBuf {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
    dir.join(format!("{name}.pem"))
}

/// The TLS server: its certificate names `localhost` and 127.0.0.1.
struct TlsPg {
    server: PgServer,
    /// The CA that signed the server's certificate.
    ca: PathBuf,
    /// Another CA, which signed nothing the server shows.
    other_ca: PathBuf,
    _certs: tempfile::TempDir,
}

impl TlsPg {
    fn start() -> Option<TlsPg> {
        let has_openssl = Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !has_openssl {
            assert_ne!(
                std::env::var("LLMO_TEST_SERVICES").as_deref(),
                Ok("required"),
                "no `openssl` CLI: apt-get install openssl"
            );
            eprintln!("skipped: no `openssl` CLI (apt-get install openssl)");
            return None;
        }
        let mut server = PgServer::maybe_init()?;
        let certs = tempfile::tempdir().unwrap();
        let d = certs.path();
        let ca = make_ca(d, "ca");
        let other_ca = make_ca(d, "other-ca");
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ],
        );
        let read = |n: &str| std::fs::read(d.join(n)).unwrap();
        let crt = server.give("server.crt", &read("server.crt"), 0o644);
        let key = server.give("server.key", &read("server.key"), 0o600);
        // TCP over TLS only (the Unix socket stays trusted for the harness).
        let hba = server.give(
            "pg_hba.conf",
            b"local all all trust\n\
              hostssl all all 127.0.0.1/32 scram-sha-256\n\
              hostssl all all ::1/128 scram-sha-256\n",
            0o644,
        );
        server.set("ssl", "on");
        server.set("ssl_cert_file", crt.to_str().unwrap());
        server.set("ssl_key_file", key.to_str().unwrap());
        server.set("hba_file", hba.to_str().unwrap());
        server.start_again();
        Some(TlsPg {
            server,
            ca,
            other_ca,
            _certs: certs,
        })
    }

    /// `postgres://postgres:PW@HOST:PORT/postgres?QUERY`.
    fn url(&self, host: &str, query: &str) -> String {
        format!(
            "postgres://postgres:{PG_PASSWORD}@{host}:{}/postgres?connect_timeout=5&{query}",
            self.server.port()
        )
    }

    fn ca(&self) -> String {
        self.ca.display().to_string()
    }
}

/// `llmo --json doctor` on `url`: the database group's checks by name.
fn doctor(env: &Env, url: &str) -> Vec<(String, String, String)> {
    let out = env
        .cmd()
        .env("LLMO_DB", url)
        .args(["--json", "doctor"])
        .output()
        .unwrap();
    assert!(!describe(&out).contains(PG_PASSWORD), "{}", describe(&out));
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", describe(&out)));
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["group"] == "database")
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("name"), s("status"), s("message"))
        })
        .collect()
}

/// Doctor's `tls` check on `url`: encrypted, with the protocol version.
fn assert_encrypted(env: &Env, url: &str) {
    let checks = doctor(env, url);
    let tls = checks
        .iter()
        .find(|c| c.0 == "tls")
        .unwrap_or_else(|| panic!("no tls check for {url}: {checks:#?}"));
    assert_eq!(tls.1, "ok", "{checks:#?}");
    assert!(
        tls.2.starts_with("the connection is encrypted (TLSv1."),
        "{checks:#?}"
    );
}

/// `llmo migrate status` on `url` fails: its stderr (one error line and a
/// hint line), with no password in it.
fn refused(env: &Env, url: &str) -> (String, String) {
    let out = env
        .cmd()
        .env("LLMO_DB", url)
        .args(["migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        !err.contains(PG_PASSWORD) && !stdout(&out).contains(PG_PASSWORD),
        "{err}"
    );
    eprintln!("{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "an error line and a hint: {err}");
    assert!(lines[1].starts_with("hint: "), "{err}");
    (lines[0].to_string(), lines[1].to_string())
}

/// Opens a store on `url`: the connection's TLS version (`None`: plain).
fn tls_of(url: &str) -> Option<String> {
    let (store, _) = Store::open(DbLocation::parse(url).unwrap()).unwrap_or_else(|e| panic!("{e}"));
    store.server_info().unwrap().unwrap().tls
}

fn assert_tls(url: &str) {
    let v = tls_of(url);
    assert!(
        v.as_deref().is_some_and(|v| v.starts_with("TLSv1.")),
        "{url}: {v:?}"
    );
}

/// One server for all the cases (initdb is the slow part): the modes that
/// connect, the ones refused, and a gateway over `verify-full`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sslmode_against_a_server_with_a_certificate() {
    let Some(pg) = blocking(TlsPg::start) else {
        return;
    };
    blocking(|| modes_that_connect(&pg));
    blocking(|| modes_refused(&pg));
    gateway_over_verify_full(&pg).await;
}

fn modes_that_connect(pg: &TlsPg) {
    let ca = pg.ca();

    // verify-full: the chain and the name checked, by the host name (doctor
    // says it is encrypted, and how) and by the IP the certificate names.
    let full = pg.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    assert_encrypted(&Env::new(), &full);
    assert_tls(&full);
    assert_tls(&pg.url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ));

    // verify-ca: the chain checked, not the name (a name the certificate
    // does not carry, the address given by `hostaddr`).
    assert_tls(&pg.url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}")));
    assert_tls(&pg.url(
        "db.example.invalid",
        &format!("hostaddr=127.0.0.1&sslmode=verify-ca&sslrootcert={ca}"),
    ));

    // require: encrypted, no root certificate needed.
    assert_tls(&pg.url("localhost", "sslmode=require"));

    // prefer (also libpq's default): TLS when the server offers it (this
    // server admits nothing else).
    assert_tls(&pg.url("localhost", "sslmode=prefer"));
    assert_tls(&pg.url("localhost", ""));
}

/// Refused modes say why in one line, with the fix.
fn modes_refused(pg: &TlsPg) {
    let env = Env::new();
    let ca = pg.ca();

    // A host name the certificate does not carry.
    let (err, hint) = refused(
        &env,
        &pg.url(
            "db.example.invalid",
            &format!("hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={ca}"),
        ),
    );
    assert!(err.contains("postgres:***@db.example.invalid"), "{err}");
    assert!(
        err.contains("the server's certificate is not valid for `db.example.invalid`"),
        "{err}"
    );
    assert!(hint.contains("sslmode=verify-ca"), "{hint}");

    // A root file of another CA.
    let other = pg.other_ca.display().to_string();
    let (err, hint) = refused(
        &env,
        &pg.url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={other}"),
        ),
    );
    assert!(
        err.contains("the server's certificate is not trusted"),
        "{err}"
    );
    assert!(hint.contains("sslrootcert"), "{hint}");

    // No root file: the public roots, which did not sign this one.
    let (err, _) = refused(&env, &pg.url("localhost", "sslmode=verify-full"));
    assert!(
        err.contains("the server's certificate is not trusted"),
        "{err}"
    );

    // disable against a server that admits TLS only.
    let (err, hint) = refused(&env, &pg.url("localhost", "sslmode=disable"));
    assert!(err.contains("no encryption"), "{err}");
    assert!(hint.contains("sslmode=require"), "{hint}");
}

/// A gateway whose store, reloads and request log go over verify-full.
async fn gateway_over_verify_full(pg: &TlsPg) {
    let url = pg.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", pg.ca()),
    );
    let mock = MockUpstream::start().await;
    blocking(|| {
        let (mut s, _) = Store::open(DbLocation::parse(&url).unwrap()).unwrap();
        add_provider(&mut s, "p1", &mock.url(), |_| {});
        map(&mut s, "m", "p1", "up-model");
    });
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Gw::start(dir, |o| {
        o.settings.db.value = DbLocation::parse(&url).unwrap();
    })
    .await;
    eventually(Duration::from_secs(10), "the gateway is ready", || async {
        gw.get("/ready").await.status() == 200
    })
    .await;
    let res = gw.chat(&chat_body()).await;
    assert_eq!(res.status(), 200);
    let _ = res.json_value().await;
    gw.stop().await.unwrap();
    let rows: i64 = blocking(|| {
        let mut c = postgres::Config::new();
        c.host_path(pg.server.dir())
            .port(pg.server.port())
            .user("postgres")
            .dbname("postgres");
        c.connect(postgres::NoTls)
            .unwrap()
            .query_one("SELECT count(*) FROM request_logs", &[])
            .unwrap()
            .get(0)
    });
    assert_eq!(rows, 1);
}

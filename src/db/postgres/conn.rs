//! Connecting to PostgreSQL: the URL as the operator wrote it (libpq's
//! `sslmode` and `sslrootcert` included), llmo's defaults (connect and
//! statement timeouts, TCP keepalives, `application_name = llmo-<role>`),
//! TLS with rustls (ring, the build reqwest uses), and the one place the
//! driver's errors become engine-neutral ones ([`classify`]).
use std::sync::Arc;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::Client;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::db::{DatabaseError, FaultKind, PgUrl, Result, StoreError};

/// Used when the URL sets no `connect_timeout`.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Used when the URL's `options` set no `statement_timeout`.
pub(crate) const STATEMENT_TIMEOUT_MS: u64 = 30_000;
/// TCP keepalive idle time (the driver's default is two hours): a server
/// that vanished without a FIN is noticed in under a minute.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// libpq's `sslmode`, all five.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, unverified (libpq's default).
    Prefer,
    /// TLS or fail, unverified.
    Require,
    /// TLS, the chain verified against the roots, any host name.
    VerifyCa,
    /// TLS, the chain and the host name verified.
    VerifyFull,
}

impl SslMode {
    /// As the URL writes it.
    fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// What llmo reads from the URL itself; the rest goes to the driver.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) config: postgres::Config,
    pub(crate) ssl: SslMode,
    pub(crate) root_cert: Option<String>,
}

/// Parses the URL: `sslmode` and `sslrootcert` are taken out (the driver
/// knows only three modes and no root file), the rest is the driver's, and
/// llmo's defaults fill what the URL leaves unset.
pub(crate) fn parse(url: &PgUrl, role: &'static str) -> Result<Parsed> {
    let raw = url.expose();
    let (base, query) = raw.split_once('?').unwrap_or((raw, ""));
    let mut ssl = SslMode::Prefer;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match k {
            "sslmode" => {
                ssl = match v {
                    "disable" => SslMode::Disable,
                    "allow" | "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => {
                        return Err(bad_url(
                            url,
                            format!("unknown sslmode `{other}`"),
                            "use sslmode=disable, prefer, require, verify-ca or verify-full",
                        ))
                    }
                }
            }
            "sslrootcert" => root_cert = Some(percent_decode(v)),
            _ => kept.push(part),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut config: postgres::Config = rest.parse().map_err(|e: postgres::Error| {
        bad_url(
            url,
            e.to_string(),
            "write it as `postgres://USER:PASSWORD@HOST:5432/DATABASE?sslmode=require`",
        )
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name(&format!("llmo-{role}"));
    }
    let options = config.get_options().unwrap_or("").to_string();
    if !options.contains("statement_timeout") {
        let sep = if options.is_empty() { "" } else { " " };
        config.options(&format!(
            "{options}{sep}-c statement_timeout={STATEMENT_TIMEOUT_MS}"
        ));
    }
    config.keepalives(true);
    if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
        config.keepalives_idle(KEEPALIVE_IDLE);
    }
    config.ssl_mode(match ssl {
        SslMode::Disable => postgres::config::SslMode::Disable,
        SslMode::Prefer => postgres::config::SslMode::Prefer,
        _ => postgres::config::SslMode::Require,
    });
    Ok(Parsed {
        config,
        ssl,
        root_cert,
    })
}

/// A driver connection that may be dropped anywhere: closing one blocks on
/// the driver's own runtime, which cannot start on a tokio runtime's thread
/// (the gateway's stores live in `Arc`s that an async task may drop last),
/// so there it is closed on a short-lived thread of its own.
pub(crate) struct Conn(std::mem::ManuallyDrop<Client>);

impl Conn {
    pub(crate) fn new(c: Client) -> Conn {
        Conn(std::mem::ManuallyDrop::new(c))
    }
}

impl std::ops::Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.0
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.0
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // SAFETY: taken once, here, and never used again.
        let c = unsafe { std::mem::ManuallyDrop::take(&mut self.0) };
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = std::thread::Builder::new()
                .name("llmo-pg-close".into())
                .spawn(move || drop(c));
        } else {
            drop(c);
        }
    }
}

/// Opens one connection for `role` (it names the connection in
/// `pg_stat_activity` as `llmo-<role>`).
pub(crate) fn connect(url: &PgUrl, role: &'static str) -> Result<Client> {
    let p = parse(url, role)?;
    let res = if p.ssl == SslMode::Disable {
        p.config.connect(postgres::NoTls)
    } else {
        let tls = tls_config(p.ssl, p.root_cert.as_deref(), url)?;
        p.config
            .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
    };
    res.map_err(|e| tls_refusal(url, &p, &e).unwrap_or_else(|| connect_error(url, &p, e)))
}

fn bad_url(url: &PgUrl, message: String, hint: &str) -> StoreError {
    StoreError::Open {
        location: url.to_string(),
        message,
        hint: hint.to_string(),
    }
}

/// `%XX` escapes decoded (a root certificate path in a URL).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A failed connection attempt, named with its (masked) location.
#[derive(Debug)]
struct ConnectError {
    location: String,
    inner: Words,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.location, self.inner)
    }
}

impl std::error::Error for ConnectError {}

/// A connection attempt's error: bad credentials and a missing database are
/// the operator's to fix (`Open`, with the fix); anything else is
/// classified, with the location in its words.
fn connect_error(url: &PgUrl, p: &Parsed, e: postgres::Error) -> StoreError {
    let open = |message: String, hint: &str| StoreError::Open {
        location: url.to_string(),
        message,
        hint: hint.to_string(),
    };
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        // "no pg_hba.conf entry ..., no encryption": a `hostssl`-only server.
        if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION && p.ssl == SslMode::Disable {
            return open(
                db.message().to_string(),
                &format!("if the server admits only encrypted connections (`hostssl` in pg_hba.conf), use `sslmode=require` (or `verify-full` with `sslrootcert`) instead of `sslmode=disable`; else {AUTH_HINT}"),
            );
        }
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return open(db.message().to_string(), AUTH_HINT);
        }
        if *code == SqlState::INVALID_CATALOG_NAME {
            return open(
                db.message().to_string(),
                "create it first (`createdb -O USER DATABASE`, or `CREATE DATABASE ...` in psql); llmo creates the tables, not the database",
            );
        }
    }
    let kind = fault_of(&e);
    if kind == FaultKind::Unreachable || kind == FaultKind::Other {
        let kind = if e.as_db_error().is_none() {
            FaultKind::Unreachable
        } else {
            kind
        };
        return StoreError::Database(DatabaseError::new(
            kind,
            ConnectError {
                location: url.to_string(),
                inner: Words(e),
            },
        ));
    }
    classify(e)
}

/// A TLS handshake refused for a reason the operator must fix (the
/// certificate's name, its CA, its dates, a server without TLS): an `Open`
/// error that names it, with the fix. `None` for anything else (a reset or
/// a timeout mid-handshake is the network's: [`connect_error`]).
fn tls_refusal(url: &PgUrl, p: &Parsed, e: &postgres::Error) -> Option<StoreError> {
    use rustls::CertificateError as C;
    let open = |message: String, hint: String| {
        Some(StoreError::Open {
            location: url.to_string(),
            message,
            hint,
        })
    };
    let mut rustls_error = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = cur {
        if s.to_string() == "server does not support TLS" {
            return open(
                format!("the server does not offer TLS, which `sslmode={}` demands", p.ssl.name()),
                "turn TLS on in the server (`ssl = on` with `ssl_cert_file`/`ssl_key_file`), or on a trusted network use `sslmode=prefer`".into(),
            );
        }
        let inner = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map_or(s, |i| i as &(dyn std::error::Error + 'static));
        if let Some(r) = inner.downcast_ref::<rustls::Error>() {
            rustls_error = Some(r);
            break;
        }
        cur = s.source();
    }
    let r = rustls_error?;
    let roots = match &p.root_cert {
        Some(path) => format!("the CA in sslrootcert `{path}`"),
        None => "a public root CA (no `sslrootcert` given)".into(),
    };
    match r {
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            let host = p.config.get_hosts().iter().find_map(|h| match h {
                postgres::config::Host::Tcp(h) => Some(h.as_str()),
                #[cfg(unix)]
                postgres::config::Host::Unix(_) => None,
            });
            open(
                format!("the server's certificate is not valid for `{}` ({r})", host.unwrap_or("")),
                "connect by a name the certificate carries (its subjectAltName; `hostaddr=IP` may give the address), or use `sslmode=verify-ca` to check the chain but not the name".into(),
            )
        }
        rustls::Error::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => open(
            format!("the server's certificate is out of its validity period ({r})"),
            "renew the server's certificate (`ssl_cert_file`), or check this machine's clock".into(),
        ),
        rustls::Error::InvalidCertificate(_) => open(
            format!("the server's certificate is not trusted: {roots} did not sign it ({r})"),
            format!("set `sslrootcert=/path/ca.pem` to the CA that signed the server's certificate, or use `sslmode=require` to encrypt without verifying (sslmode was {})", p.ssl.name()),
        ),
        _ => open(
            format!("the TLS handshake failed ({r})"),
            "check the server's TLS settings (llmo speaks TLS 1.2 and 1.3) and `sslrootcert`".into(),
        ),
    }
}

const AUTH_HINT: &str = "check the user and password in the `--db`/`LLMO_DB` URL (percent-encode special characters), and that the server's pg_hba.conf lets this user in from here";

/// The one place PostgreSQL's errors become engine-neutral ones: SQLSTATEs
/// to [`FaultKind`]s (disk full, read-only, lock timeouts and deadlocks,
/// the server unreachable), bad credentials to [`StoreError::Open`].
pub(crate) fn classify(e: postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return StoreError::Open {
                location: "PostgreSQL".into(),
                message: db.message().to_string(),
                hint: AUTH_HINT.into(),
            };
        }
    }
    StoreError::Database(DatabaseError::new(fault_of(&e), Words(e)))
}

/// The driver's error shown in the server's words (the driver's own
/// Display of a server error is just "db error"), or with its cause.
#[derive(Debug)]
struct Words(postgres::Error);

impl std::fmt::Display for Words {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_db_error() {
            Some(db) => f.write_str(db.message()),
            None => {
                let outer = self.0.to_string();
                match std::error::Error::source(&self.0) {
                    Some(s) if !outer.contains(&s.to_string()) => write!(f, "{outer}: {s}"),
                    _ => f.write_str(&outer),
                }
            }
        }
    }
}

impl std::error::Error for Words {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn fault_of(e: &postgres::Error) -> FaultKind {
    if let Some(code) = e.code() {
        let c = code.code();
        return match c {
            "53100" => FaultKind::Full,
            "25006" => FaultKind::ReadOnly,
            // lock_not_available, deadlock, serialization failure, and a
            // statement cancelled by statement_timeout / lock_timeout.
            "55P03" | "40P01" | "40001" | "57014" => FaultKind::Busy,
            // admin_shutdown, crash_shutdown, cannot_connect_now, and the
            // connection_exception class.
            "57P01" | "57P02" | "57P03" => FaultKind::Unreachable,
            _ if c.starts_with("08") => FaultKind::Unreachable,
            _ => FaultKind::Other,
        };
    }
    if e.is_closed() || has_io_source(e) {
        return FaultKind::Unreachable;
    }
    FaultKind::Other
}

/// Is an I/O error (refused, reset, timed out) somewhere under `e`?
fn has_io_source(e: &postgres::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = cur {
        if s.is::<std::io::Error>() {
            return true;
        }
        cur = s.source();
    }
    // The driver's own timeout ("timeout waiting for server") has no source.
    e.to_string().contains("timeout")
}

/// `?` on a driver call inside this engine gives the engine-neutral error.
impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        classify(e)
    }
}

/// The rustls client configuration for `mode`: Mozilla's roots (or only
/// the `sslrootcert` file's, as libpq does) for the verifying modes.
fn tls_config(mode: SslMode, root_file: Option<&str>, url: &PgUrl) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_err = |message: String| {
        bad_url(
            url,
            message,
            "check `sslrootcert` (a PEM file of the CA that signed the server's certificate)",
        )
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => {
            Arc::new(NoVerify(provider.clone()))
        }
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let mut roots = rustls::RootCertStore::empty();
            match root_file {
                Some(path) => {
                    use rustls::pki_types::pem::PemObject;
                    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                        .and_then(|it| it.collect())
                        .map_err(|e| tls_err(format!("cannot read sslrootcert `{path}`: {e}")))?;
                    let (added, _) = roots.add_parsable_certificates(certs);
                    if added == 0 {
                        return Err(tls_err(format!(
                            "sslrootcert `{path}` holds no certificate"
                        )));
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| tls_err(e.to_string()))?;
            if mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(AnyName(webpki))
            }
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// `prefer` / `require`: encrypted, the certificate not checked (libpq's
/// meaning without a root file); handshake signatures still are.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name is not
/// checked.
#[derive(Debug)]
struct AnyName(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tests::{test_pg_url, url_with_database};

    fn url(s: &str) -> PgUrl {
        PgUrl::parse(s).unwrap()
    }

    #[test]
    fn the_url_keeps_the_operators_settings_and_gets_llmos_defaults() {
        let p = parse(
            &url("postgres://u:pw@db:5433/llmo?sslmode=verify-full&sslrootcert=/etc/ca%20x.pem"),
            "admin",
        )
        .unwrap();
        assert_eq!(p.ssl, SslMode::VerifyFull);
        assert_eq!(p.root_cert.as_deref(), Some("/etc/ca x.pem"));
        assert_eq!(p.config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(p.config.get_application_name(), Some("llmo-admin"));
        assert_eq!(p.config.get_options(), Some("-c statement_timeout=30000"));
        assert_eq!(p.config.get_keepalives_idle(), KEEPALIVE_IDLE);
        assert_eq!(p.config.get_dbname(), Some("llmo"));
        assert_eq!(p.config.get_ports(), [5433]);

        // What the URL sets wins; libpq's default mode is prefer.
        let p = parse(
            &url("postgres://u@db/llmo?connect_timeout=2&application_name=mine&options=-c%20statement_timeout%3D5s"),
            "store",
        )
        .unwrap();
        assert_eq!(p.ssl, SslMode::Prefer);
        assert_eq!(
            p.config.get_connect_timeout(),
            Some(&Duration::from_secs(2))
        );
        assert_eq!(p.config.get_application_name(), Some("mine"));
        assert_eq!(p.config.get_options(), Some("-c statement_timeout=5s"));

        for (mode, want) in [
            ("disable", SslMode::Disable),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
        ] {
            let p = parse(&url(&format!("postgres://h/d?sslmode={mode}")), "x").unwrap();
            assert_eq!(p.ssl, want);
        }
    }

    #[test]
    fn a_bad_url_is_an_open_error_with_the_password_masked() {
        let e = parse(&url("postgres://u:hunter2@h/d?sslmode=verify"), "x").unwrap_err();
        let msg = e.to_string();
        assert_eq!(
            msg,
            "cannot open database `postgres://u:***@h/d?sslmode=verify`: unknown sslmode `verify`"
        );
        assert!(e.hint().unwrap().contains("verify-full"));
        let e = parse(&url("postgres://u:hunter2@h/d?bogus=1"), "x").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(e.to_string().contains("bogus"), "{e}");
    }

    #[test]
    fn an_unreachable_server_is_a_fault_named_with_the_masked_location() {
        // A port nothing listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let Err(e) = connect(
            &url(&format!(
                "postgres://u:hunter2@127.0.0.1:{port}/d?sslmode=disable"
            )),
            "x",
        ) else {
            panic!("connected to a closed port")
        };
        assert_eq!(e.fault(), FaultKind::Unreachable);
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!(
                "database error: the database server cannot be reached (`postgres://u:***@127.0.0.1:{port}/d?sslmode=disable`: "
            )),
            "{msg}"
        );
        assert!(!msg.contains("hunter2") && !msg.contains('\n'), "{msg}");
        assert!(e.is_user_error());
        assert!(e.hint().unwrap().contains("llmo doctor"));
    }

    #[test]
    fn server_errors_become_fault_kinds() {
        let Some(admin) = test_pg_url() else { return };
        let Some(db) = crate::db::tests::PgTempDb::create() else {
            return;
        };
        let u = url(&db.url);
        let mut a = connect(&u, "test").unwrap();
        a.batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
            .unwrap();

        // Read-only.
        a.batch_execute("SET default_transaction_read_only = on")
            .unwrap();
        let e = StoreError::from(a.execute("INSERT INTO t VALUES (2)", &[]).unwrap_err());
        assert_eq!(e.fault(), FaultKind::ReadOnly);
        assert!(
            e.to_string()
                .starts_with("database error: the database is read-only ("),
            "{e}"
        );
        a.batch_execute("SET default_transaction_read_only = off")
            .unwrap();

        // Another session holds the row: lock_timeout is Busy.
        let mut b = connect(&u, "test").unwrap();
        let mut tx = a.transaction().unwrap();
        tx.execute("UPDATE t SET x = 3", &[]).unwrap();
        b.batch_execute("SET lock_timeout = 50").unwrap();
        let e = StoreError::from(b.execute("UPDATE t SET x = 4", &[]).unwrap_err());
        assert!(e.is_busy(), "{e}");
        tx.rollback().unwrap();

        // The server ends the session: Unreachable.
        let pid: i32 = b.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        let mut sup = ::postgres::Client::connect(&admin, ::postgres::NoTls).unwrap();
        sup.execute("SELECT pg_terminate_backend($1)", &[&pid])
            .unwrap();
        let e = StoreError::from(b.query_one("SELECT 1", &[]).unwrap_err());
        assert_eq!(e.fault(), FaultKind::Unreachable, "{e}");

        // Anything else keeps the server's words.
        let e = StoreError::from(a.execute("INSERT INTO nope VALUES (1)", &[]).unwrap_err());
        assert_eq!(e.fault(), FaultKind::Other);
        assert!(e.to_string().contains("\"nope\" does not exist"), "{e}");
    }

    #[test]
    fn require_against_a_server_without_tls_says_so_with_the_fix() {
        // The shared test server runs without TLS (tests/it/pg_tls.rs has
        // the certificate-bearing one).
        let Some(admin) = test_pg_url() else { return };
        let u = url(&format!(
            "{}?sslmode=require",
            admin.split('?').next().unwrap_or_default()
        ));
        let Err(e) = connect(&u, "test") else {
            panic!("the test server offers TLS")
        };
        assert_eq!(
            e.to_string(),
            format!(
                "cannot open database `{u}`: the server does not offer TLS, which `sslmode=require` demands"
            )
        );
        assert!(e.hint().unwrap().contains("ssl = on"), "{e:?}");
        // prefer falls back to plain.
        let u = url(&format!(
            "{}?sslmode=prefer",
            admin.split('?').next().unwrap_or_default()
        ));
        assert!(connect(&u, "test").is_ok());
    }

    #[test]
    fn url_with_database_swaps_only_the_path() {
        assert_eq!(
            url_with_database("postgres://p@127.0.0.1:5/postgres?sslmode=disable", "x"),
            "postgres://p@127.0.0.1:5/x?sslmode=disable"
        );
        assert_eq!(url_with_database("postgres://p@h", "x"), "postgres://p@h/x");
    }
}

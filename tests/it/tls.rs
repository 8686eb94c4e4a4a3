//! Upstream TLS trust (issue 11 §1): the embedded Mozilla roots, plus the
//! operator's CA from `SSL_CERT_FILE`. An HTTPS mock upstream on 127.0.0.1
//! presents a certificate signed by the test CA in tests/fixtures/tls/.
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::common::mock_upstream::CHAT;
use crate::common::TestEnv;
use crate::health_cli::Served;
use crate::logs_json::http;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");

/// An OpenAI-compatible upstream over HTTPS answering every request with a
/// chat completion; stops with its runtime.
struct HttpsMock {
    url: String,
    _rt: tokio::runtime::Runtime,
}

fn https_mock() -> HttpsMock {
    let leaf = std::fs::read(format!("{FIXTURES}/server.pem")).unwrap();
    let key = std::fs::read(format!("{FIXTURES}/server.key")).unwrap();
    let certs = CertificateDer::pem_slice_iter(&leaf)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(&key).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("https://{}/v1", listener.local_addr().unwrap());
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    answer(&mut tls).await;
                }
            });
        }
    });
    HttpsMock { url, _rt: rt }
}

/// Reads one request (head and `content-length` body), answers CHAT.
async fn answer(s: &mut (impl AsyncReadExt + AsyncWriteExt + Unpin)) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let body_len = loop {
        let Ok(n @ 1..) = s.read(&mut chunk).await else {
            return;
        };
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        break end + 4 + len;
    };
    while buf.len() < body_len {
        let Ok(n @ 1..) = s.read(&mut chunk).await else {
            return;
        };
        buf.extend_from_slice(&chunk[..n]);
    }
    let res = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{CHAT}",
        CHAT.len()
    );
    let _ = s.write_all(res.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// A database whose one provider is the HTTPS mock, serving model `m`.
fn env_for(mock: &HttpsMock) -> TestEnv {
    let env = TestEnv::new();
    env.ok(&[
        "provider",
        "add",
        "tls",
        "--kind",
        "openai-compatible",
        "--base-url",
        &mock.url,
        "--no-api-key",
        "--models",
        "m",
    ]);
    env
}

const CHAT_REQ: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;

#[test]
fn an_upstream_signed_by_the_ca_in_ssl_cert_file_is_reached() {
    let mock = https_mock();
    let env = env_for(&mock);
    let ca = format!("{FIXTURES}/ca.pem");
    let served = Served::start(&env, &["--allow-anonymous"], &[("SSL_CERT_FILE", &ca)]);
    let (status, _, body) = http(&served.addr, "POST", "/v1/chat/completions", CHAT_REQ);
    assert_eq!(status, 200, "{body}\n{}", served.stderr());
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["object"], "chat.completion", "{body}");
    assert!(
        served.stderr().contains(&format!(
            "trusting 1 extra CA certificate(s) besides the built-in roots: SSL_CERT_FILE={ca} (1)"
        )),
        "{}",
        served.stderr()
    );
}

#[test]
fn without_the_ca_the_client_gets_a_502_naming_the_certificate_problem() {
    let mock = https_mock();
    let env = env_for(&mock);
    let served = Served::start(&env, &["--allow-anonymous"], &[]);
    let (status, _, body) = http(&served.addr, "POST", "/v1/chat/completions", CHAT_REQ);
    assert_eq!(status, 502, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(
            "upstream TLS certificate not trusted (UnknownIssuer); if a corporate proxy or \
             private CA signs it, point SSL_CERT_FILE at its PEM bundle"
        ),
        "{msg}"
    );
    assert!(
        !msg.contains("127.0.0.1"),
        "no upstream address for the client: {msg}"
    );
}

#[test]
fn an_unreadable_or_empty_ssl_cert_file_stops_serve_with_one_sentence() {
    let env = TestEnv::new();
    let empty = env.dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").unwrap();
    let missing = env.dir.path().join("missing.pem");
    for (path, says) in [
        (&missing, "cannot be read: No such file or directory"),
        (
            &empty,
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ),
    ] {
        let out = env
            .cmd()
            .env("SSL_CERT_FILE", path)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        let line = format!("error: SSL_CERT_FILE={} {says}", path.display());
        assert!(
            err.lines().any(|l| l.starts_with(&line)),
            "want {line}:\n{err}"
        );
        assert!(
            err.contains("hint: point the variable at a readable PEM file"),
            "{err}"
        );
    }
}

#[test]
fn doctor_probe_trusts_the_same_ca_as_the_gateway() {
    let mock = https_mock();
    let env = env_for(&mock);
    let ca = format!("{FIXTURES}/ca.pem");
    let run = |with_ca: bool| {
        let mut cmd = env.cmd();
        if with_ca {
            cmd.env("SSL_CERT_FILE", &ca);
        } else {
            cmd.env_remove("SSL_CERT_FILE");
        }
        let out = cmd.args(["doctor", "--probe", "--json"]).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let checks = v["checks"].as_array().unwrap().clone();
        checks
            .into_iter()
            .find(|c| c["group"] == "probe" && c["name"] == "tls")
            .unwrap_or_else(|| panic!("no probe check for `tls`: {v}"))
    };
    let trusted = run(true);
    assert_eq!(trusted["status"], "ok", "{trusted}");
    let untrusted = run(false);
    assert_ne!(untrusted["status"], "ok", "{untrusted}");
}

//! Which certificate authorities the upstream client trusts: the Mozilla
//! roots compiled into the binary (webpki-roots, so a static binary in an
//! empty container reaches HTTPS upstreams without /etc/ssl), plus the
//! operator's own, from the variables OpenSSL and most tools read:
//!
//! - `SSL_CERT_FILE`: a PEM bundle (one or more `BEGIN CERTIFICATE` blocks);
//! - `SSL_CERT_DIR`: a directory (or several, `:`-separated) whose files
//!   are read as PEM; files without a certificate are skipped there (such
//!   directories hold hash links and other files).
//!
//! Read once, at start. A variable that is set but names something that
//! cannot be read, or that holds no certificate at all, stops `llmo serve`
//! with one sentence naming the variable and the path: an operator who set
//! it expects it to count, and the alternative is 502s much later.
#![allow(
    clippy::disallowed_methods,
    reason = "read once at start-up, before the server accepts anything"
)]
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// The CAs added to the embedded roots, and where they came from.
#[derive(Default)]
pub(crate) struct ExtraRoots {
    pub certs: Vec<reqwest::Certificate>,
    /// `SSL_CERT_FILE=/etc/corp/ca.pem (2)`, one per variable that added any.
    pub sources: Vec<String>,
}

/// `b` trusting the `SSL_CERT_FILE` / `SSL_CERT_DIR` CAs too: the same
/// roots as the gateway's upstream client, for the other clients that call
/// providers (the admin API's provider test, `doctor --probe`).
pub(crate) fn with_extra_roots(
    mut b: reqwest::ClientBuilder,
) -> Result<reqwest::ClientBuilder, String> {
    for cert in ExtraRoots::from_env()?.certs {
        b = b.add_root_certificate(cert);
    }
    Ok(b)
}

impl ExtraRoots {
    /// From `SSL_CERT_FILE` and `SSL_CERT_DIR` (unset or empty: none).
    pub(crate) fn from_env() -> Result<ExtraRoots, String> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        ExtraRoots::load(
            var("SSL_CERT_FILE").map(PathBuf::from),
            var("SSL_CERT_DIR").map(PathBuf::from),
        )
    }

    pub(crate) fn load(file: Option<PathBuf>, dir: Option<PathBuf>) -> Result<ExtraRoots, String> {
        let mut out = ExtraRoots::default();
        let mut seen = HashSet::new();
        if let Some(f) = file {
            let ders = read_pem(&f).map_err(|e| format!("SSL_CERT_FILE={} {e}", f.display()))?;
            if ders.is_empty() {
                return Err(format!(
                    "SSL_CERT_FILE={} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    f.display()
                ));
            }
            out.add("SSL_CERT_FILE", &f, ders, &mut seen);
        }
        if let Some(d) = dir {
            for one in std::env::split_paths(&d).filter(|p| !p.as_os_str().is_empty()) {
                let ders = read_dir(&one)?;
                if ders.is_empty() {
                    return Err(format!(
                        "SSL_CERT_DIR={} holds no file with a PEM certificate",
                        one.display()
                    ));
                }
                out.add("SSL_CERT_DIR", &one, ders, &mut seen);
            }
        }
        Ok(out)
    }

    /// Adds the certificates not seen before (a directory often holds the
    /// same CA twice: its file and a hash link).
    fn add(&mut self, var: &str, path: &Path, ders: Vec<Vec<u8>>, seen: &mut HashSet<Vec<u8>>) {
        let mut n = 0;
        for der in ders {
            if let Ok(cert) = reqwest::Certificate::from_der(&der) {
                if seen.insert(der) {
                    self.certs.push(cert);
                    n += 1;
                }
            }
        }
        self.sources.push(format!("{var}={} ({n})", path.display()));
    }
}

/// The DER of every certificate in a PEM file.
fn read_pem(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    CertificateDer::pem_slice_iter(&bytes)
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("is not a valid PEM file: {e}"))
}

/// Every certificate in the readable PEM files of a directory.
fn read_dir(dir: &Path) -> Result<Vec<Vec<u8>>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("SSL_CERT_DIR={} cannot be read: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    paths.sort();
    Ok(paths
        .iter()
        .filter(|p| p.is_file())
        .filter_map(|p| read_pem(p).ok())
        .flatten()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = include_str!("../../../tests/fixtures/tls/ca.pem");
    const LEAF: &str = include_str!("../../../tests/fixtures/tls/server.pem");

    #[test]
    fn a_bundle_and_a_directory_add_each_certificate_once() {
        let d = tempfile::tempdir().unwrap();
        let bundle = d.path().join("bundle.pem");
        std::fs::write(&bundle, format!("{CA}{LEAF}")).unwrap();
        let certs = d.path().join("certs");
        std::fs::create_dir(&certs).unwrap();
        std::fs::write(certs.join("ca.pem"), CA).unwrap();
        std::fs::write(certs.join("README"), "not a certificate").unwrap();
        let r = ExtraRoots::load(Some(bundle.clone()), Some(certs.clone())).unwrap();
        assert_eq!(r.certs.len(), 2, "the directory's CA is the bundle's");
        assert_eq!(
            r.sources,
            [
                format!("SSL_CERT_FILE={} (2)", bundle.display()),
                format!("SSL_CERT_DIR={} (0)", certs.display()),
            ]
        );
    }

    #[test]
    fn a_missing_or_empty_source_is_one_sentence_naming_the_variable_and_path() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("nope.pem");
        let e = ExtraRoots::load(Some(missing.clone()), None).err().unwrap();
        assert!(
            e.starts_with(&format!(
                "SSL_CERT_FILE={} cannot be read: ",
                missing.display()
            )),
            "{e}"
        );
        let empty = d.path().join("empty.pem");
        std::fs::write(&empty, "hello\n").unwrap();
        let e = ExtraRoots::load(Some(empty.clone()), None).err().unwrap();
        assert_eq!(
            e,
            format!(
                "SSL_CERT_FILE={} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                empty.display()
            )
        );
        let e = ExtraRoots::load(None, Some(d.path().join("nodir")))
            .err()
            .unwrap();
        assert!(e.starts_with("SSL_CERT_DIR="), "{e}");
        assert!(ExtraRoots::load(None, None).unwrap().certs.is_empty());
    }
}

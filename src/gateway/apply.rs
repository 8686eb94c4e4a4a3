//! `llmo serve --apply FILE`: the catalog file applied at start (before the
//! server is ready) and again whenever its content changes. The path is
//! read anew on every poll and its content hashed, so a Kubernetes
//! ConfigMap update (a `..data` symlink swapped in the mount directory,
//! which inotify on the file itself misses) is seen like any edit.
//!
//! A file that cannot be applied changes nothing (one transaction) and the
//! catalog in the database keeps serving. At start that makes the gateway
//! not ready (`/ready` 503 names the file's error and the fix), so a bad
//! rollout never takes traffic; after a good apply a bad edit is logged and
//! shown in `/ready`'s `apply` object, and the gateway stays ready (every
//! replica reads the same ConfigMap: going unready would take them all out).
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::Digest;

use crate::catalog_file::{self, ApplyError};
use crate::db::Store;

/// How often the file is read and hashed.
pub(crate) const APPLY_POLL: Duration = Duration::from_secs(1);

/// What `/ready` says about the file.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ApplyStatus {
    pub file: String,
    pub prune: bool,
    /// The last attempt's error (`FILE:LINE: KEY: ...`), `None` when it applied.
    pub error: Option<String>,
    pub fix: Option<String>,
    /// True once the file applied (then a later bad edit does not unready).
    pub applied: bool,
}

/// The watcher's state, kept by the database thread.
pub(crate) struct Applier {
    path: PathBuf,
    prune: bool,
    /// SHA-256 of the content last handled (applied, or refused as bad).
    seen: Option<[u8; 32]>,
    next: Instant,
    applied: bool,
}

impl Applier {
    pub(crate) fn new(path: PathBuf, prune: bool) -> Applier {
        Applier {
            path,
            prune,
            seen: None,
            next: Instant::now(),
            applied: false,
        }
    }

    /// Applies the file if its content changed since the last look (and the
    /// poll interval passed, unless `now`). `None` when nothing was done.
    pub(crate) fn tick(&mut self, store: &mut Store, now: bool) -> Option<ApplyStatus> {
        if !now && Instant::now() < self.next {
            return None;
        }
        self.next = Instant::now() + APPLY_POLL;
        let name = self.path.display().to_string();
        let text = match catalog_file::read(&self.path) {
            Ok(t) => t,
            Err(e) => {
                // Said once until it is readable again.
                if self.seen == Some([0; 32]) {
                    return None;
                }
                self.seen = Some([0; 32]);
                return Some(self.failed(&name, &e));
            }
        };
        let hash: [u8; 32] = sha2::Sha256::digest(text.as_bytes()).into();
        if self.seen == Some(hash) {
            return None;
        }
        match catalog_file::apply_text(store, &name, &text, self.prune, false) {
            Ok(done) => {
                self.seen = Some(hash);
                self.applied = true;
                if done.written {
                    tracing::info!(
                        "applied {name}: {} (configuration version {})",
                        done.plan.summary(),
                        done.version
                    );
                    for l in &done.plan.lines {
                        tracing::debug!("apply {name}: {}", l.text);
                    }
                } else {
                    tracing::info!("applied {name}: no changes");
                }
                Some(ApplyStatus {
                    file: name,
                    prune: self.prune,
                    error: None,
                    fix: None,
                    applied: true,
                })
            }
            // A busy or failing database: try the same content again later.
            Err(ApplyError::Store(e)) if !e.is_user_error() || e.is_busy() => {
                let status = self.failed(&name, &ApplyError::Store(e));
                Some(status)
            }
            Err(e) => {
                self.seen = Some(hash);
                Some(self.failed(&name, &e))
            }
        }
    }

    fn failed(&self, name: &str, e: &ApplyError) -> ApplyStatus {
        let fix = format!(
            "{}; llmo applies the file again when it changes",
            e.hint().unwrap_or_else(|| "fix the file".into())
        );
        tracing::error!(
            "cannot apply {name} (nothing changed; the catalog in the database keeps serving): {e}; fix: {fix}"
        );
        ApplyStatus {
            file: name.to_string(),
            prune: self.prune,
            error: Some(e.to_string()),
            fix: Some(fix),
            applied: self.applied,
        }
    }
}

//! `LISTEN llmo_config`: how a replica hears at once that another one (or
//! the CLI) changed the configuration. Every configuration table's
//! statement trigger bumps `config_version` and sends `NOTIFY llmo_config`
//! (delivered at commit; PostgreSQL folds duplicates within a transaction,
//! so a 100k-key import sends one). The listener is one idle connection of
//! its own (`llmo-listener` in `pg_stat_activity`) on a thread of its own;
//! on a notification it calls back, and the DB worker polls the version at
//! once instead of at its next tick. Polling stays the fallback: a lost
//! connection, a notification missed while reconnecting or a proxy that
//! drops `LISTEN` (PgBouncer in transaction mode) only make a change wait
//! for the next poll.
use std::sync::mpsc;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;

use super::conn;
use crate::db::PgUrl;

/// How often the thread looks whether it should stop.
const TICK: Duration = Duration::from_millis(500);
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// The running listener; dropping it ends the thread within [`TICK`].
pub struct ConfigListener {
    _stop: mpsc::Sender<()>,
}

/// Starts listening on `url`; `changed` is called once per notification
/// burst, and returns `false` when whoever wanted to hear is gone (the
/// listener then ends). `None` if the thread cannot start.
pub(crate) fn spawn(
    url: PgUrl,
    mut changed: impl FnMut() -> bool + Send + 'static,
) -> Option<ConfigListener> {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("llmo-pg-listen".into())
        .spawn(move || {
            let mut backoff = RETRY_FIRST;
            let mut said: Option<String> = None;
            loop {
                match listen(&url, &stopped, &mut changed) {
                    Ok(Ended::Stop) => return,
                    Ok(Ended::Lost(e)) | Err(e) => {
                        // Once per distinct cause: the poll keeps working.
                        if said.as_deref() != Some(e.as_str()) {
                            tracing::debug!(
                                "configuration notifications from {url} paused ({e}); polling meanwhile"
                            );
                            said = Some(e);
                        }
                    }
                }
                match stopped.recv_timeout(backoff) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                backoff = (backoff * 2).min(RETRY_MAX);
            }
        });
    thread.ok().map(|_| ConfigListener { _stop: stop })
}

enum Ended {
    Stop,
    Lost(String),
}

/// One connection's life: `LISTEN`, then wait for notifications.
fn listen(
    url: &PgUrl,
    stopped: &mpsc::Receiver<()>,
    changed: &mut impl FnMut() -> bool,
) -> Result<Ended, String> {
    let mut client = conn::connect(url, "listener").map_err(|e| e.to_string())?;
    client
        .batch_execute("LISTEN llmo_config")
        .map_err(|e| e.to_string())?;
    // A change made while this connection was not listening is caught by
    // asking once now (cheap: the worker compares a version number).
    if !changed() {
        return Ok(Ended::Stop);
    }
    tracing::debug!("listening for configuration changes on {url}");
    loop {
        // The first waits up to a tick; the rest of a burst is drained.
        let heard = match client.notifications().timeout_iter(TICK).next() {
            Ok(Some(_)) => true,
            Ok(None) => false,
            Err(e) => return Ok(Ended::Lost(e.to_string())),
        };
        if heard {
            let mut pending = client.notifications();
            let mut it = pending.iter();
            while let Some(_n) = it.next().map_err(|e| e.to_string())? {}
        }
        if heard && !changed() {
            return Ok(Ended::Stop);
        }
        match stopped.try_recv() {
            Err(mpsc::TryRecvError::Empty) => {}
            _ => return Ok(Ended::Stop),
        }
        if client.is_closed() {
            return Ok(Ended::Lost("the connection closed".into()));
        }
    }
}

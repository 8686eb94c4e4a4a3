//! The replica heartbeat on PostgreSQL: all its SQL (the table is migration
//! V5's `replicas`; see `db/replicas.rs`).
use super::PgStore;
use crate::db::replicas::{Replica, MAX_LISTED, STALE_MS};
use crate::db::Result;

const BEAT: &str =
    "INSERT INTO replicas (id, host, pid, listen, version, redis, started_at, seen_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, \
     listen = excluded.listen, version = excluded.version, redis = excluded.redis, \
     seen_at = excluded.seen_at";

impl PgStore {
    pub(crate) fn replica_beat(&mut self, r: &Replica) -> Result<()> {
        let mut c = self.conn();
        let mut tx = c.transaction()?;
        tx.execute(
            BEAT,
            &[
                &r.id,
                &r.host,
                &r.pid,
                &r.listen,
                &r.version,
                &r.redis,
                &r.started_at_ms,
                &r.seen_at_ms,
            ],
        )?;
        tx.execute(
            "DELETE FROM replicas WHERE seen_at < $1",
            &[&(r.seen_at_ms - STALE_MS)],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn replica_gone(&mut self, id: &str) -> Result<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM replicas WHERE id = $1", &[&id])?
            > 0)
    }

    pub(crate) fn replicas_alive(&self, since_ms: i64) -> Result<Vec<Replica>> {
        let rows = self.conn().query(
            "SELECT id, host, pid, listen, version, redis, started_at, seen_at FROM replicas \
             WHERE seen_at >= $1 ORDER BY started_at, id LIMIT $2",
            &[&since_ms, &MAX_LISTED],
        )?;
        Ok(rows
            .iter()
            .map(|r| Replica {
                id: r.get(0),
                host: r.get(1),
                pid: r.get(2),
                listen: r.get(3),
                version: r.get(4),
                redis: r.get(5),
                started_at_ms: r.get(6),
                seen_at_ms: r.get(7),
            })
            .collect())
    }
}

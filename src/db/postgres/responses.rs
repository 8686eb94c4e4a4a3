//! Stored Responses-API responses on PostgreSQL: all their SQL (the table is
//! migration V4's `responses`): the store's reads and the request-log
//! writer's puts and deletes.
use std::borrow::Borrow;

use postgres::GenericClient;

use super::logs::PgLogWriter;
use super::PgStore;
use crate::db::responses::{ResponseKey, ResponseRow};
use crate::db::Result;

/// Insert, or replace a row of the same id only when the owner matches:
/// ids are random, and a row is never handed to another key.
const PUT: &str = "INSERT INTO responses (id, owner, model, created_at, response, items) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (id) DO UPDATE SET model = excluded.model, created_at = excluded.created_at, \
     response = excluded.response, items = excluded.items \
     WHERE responses.owner = excluded.owner";

const DELETE: &str = "DELETE FROM responses WHERE id = $1 AND owner = $2";

fn put_all<R: Borrow<ResponseRow>>(c: &mut impl GenericClient, rows: &[R]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let st = c.prepare(PUT)?;
    for r in rows {
        let r = r.borrow();
        c.execute(
            &st,
            &[
                &&*r.id,
                &&*r.owner,
                &&*r.model,
                &r.created_at_ms,
                &&r.response[..],
                &&r.items[..],
            ],
        )?;
    }
    Ok(())
}

/// Deletes at most `limit` responses created before `cutoff_ms` (for
/// retention's `prune_chunk` in `logs.rs`).
#[allow(
    dead_code,
    reason = "called by logs.rs's prune_chunk once the request-log writer is ported"
)]
pub(super) fn prune_chunk(c: &mut impl GenericClient, cutoff_ms: i64, limit: i64) -> Result<usize> {
    let n = c.execute(
        "DELETE FROM responses WHERE id IN \
         (SELECT id FROM responses WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        &[&cutoff_ms, &limit],
    )?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

impl PgStore {
    pub(crate) fn put_responses<R: Borrow<ResponseRow>>(&mut self, rows: &[R]) -> Result<()> {
        let mut c = self.conn();
        let mut tx = c.transaction()?;
        put_all(&mut tx, rows)?;
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn get_response(&self, id: &str, owner: &str) -> Result<Option<ResponseRow>> {
        let row = self.conn().query_opt(
            "SELECT id, owner, model, created_at, response, items FROM responses \
             WHERE id = $1 AND owner = $2",
            &[&id, &owner],
        )?;
        Ok(row.map(|r| ResponseRow {
            id: r.get::<_, String>(0).into(),
            owner: r.get::<_, String>(1).into(),
            model: r.get::<_, String>(2).into(),
            created_at_ms: r.get(3),
            response: r.get::<_, Vec<u8>>(4).into(),
            items: r.get::<_, Vec<u8>>(5).into(),
        }))
    }

    pub(crate) fn delete_response(&mut self, id: &str, owner: &str) -> Result<bool> {
        Ok(self.conn().execute(DELETE, &[&id, &owner])? > 0)
    }

    pub(crate) fn count_responses(&self) -> Result<i64> {
        Ok(self
            .conn()
            .query_one("SELECT count(*) FROM responses", &[])?
            .get(0))
    }
}

impl PgLogWriter {
    pub(crate) fn write_responses<R: Borrow<ResponseRow>>(
        &mut self,
        puts: &[R],
        deletes: &[ResponseKey],
    ) -> Result<()> {
        if puts.is_empty() && deletes.is_empty() {
            return Ok(());
        }
        let mut tx = self.client.transaction()?;
        put_all(&mut tx, puts)?;
        if !deletes.is_empty() {
            let st = tx.prepare(DELETE)?;
            for d in deletes {
                tx.execute(&st, &[&&*d.id, &&*d.owner])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

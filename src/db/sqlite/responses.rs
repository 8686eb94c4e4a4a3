//! Stored Responses-API responses on SQLite: all their SQL (the table is
//! migration V4's `responses`). Retention's chunked delete is here too and
//! called from `logs.rs`'s `prune_chunk`.
use std::borrow::Borrow;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::logs::SqliteLogWriter;
use super::SqliteStore;
use crate::db::responses::{ResponseKey, ResponseRow};
use crate::db::Result;

/// Insert, or replace a row of the same id only when the owner matches:
/// ids are random, and a row is never handed to another key.
const PUT: &str = "INSERT INTO responses (id, owner, model, created_at, response, items) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
     ON CONFLICT (id) DO UPDATE SET model = excluded.model, created_at = excluded.created_at, \
     response = excluded.response, items = excluded.items WHERE owner = excluded.owner";

const DELETE: &str = "DELETE FROM responses WHERE id = ?1 AND owner = ?2";

fn put_all<R: Borrow<ResponseRow>>(conn: &Connection, rows: &[R]) -> rusqlite::Result<()> {
    let mut st = conn.prepare_cached(PUT)?;
    for r in rows {
        let r = r.borrow();
        st.execute(params![
            &*r.id,
            &*r.owner,
            &*r.model,
            r.created_at_ms,
            &r.response[..],
            &r.items[..],
        ])?;
    }
    Ok(())
}

/// Deletes at most `limit` responses created before `cutoff_ms`.
pub(super) fn prune_chunk(conn: &Connection, cutoff_ms: i64, limit: i64) -> Result<usize> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM responses WHERE rowid IN \
             (SELECT rowid FROM responses WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
        )?
        .execute(params![cutoff_ms, limit])?)
}

impl SqliteStore {
    pub(crate) fn put_responses<R: Borrow<ResponseRow>>(&mut self, rows: &[R]) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        put_all(&tx, rows)?;
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn get_response(&self, id: &str, owner: &str) -> Result<Option<ResponseRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, owner, model, created_at, response, items FROM responses \
             WHERE id = ?1 AND owner = ?2",
        )?;
        let row = st
            .query_row(params![id, owner], |r| {
                Ok(ResponseRow {
                    id: r.get::<_, String>(0)?.into(),
                    owner: r.get::<_, String>(1)?.into(),
                    model: r.get::<_, String>(2)?.into(),
                    created_at_ms: r.get(3)?,
                    response: r.get::<_, Vec<u8>>(4)?.into(),
                    items: r.get::<_, Vec<u8>>(5)?.into(),
                })
            })
            .optional()?;
        Ok(row)
    }

    pub(crate) fn delete_response(&mut self, id: &str, owner: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(DELETE)?
            .execute(params![id, owner])?
            > 0)
    }

    pub(crate) fn count_responses(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM responses", [], |r| r.get(0))?)
    }
}

impl SqliteLogWriter {
    pub(crate) fn write_responses<R: Borrow<ResponseRow>>(
        &mut self,
        puts: &[R],
        deletes: &[ResponseKey],
    ) -> Result<()> {
        if puts.is_empty() && deletes.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        put_all(&tx, puts)?;
        if !deletes.is_empty() {
            let mut st = tx.prepare_cached(DELETE)?;
            for d in deletes {
                st.execute(params![&*d.id, &*d.owner])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

//! `llmo db copy` on SQLite: the source's snapshot is one deferred read
//! transaction (WAL keeps it consistent while a server writes), the
//! destination's writes one `BEGIN IMMEDIATE` transaction of multi-row
//! `INSERT`s. Integer primary keys are rowids: nothing to move afterwards.
use rusqlite::types::{Value as Sql, ValueRef};

use super::SqliteStore;
use crate::db::copy::{insert_sql, select_sql, Row, Table, Value};
use crate::db::Result;

fn placeholder(i: usize) -> String {
    format!("?{i}")
}

fn to_sql(v: &Value) -> Sql {
    match v {
        Value::Null => Sql::Null,
        Value::Int(i) => Sql::Integer(*i),
        Value::Real(f) => Sql::Real(*f),
        Value::Text(s) => Sql::Text(s.clone()),
        Value::Blob(b) => Sql::Blob(b.clone()),
    }
}

fn from_sql(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

impl SqliteStore {
    pub(crate) fn copy_count(&mut self, t: &Table) -> Result<u64> {
        let sql = format!("SELECT count(*) FROM {}", t.name);
        let n: i64 = self.conn.query_row(&sql, [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(crate) fn copy_begin_read(&mut self) -> Result<()> {
        Ok(self.conn.execute_batch("BEGIN DEFERRED")?)
    }

    pub(crate) fn copy_end_read(&mut self) -> Result<()> {
        Ok(self.conn.execute_batch("COMMIT")?)
    }

    pub(crate) fn copy_read(
        &mut self,
        t: &Table,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Vec<Row>> {
        let sql = select_sql(t, after.is_some(), limit, placeholder);
        let mut st = self.conn.prepare_cached(&sql)?;
        let params: Vec<Sql> = after.unwrap_or_default().iter().map(to_sql).collect();
        let n = t.columns.len();
        let mut rows = st.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::with_capacity(limit);
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(from_sql(r.get_ref(i)?));
            }
            out.push(row);
        }
        Ok(out)
    }

    pub(crate) fn copy_begin_write(&mut self) -> Result<()> {
        Ok(self.conn.execute_batch("BEGIN IMMEDIATE")?)
    }

    pub(crate) fn copy_write(&mut self, t: &Table, rows: &[Row]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let sql = insert_sql(t, rows.len(), placeholder);
        let mut st = self.conn.prepare_cached(&sql)?;
        st.execute(rusqlite::params_from_iter(
            rows.iter().flatten().map(to_sql),
        ))?;
        Ok(())
    }

    pub(crate) fn copy_commit(&mut self) -> Result<()> {
        Ok(self.conn.execute_batch("COMMIT")?)
    }

    pub(crate) fn copy_rollback(&mut self) -> Result<()> {
        Ok(self.conn.execute_batch("ROLLBACK")?)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::db::copy::{NOT_COPIED, TABLES};
    use crate::db::Store;

    /// A migration that adds a table or a column must teach `db copy` about
    /// it (or list the table in `NOT_COPIED`).
    #[test]
    fn copy_covers_every_table_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(Store::open(&path).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut st = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .unwrap();
        let mut schema = BTreeMap::new();
        for table in st.query_map([], |r| r.get::<_, String>(0)).unwrap() {
            let table = table.unwrap();
            let mut cols = conn
                .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .unwrap()
                .query_map([], |r| r.get::<_, String>(0))
                .unwrap()
                .map(|c| c.unwrap())
                .collect::<Vec<_>>();
            cols.sort();
            schema.insert(table, cols);
        }
        let mut listed = BTreeMap::new();
        for t in TABLES {
            let mut cols: Vec<String> = t.columns.iter().map(|c| c.to_string()).collect();
            cols.sort();
            listed.insert(t.name.to_string(), cols);
        }
        schema.retain(|name, _| !NOT_COPIED.contains(&name.as_str()));
        assert_eq!(schema, listed);
    }
}

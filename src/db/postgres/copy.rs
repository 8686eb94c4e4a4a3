//! `llmo db copy` on PostgreSQL: the source's snapshot is one `REPEATABLE
//! READ READ ONLY` transaction, the destination's writes one transaction of
//! binary `COPY`s, a chunk each, whose values are converted to each
//! column's type as the server reports it (SQLite's 0/1 become booleans, blobs `bytea`); at
//! the commit, each identity sequence moves past the copied ids so the
//! next row the gateway inserts gets a fresh one.
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};

use super::PgStore;
use crate::db::copy::{select_sql, Row, Table, Value};
use crate::db::{Result, StoreError};

type Param = Box<dyn ToSql + Sync>;

fn placeholder(i: usize) -> String {
    format!("${i}")
}

fn unsupported(t: &Table, col: usize, ty: &Type, v: Option<&Value>) -> StoreError {
    StoreError::Conflict {
        message: format!(
            "cannot copy column {}.{} (PostgreSQL type {ty}){}",
            t.name,
            t.columns.get(col).copied().unwrap_or("?"),
            v.map(|v| format!(" from the value {v:?}"))
                .unwrap_or_default()
        ),
        hint: Some("both databases must have llmo's schema: `llmo migrate status` on each".into()),
    }
}

/// A value as a parameter of the column's type.
fn to_param(t: &Table, col: usize, ty: &Type, v: &Value) -> Result<Param> {
    let p: Param = match (ty, v) {
        (&Type::BOOL, Value::Null) => Box::new(None::<bool>),
        (&Type::BOOL, Value::Int(i)) => Box::new(*i != 0),
        (&Type::INT8, Value::Null) => Box::new(None::<i64>),
        (&Type::INT8, Value::Int(i)) => Box::new(*i),
        (&Type::INT4, Value::Null) => Box::new(None::<i32>),
        (&Type::INT4, Value::Int(i)) => {
            Box::new(i32::try_from(*i).map_err(|_| unsupported(t, col, ty, Some(v)))?)
        }
        (&Type::FLOAT8, Value::Null) => Box::new(None::<f64>),
        (&Type::FLOAT8, Value::Real(f)) => Box::new(*f),
        (&Type::FLOAT8, Value::Int(i)) => Box::new(*i as f64),
        (&Type::TEXT | &Type::VARCHAR, Value::Null) => Box::new(None::<String>),
        (&Type::TEXT | &Type::VARCHAR, Value::Text(s)) => Box::new(s.clone()),
        (&Type::TEXT | &Type::VARCHAR, Value::Blob(b)) => {
            Box::new(String::from_utf8_lossy(b).into_owned())
        }
        (&Type::BYTEA, Value::Null) => Box::new(None::<Vec<u8>>),
        (&Type::BYTEA, Value::Blob(b)) => Box::new(b.clone()),
        (&Type::BYTEA, Value::Text(s)) => Box::new(s.as_bytes().to_vec()),
        _ => return Err(unsupported(t, col, ty, Some(v))),
    };
    Ok(p)
}

/// Column `i` of a row, by its type.
fn from_row(t: &Table, row: &postgres::Row, i: usize) -> Result<Value> {
    fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
        v.map_or(Value::Null, f)
    }
    let ty = row.columns()[i].type_();
    Ok(match *ty {
        Type::BOOL => opt(row.try_get::<_, Option<bool>>(i)?, |b| Value::Int(b.into())),
        Type::INT8 => opt(row.try_get::<_, Option<i64>>(i)?, Value::Int),
        Type::INT4 => opt(row.try_get::<_, Option<i32>>(i)?, |v| Value::Int(v.into())),
        Type::INT2 => opt(row.try_get::<_, Option<i16>>(i)?, |v| Value::Int(v.into())),
        Type::FLOAT8 => opt(row.try_get::<_, Option<f64>>(i)?, Value::Real),
        Type::FLOAT4 => opt(row.try_get::<_, Option<f32>>(i)?, |v| Value::Real(v.into())),
        Type::TEXT | Type::VARCHAR => opt(row.try_get::<_, Option<String>>(i)?, Value::Text),
        Type::BYTEA => opt(row.try_get::<_, Option<Vec<u8>>>(i)?, Value::Blob),
        _ => return Err(unsupported(t, i, ty, None)),
    })
}

impl PgStore {
    pub(crate) fn copy_count(&mut self, t: &Table) -> Result<u64> {
        let sql = format!("SELECT count(*) FROM {}", t.name);
        let n: i64 = self.conn().query_one(sql.as_str(), &[])?.get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(crate) fn copy_begin_read(&mut self) -> Result<()> {
        Ok(self
            .conn()
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?)
    }

    pub(crate) fn copy_end_read(&mut self) -> Result<()> {
        Ok(self.conn().batch_execute("COMMIT")?)
    }

    pub(crate) fn copy_read(
        &mut self,
        t: &Table,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Vec<Row>> {
        let sql = select_sql(t, after.is_some(), limit, placeholder);
        let mut conn = self.conn();
        let st = conn.prepare(&sql)?;
        let params = after
            .unwrap_or_default()
            .iter()
            .zip(st.params())
            .enumerate()
            .map(|(i, (v, ty))| to_param(t, i, ty, v))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        let rows = conn.query(&st, &refs)?;
        rows.iter()
            .map(|r| (0..t.columns.len()).map(|i| from_row(t, r, i)).collect())
            .collect()
    }

    pub(crate) fn copy_begin_write(&mut self) -> Result<()> {
        Ok(self.conn().batch_execute("BEGIN")?)
    }

    /// One chunk as one binary `COPY ... FROM STDIN` (identity columns take
    /// the copied ids, as `OVERRIDING SYSTEM VALUE` would): no statement to
    /// plan per chunk, no text to parse per value.
    pub(crate) fn copy_write(&mut self, t: &Table, rows: &[Row]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let cols = t.columns.join(", ");
        let mut conn = self.conn();
        let probe = format!("SELECT {cols} FROM {} LIMIT 0", t.name);
        let types: Vec<Type> = conn
            .prepare(&probe)?
            .columns()
            .iter()
            .map(|c| c.type_().clone())
            .collect();
        let sql = format!("COPY {} ({cols}) FROM STDIN (FORMAT binary)", t.name);
        let mut w = BinaryCopyInWriter::new(conn.copy_in(sql.as_str())?, &types);
        for row in rows {
            let params = row
                .iter()
                .zip(&types)
                .enumerate()
                .map(|(i, (v, ty))| to_param(t, i, ty, v))
                .collect::<Result<Vec<_>>>()?;
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
            w.write(&refs)?;
        }
        w.finish()?;
        Ok(())
    }

    /// Moves each identity sequence past the copied ids, then commits.
    pub(crate) fn copy_commit(&mut self) -> Result<()> {
        let mut conn = self.conn();
        for t in crate::db::copy::TABLES {
            if t.columns[0] != "id" {
                continue;
            }
            let seq: Option<String> = conn
                .query_one("SELECT pg_get_serial_sequence($1, 'id')", &[&t.name])?
                .get(0);
            if let Some(seq) = seq {
                // setval is strict: an empty table (max NULL) leaves it be.
                let sql = format!(
                    "SELECT setval($1::text::regclass, (SELECT max(id) FROM {}))",
                    t.name
                );
                conn.query_one(sql.as_str(), &[&seq])?;
            }
        }
        Ok(conn.batch_execute("COMMIT")?)
    }

    pub(crate) fn copy_rollback(&mut self) -> Result<()> {
        Ok(self.conn().batch_execute("ROLLBACK")?)
    }
}

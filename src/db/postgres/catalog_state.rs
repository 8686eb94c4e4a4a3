//! The SQL behind `llmo config export` / `apply` on PostgreSQL (see
//! `db/catalog_state.rs`).
use super::logs::not_yet;
use super::PgStore;
use crate::db::catalog_state::{CatalogChange, CatalogState};
use crate::db::Result;

impl PgStore {
    pub(crate) fn catalog_state(&mut self) -> Result<CatalogState> {
        not_yet()
    }

    pub(crate) fn apply_catalog_changes(
        &mut self,
        _expected: i64,
        _changes: &[CatalogChange],
    ) -> Result<i64> {
        not_yet()
    }
}

//! Migration status through [`Store`], on any engine (the pre-check's every
//! state is tested without a database in `db/migrate.rs`).
use super::TestStore;
use crate::db::migrate::known;
use crate::db::MigrationState;

pub(super) fn fresh_store_is_current(mut t: TestStore) {
    let st = t.store.migration_status().unwrap();
    let newest = known().last().unwrap().0;
    assert_eq!((st.db_version, st.binary_version), (newest, newest));
    assert!(st.problems.is_empty());
    assert_eq!(st.migrations.len(), known().len());
    assert!(st
        .migrations
        .iter()
        .all(|m| m.state == MigrationState::Applied && m.applied_at.is_some()));
    let again = t.store.migrate_up(true).unwrap();
    assert!(again.applied.is_empty() && again.backup.is_none());
    assert_eq!(again.version, newest);
    assert!(t.store.has_table("providers").unwrap());
    assert!(!t.store.has_table("nope").unwrap());
    assert_eq!(t.store.integrity_check().unwrap(), ["ok"]);
}

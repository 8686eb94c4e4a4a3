//! Migration status through [`Store`], on any engine (the pre-check's every
//! state is tested without a database in `db/migrate.rs`).
use super::TestStore;
use crate::db::migrate::known;
use crate::db::{MigrationState, Store};

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

/// A database a newer llmo migrated (a history row this binary does not
/// know) is refused with both versions, and left as it was.
pub(super) fn newer_database_is_refused_untouched(t: TestStore) {
    t.store.execute_for_test(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
         VALUES (99, 'future', '2030-01-01T00:00:00Z', '1')",
    );
    let before = t.store.migration_status().unwrap();
    let v = t.store.config_version().unwrap();
    let e = Store::open(t.location.clone()).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "the database is at schema version 99 but this llmo only knows up to version"
        ),
        "{e}"
    );
    assert!(e.hint().unwrap().contains("the database was not changed"));
    let after = t.store.migration_status().unwrap();
    assert_eq!(after.db_version, 99);
    assert_eq!(after.migrations.len(), before.migrations.len());
    assert_eq!(t.store.config_version().unwrap(), v);
}

//! The whole catalog as one document, for `llmo config export` and
//! `llmo config apply` (engine-neutral part): the state read in one
//! transaction (one query per table, linear in the catalog's size) and the
//! changes an apply writes, in one transaction that bumps the configuration
//! version exactly once (or not at all when there is nothing to change).
use super::catalog::ProviderFields;
use super::{engine, Result, Store};
use crate::catalog::{MappingView, Provider};

/// The catalog, every entry sorted by name (byte order).
#[derive(Debug, Clone, Default)]
pub struct CatalogState {
    /// `config_version` when it was read: an apply planned on this state
    /// is refused if the catalog changed since.
    pub version: i64,
    pub providers: Vec<Provider>,
    pub models: Vec<ModelState>,
    /// Every client key, revoked ones too (`revoked` says so).
    pub keys: Vec<KeyLimits>,
}

/// A public model and its mappings (sorted by provider name).
#[derive(Debug, Clone)]
pub struct ModelState {
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub mappings: Vec<MappingView>,
}

/// What the catalog file may say about a client key (never its hash).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyLimits {
    pub name: String,
    pub rpm_limit: i64,
    /// Allowed public models; `None` means all.
    pub models: Option<Vec<String>>,
    pub revoked: bool,
}

/// One write of an apply, with its values already checked and resolved.
#[derive(Debug, Clone)]
pub(crate) enum CatalogChange {
    /// Inserts the provider, or overwrites every field of the one so named.
    UpsertProvider {
        name: String,
        fields: ProviderFields,
    },
    DeleteProvider(String),
    UpsertModel {
        name: String,
        description: String,
        enabled: bool,
    },
    DeleteModel(String),
    UpsertMapping {
        model: String,
        mapping: MappingView,
    },
    DeleteMapping {
        model: String,
        provider: String,
    },
    /// Sets the limits of an existing, unrevoked client key.
    SetKeyLimits(KeyLimits),
}

impl Store {
    /// Reads the whole catalog in one read transaction.
    pub fn catalog_state(&mut self) -> Result<CatalogState> {
        engine!(&mut *self, s => s.catalog_state())
    }

    /// Writes `changes` in one transaction, refused (nothing written) when
    /// the configuration version is no longer `expected` (someone changed
    /// the catalog since it was read). The version moves by exactly one.
    /// Returns the new version.
    pub(crate) fn apply_catalog_changes(
        &mut self,
        expected: i64,
        changes: &[CatalogChange],
    ) -> Result<i64> {
        engine!(&mut *self, s => s.apply_catalog_changes(expected, changes))
    }
}

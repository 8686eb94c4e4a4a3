//! The catalog's SQL on PostgreSQL: providers, models, mappings and client
//! keys. Checks and defaults are applied before these run (`db/catalog.rs`).
use std::collections::BTreeMap;

use super::logs::not_yet;
use super::PgStore;
use crate::catalog::{MappingInput, ModelView, Provider};
use crate::db::catalog::{
    Catalog, ClientKey, KeyChanges, KeyRow, NewKey, ProviderFields, Versions,
};
use crate::db::Result;

impl PgStore {
    pub(crate) fn list_providers(&self) -> Result<Vec<Provider>> {
        not_yet()
    }
    pub(crate) fn find_provider(&self, _name: &str) -> Result<Option<Provider>> {
        not_yet()
    }
    pub(crate) fn provider_models(&self) -> Result<BTreeMap<String, Vec<String>>> {
        not_yet()
    }
    pub(crate) fn insert_provider(
        &mut self,
        _name: &str,
        _f: &ProviderFields,
        _models: &[String],
    ) -> Result<()> {
        not_yet()
    }
    pub(crate) fn update_provider(
        &mut self,
        _current: &Provider,
        _name: &str,
        _f: &ProviderFields,
        _models: &[String],
    ) -> Result<()> {
        not_yet()
    }
    pub(crate) fn models_only_served_by(&self, _provider: &str) -> Result<Vec<String>> {
        not_yet()
    }
    pub(crate) fn delete_provider(&mut self, _name: &str) -> Result<()> {
        not_yet()
    }
    pub(crate) fn model_views(&self, _only: Option<&str>) -> Result<Vec<ModelView>> {
        not_yet()
    }
    pub(crate) fn upsert_model(
        &mut self,
        _name: &str,
        _description: Option<&str>,
        _enabled: Option<bool>,
        _mappings: &[MappingInput],
        _existing_ok: bool,
    ) -> Result<()> {
        not_yet()
    }
    pub(crate) fn set_model_enabled(&mut self, _name: &str, _enabled: bool) -> Result<bool> {
        not_yet()
    }
    pub(crate) fn delete_mapping(&mut self, _model: &str, _provider: &str) -> Result<bool> {
        not_yet()
    }
    pub(crate) fn delete_model(&mut self, _name: &str) -> Result<bool> {
        not_yet()
    }
    pub(crate) fn insert_key(&mut self, _k: &NewKey) -> Result<()> {
        not_yet()
    }
    pub(crate) fn list_keys(&self) -> Result<Vec<ClientKey>> {
        not_yet()
    }
    pub(crate) fn find_key(&self, _name: &str) -> Result<Option<ClientKey>> {
        not_yet()
    }
    pub(crate) fn revoke_key(&mut self, _name: &str) -> Result<bool> {
        not_yet()
    }
    pub(crate) fn catalog_versions(&self) -> Result<Versions> {
        not_yet()
    }
    pub(crate) fn load_key_changes(
        &mut self,
        _max_key_id: i64,
        _on_key: &mut dyn FnMut(KeyRow<'_>),
    ) -> Result<KeyChanges> {
        not_yet()
    }
    pub(crate) fn load_catalog(&mut self, _on_key: &mut dyn FnMut(KeyRow<'_>)) -> Result<Catalog> {
        not_yet()
    }
}

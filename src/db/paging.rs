//! Paged, searchable lists of the catalog (client keys, models, providers)
//! for the admin API, engine-neutral part: the query ([`ListQuery`]), the
//! page ([`Page`]) and [`Store`]'s `*_page` methods. The SQL is the
//! engine's (`sqlite/paging.rs`).
//!
//! Pages are keyset pages in name order: a page holds the names after
//! `after` (exclusive), and `next` is the last name of a page that has more
//! after it. Each table's unique index on `name` serves the order and the
//! `name > after` range, so page 1,000 costs what page 1 costs.
//!
//! `q` is a case-insensitive substring of the name. No B-tree index can
//! serve a substring, so a search walks the name index in order, testing
//! each name (names only; a row is read once it matches) and stops after a
//! page of matches: a search that matches nothing reads every name once,
//! which stays linear in the catalog's size (~0.1 s at 100,000 keys),
//! never in the request log's.
use serde::Serialize;

use super::catalog::ClientKey;
use super::{engine, Result, Store};
use crate::catalog::{Invalid, ModelView, Provider};

/// Rows per page when the client does not say.
pub const DEFAULT_LIST_PAGE: usize = 100;
/// Largest page a list endpoint answers.
pub const MAX_LIST_PAGE: usize = 1000;
/// Longest search string accepted (names are at most 128 characters).
pub const MAX_SEARCH_LEN: usize = 128;
/// A provider's model names shown in a list page; the rest are counted
/// (`model_count`), and the provider's own page has them all.
pub const LIST_PROVIDER_MODELS: usize = 100;

/// One page's request: names after `after`, containing `q`, `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Case-insensitive substring of the name; `None` = all.
    pub q: Option<String>,
    /// Only names strictly after this one (the previous page's `next`).
    pub after: Option<String>,
    pub limit: usize,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            q: None,
            after: None,
            limit: DEFAULT_LIST_PAGE,
        }
    }
}

impl ListQuery {
    /// Checks the limit and the search's length; lowercases the search.
    pub fn new(
        q: Option<String>,
        after: Option<String>,
        limit: Option<i64>,
    ) -> Result<ListQuery, Invalid> {
        let limit = match limit {
            None => DEFAULT_LIST_PAGE,
            Some(n) if (1..=MAX_LIST_PAGE as i64).contains(&n) => n as usize,
            Some(n) => {
                return Err(Invalid::new(
                    "limit",
                    format!("`limit` must be between 1 and {MAX_LIST_PAGE} (got {n})"),
                ))
            }
        };
        if let Some(q) = &q {
            if q.chars().count() > MAX_SEARCH_LEN {
                return Err(Invalid::new(
                    "q",
                    format!("`q` must be at most {MAX_SEARCH_LEN} characters"),
                ));
            }
        }
        Ok(ListQuery {
            q: q.map(|q| q.to_lowercase()),
            after,
            limit,
        })
    }
}

/// One page of a list, in name order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub rows: Vec<T>,
    /// The last name of this page when more follow (pass it as `after`);
    /// `None` on the last page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Cuts `rows` (fetched with one row more than `limit`) to a page.
    fn cut(mut rows: Vec<T>, limit: usize, name: impl Fn(&T) -> &str) -> Page<T> {
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| name(r).to_string())
        } else {
            None
        };
        Page { rows, next }
    }
}

/// A provider in a list page: its first [`LIST_PROVIDER_MODELS`] model
/// names (by name) and how many it has.
#[derive(Debug, Clone)]
pub struct ProviderItem {
    pub provider: Provider,
    pub models: Vec<String>,
    pub model_count: usize,
}

impl Store {
    /// One page of client keys (revoked ones included), by name.
    pub fn list_keys_page(&self, q: &ListQuery) -> Result<Page<ClientKey>> {
        let rows = engine!(self, s => s.keys_page(q, q.limit + 1))?;
        Ok(Page::cut(rows, q.limit, |k| &k.name))
    }

    /// One page of models with their mappings, by name.
    pub fn list_models_page(&self, q: &ListQuery) -> Result<Page<ModelView>> {
        let rows = engine!(self, s => s.models_page(q, q.limit + 1))?;
        Ok(Page::cut(rows, q.limit, |m| &m.name))
    }

    /// One page of providers, by name, each with its first model names.
    pub fn list_providers_page(&self, q: &ListQuery) -> Result<Page<ProviderItem>> {
        let rows = engine!(self, s => s.providers_page(q, q.limit + 1, LIST_PROVIDER_MODELS))?;
        Ok(Page::cut(rows, q.limit, |p| &p.provider.name))
    }

    /// The engine's plans for a keys page with this query (for tests).
    pub fn explain_keys_page(&self, q: &ListQuery) -> Result<Vec<String>> {
        engine!(self, s => s.explain_keys_page(q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_queries_check_limit_and_search() {
        let q = ListQuery::new(Some("ABc".into()), None, None).unwrap();
        assert_eq!((q.q.as_deref(), q.limit), (Some("abc"), DEFAULT_LIST_PAGE));
        assert_eq!(
            ListQuery::new(None, None, Some(0)).unwrap_err().field,
            "limit"
        );
        assert_eq!(
            ListQuery::new(None, None, Some(1001)).unwrap_err().field,
            "limit"
        );
        assert_eq!(
            ListQuery::new(Some("x".repeat(129)), None, None)
                .unwrap_err()
                .field,
            "q"
        );
        let p = Page::cut(vec!["a", "b", "c"], 2, |s| s);
        assert_eq!((p.rows, p.next.as_deref()), (vec!["a", "b"], Some("b")));
        let p = Page::cut(vec!["a"], 2, |s| s);
        assert_eq!(p.next, None);
    }
}

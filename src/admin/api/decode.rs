//! Decoding of the admin API's path parameters and query strings.
//!
//! One decoder serves both, with form (`application/x-www-form-urlencoded`)
//! rules and strictly: `%XX` escapes, `+` as a space, and a malformed escape
//! or invalid UTF-8 refuses the whole component. The gateway router has its
//! own, different decoder (`gateway/router.rs`, for `/v1/models/{id}`): it
//! is lenient (a bad escape passes through as written, `+` stays `+`), as
//! OpenAI clients expect of a model id. The two are kept apart on purpose:
//! a refused admin path segment answers 404 rather than acting on a name
//! the client did not send.
use super::reply::bad;
use crate::admin::AdminResponse;
use crate::db::paging::ListQuery;

/// Decodes one path segment or query component; `None` when malformed.
pub(super) fn decode_component(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A decoded query string. A pair that does not decode is dropped; of
/// repeated names, the first counts.
#[derive(Debug, Default)]
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    pub(super) fn parse(q: Option<&str>) -> Query {
        Query(
            q.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    Some((decode_component(k)?, decode_component(v)?))
                })
                .collect(),
        )
    }

    /// The value as sent (decoded, not trimmed).
    pub(super) fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    /// The trimmed value; empty = absent.
    pub(super) fn text(&self, k: &str) -> Option<String> {
        self.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// `true` or `1`; anything else (or absent) is false.
    pub(super) fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }

    /// A whole number; empty = absent. `what` completes the error message
    /// ("`k` must be {what} (got `v`)").
    pub(super) fn int(&self, k: &str, what: &str) -> Result<Option<i64>, AdminResponse> {
        self.get(k)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| bad(k, format!("`{k}` must be {what} (got `{v}`)")))
            })
            .transpose()
    }
}

/// The paging and search parameters of a list endpoint: `limit`, `after`
/// (the previous page's `next`) and `q` (case-insensitive substring).
pub(super) fn list_query(query: &Query) -> Result<ListQuery, AdminResponse> {
    let limit = query.int("limit", "a whole number")?;
    ListQuery::new(
        query.text("q"),
        query
            .get("after")
            .filter(|a| !a.is_empty())
            .map(str::to_string),
        limit,
    )
    .map_err(|e| bad(e.field, e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        assert_eq!(
            Query::parse(Some("model=gpt-4o&provider=a%20b&x")).0,
            vec![
                ("model".into(), "gpt-4o".into()),
                ("provider".into(), "a b".into()),
                ("x".into(), String::new())
            ]
        );
    }

    #[test]
    fn components_decode_strictly_with_form_rules() {
        assert_eq!(
            decode_component("meta%2Fllama").as_deref(),
            Some("meta/llama")
        );
        assert_eq!(decode_component("a+b").as_deref(), Some("a b"));
        assert_eq!(decode_component("bad%zz"), None);
        assert_eq!(decode_component("end%2"), None);
        assert_eq!(decode_component("%FF"), None);
    }
}

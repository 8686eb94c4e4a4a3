//! Reading the catalog file: TOML parsed with `toml_edit` (which keeps every
//! key's position), walked by hand so that the first error names the line
//! and the key path (`providers.openai`), and an unknown key lists the
//! allowed ones.
use std::ops::Range;

use toml_edit::{Item, Key, TableLike, Value};

use super::{CatalogDoc, FileError, KeyChoice, KeyDoc, Lines, MappingDoc, ModelDoc, ProviderDoc};

const TOP_KEYS: &[&str] = &["providers", "models", "keys"];
const PROVIDER_KEYS: &[&str] = &[
    "kind",
    "base_url",
    "api_key_env",
    "no_api_key",
    "api_key_stored",
    "priority",
    "weight",
    "max_retries",
    "timeout_ms",
    "rate_limit_rpm",
    "enabled",
];
const MODEL_KEYS: &[&str] = &["description", "enabled", "providers"];
const MAPPING_KEYS: &[&str] = &[
    "provider",
    "upstream_model",
    "priority",
    "weight",
    "enabled",
];
const KEY_KEYS: &[&str] = &["rpm", "models"];

/// Where the parser is: the text (for line numbers) and the file's name.
pub(super) struct Cursor<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
    /// Byte offset of every line's start (a binary search gives a line).
    starts: Vec<usize>,
}

impl Cursor<'_> {
    fn new<'a>(file: &'a str, text: &'a str) -> Cursor<'a> {
        let starts = std::iter::once(0).chain(memchr_lines(text)).collect();
        Cursor { file, text, starts }
    }

    /// 1-based line of a byte offset.
    pub(super) fn line(&self, at: usize) -> usize {
        self.starts.partition_point(|s| *s <= at).max(1)
    }

    fn line_of(&self, span: Option<Range<usize>>, fallback: usize) -> usize {
        span.map_or(fallback, |s| self.line(s.start))
    }

    pub(super) fn error(&self, line: usize, path: &str, message: impl Into<String>) -> FileError {
        FileError::new(self.file, line, path, message)
    }
}

/// The offsets just after each newline.
fn memchr_lines(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.bytes()
        .enumerate()
        .filter(|(_, b)| *b == b'\n')
        .map(|(i, _)| i + 1)
}

/// A key as the file's paths write it: bare when TOML allows, else quoted.
pub(super) fn key_str(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        k.to_string()
    } else {
        super::render::quote(k)
    }
}

pub(super) fn parse(file: &str, text: &str) -> Result<CatalogDoc, FileError> {
    let cur = Cursor::new(file, text);
    let doc = toml_edit::ImDocument::parse(text).map_err(|e| syntax_error(&cur, &e))?;
    let root = doc.as_table();
    let mut out = CatalogDoc::default();
    for (k, item) in root.iter() {
        let (key, _) = root
            .get_key_value(k)
            .map_or((None, item), |(k, i)| (Some(k), i));
        let line = cur.line_of(key.and_then(Key::span), 1);
        if !TOP_KEYS.contains(&k) {
            return Err(unknown(&cur, line, "", k, TOP_KEYS));
        }
        let Some(table) = item.as_table_like() else {
            return Err(cur.error(line, k, format!("must be a table (`[{k}.NAME]`)")));
        };
        match k {
            "providers" => for_entries(&cur, k, table, line, |name, t, l| {
                out.providers.push(provider(&cur, name, t, l)?);
                Ok(())
            })?,
            "models" => for_entries(&cur, k, table, line, |name, t, l| {
                out.models.push(model(&cur, name, t, l)?);
                Ok(())
            })?,
            "keys" => for_entries(&cur, k, table, line, |name, t, l| {
                out.keys.push(key_doc(&cur, name, t, l)?);
                Ok(())
            })?,
            _ => return Err(unknown(&cur, line, "", k, TOP_KEYS)),
        }
    }
    out.providers.sort_by(|a, b| a.name.cmp(&b.name));
    out.models.sort_by(|a, b| a.name.cmp(&b.name));
    out.keys.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn syntax_error(cur: &Cursor<'_>, e: &toml_edit::TomlError) -> FileError {
    let line = e.span().map_or(1, |s| cur.line(s.start));
    // The table the error is in: the nearest header above it.
    let path = cur
        .text
        .lines()
        .take(line)
        .filter_map(|l| {
            let l = l.trim();
            l.starts_with('[')
                .then(|| l.trim_start_matches('[').split(']').next().unwrap_or(""))
        })
        .last()
        .unwrap_or("")
        .trim()
        .to_string();
    let message = e.message().trim().replace('\n', "; ");
    let mut err = cur.error(line, &path, format!("TOML syntax error: {message}"));
    err.hint = Some(
        "fix the TOML at that line (strings in \"quotes\", one `key = value` per line)".into(),
    );
    err
}

fn unknown(cur: &Cursor<'_>, line: usize, path: &str, key: &str, allowed: &[&str]) -> FileError {
    let mut e = cur.error(
        line,
        path,
        format!(
            "unknown key `{key}` (expected one of {})",
            allowed.join(", ")
        ),
    );
    e.hint = Some("see the catalog format in README.md (\"Configuration as code\")".into());
    if path.is_empty() {
        e.path = key.to_string();
        e.message = format!("unknown key (expected one of {})", allowed.join(", "));
    }
    e
}

/// Calls `each` for every `[section.NAME]` table of a section.
fn for_entries(
    cur: &Cursor<'_>,
    section: &str,
    table: &dyn TableLike,
    line: usize,
    mut each: impl FnMut(&str, Entry<'_>, usize) -> Result<(), FileError>,
) -> Result<(), FileError> {
    for (name, item) in table.iter() {
        let key = table.get_key_value(name).map(|(k, _)| k);
        let l = cur.line_of(key.and_then(Key::span).or_else(|| item.span()), line);
        let path = format!("{section}.{}", key_str(name));
        let Some(t) = item.as_table_like() else {
            return Err(cur.error(l, &path, format!("must be a table (`[{path}]`)")));
        };
        each(name, Entry { t, path }, l)?;
    }
    Ok(())
}

/// One entry's table and its path, with typed readers that check for
/// unknown keys and name the line of each value.
pub(super) struct Entry<'a> {
    t: &'a dyn TableLike,
    path: String,
}

impl Entry<'_> {
    fn check_keys(
        &self,
        cur: &Cursor<'_>,
        allowed: &[&'static str],
        line: usize,
    ) -> Result<Lines, FileError> {
        let mut lines = Lines {
            entry: line,
            keys: Vec::new(),
        };
        for (k, item) in self.t.iter() {
            let key = self.t.get_key_value(k).map(|(k, _)| k);
            let l = cur.line_of(key.and_then(Key::span).or_else(|| item.span()), line);
            let Some(known) = allowed.iter().find(|a| **a == k) else {
                return Err(unknown(cur, l, &self.path, k, allowed));
            };
            lines.keys.push((known, l));
        }
        Ok(lines)
    }

    fn value<'v>(
        &'v self,
        cur: &Cursor<'_>,
        lines: &Lines,
        key: &str,
        want: &str,
    ) -> Result<Option<(&'v Value, usize)>, FileError> {
        let Some(item) = self.t.get(key) else {
            return Ok(None);
        };
        let line = lines.of(key);
        match item {
            Item::Value(v) => Ok(Some((v, line))),
            _ => Err(self.type_error(cur, line, key, want, item.type_name())),
        }
    }

    fn type_error(
        &self,
        cur: &Cursor<'_>,
        line: usize,
        key: &str,
        want: &str,
        got: &str,
    ) -> FileError {
        let mut e = cur.error(
            line,
            &self.path,
            format!("`{key}` must be {want} (got {got})"),
        );
        e.hint = Some("see the catalog format in README.md (\"Configuration as code\")".into());
        e
    }

    fn str(&self, cur: &Cursor<'_>, lines: &Lines, key: &str) -> Result<Option<String>, FileError> {
        match self.value(cur, lines, key, "a string")? {
            None => Ok(None),
            Some((v, l)) => v
                .as_str()
                .map(|s| Some(s.to_string()))
                .ok_or_else(|| self.type_error(cur, l, key, "a string", v.type_name())),
        }
    }

    fn int(&self, cur: &Cursor<'_>, lines: &Lines, key: &str) -> Result<Option<i64>, FileError> {
        match self.value(cur, lines, key, "an integer")? {
            None => Ok(None),
            Some((v, l)) => v
                .as_integer()
                .map(Some)
                .ok_or_else(|| self.type_error(cur, l, key, "an integer", v.type_name())),
        }
    }

    fn bool(&self, cur: &Cursor<'_>, lines: &Lines, key: &str) -> Result<Option<bool>, FileError> {
        match self.value(cur, lines, key, "true or false")? {
            None => Ok(None),
            Some((v, l)) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.type_error(cur, l, key, "true or false", v.type_name())),
        }
    }

    fn strings(
        &self,
        cur: &Cursor<'_>,
        lines: &Lines,
        key: &str,
    ) -> Result<Option<Vec<String>>, FileError> {
        const WANT: &str = "an array of strings";
        let Some((v, l)) = self.value(cur, lines, key, WANT)? else {
            return Ok(None);
        };
        let arr = v
            .as_array()
            .ok_or_else(|| self.type_error(cur, l, key, WANT, v.type_name()))?;
        arr.iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| self.type_error(cur, l, key, WANT, x.type_name()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

fn provider(
    cur: &Cursor<'_>,
    name: &str,
    e: Entry<'_>,
    line: usize,
) -> Result<ProviderDoc, FileError> {
    let lines = e.check_keys(cur, PROVIDER_KEYS, line)?;
    let env = e.str(cur, &lines, "api_key_env")?;
    let no_key = e.bool(cur, &lines, "no_api_key")?.unwrap_or(false);
    let stored = e.bool(cur, &lines, "api_key_stored")?.unwrap_or(false);
    let key = match (env, no_key, stored) {
        (Some(v), false, false) => KeyChoice::Env(v),
        (None, true, false) => KeyChoice::NoKey,
        (None, false, true) => KeyChoice::Stored,
        (None, false, false) => KeyChoice::Missing,
        _ => {
            let l = lines.of("no_api_key").max(lines.of("api_key_stored"));
            let mut err = cur.error(
                l,
                &e.path,
                "give only one of `api_key_env`, `no_api_key = true` and `api_key_stored = true`",
            );
            err.hint = Some("a provider's key comes from one place".into());
            return Err(err);
        }
    };
    Ok(ProviderDoc {
        name: name.to_string(),
        path: e.path.clone(),
        line,
        kind: e.str(cur, &lines, "kind")?,
        base_url: e.str(cur, &lines, "base_url")?,
        key,
        priority: e.int(cur, &lines, "priority")?,
        weight: e.int(cur, &lines, "weight")?,
        max_retries: e.int(cur, &lines, "max_retries")?,
        timeout_ms: e.int(cur, &lines, "timeout_ms")?,
        rate_limit_rpm: e.int(cur, &lines, "rate_limit_rpm")?,
        enabled: e.bool(cur, &lines, "enabled")?,
        lines,
    })
}

fn model(cur: &Cursor<'_>, name: &str, e: Entry<'_>, line: usize) -> Result<ModelDoc, FileError> {
    let lines = e.check_keys(cur, MODEL_KEYS, line)?;
    let mut mappings = Vec::new();
    if let Some(item) = e.t.get("providers") {
        let l = lines.of("providers");
        let tables: Vec<(&dyn TableLike, Option<Range<usize>>)> = match item {
            Item::ArrayOfTables(a) => a.iter().map(|t| (t as &dyn TableLike, t.span())).collect(),
            Item::Value(Value::Array(a)) => {
                let mut v = Vec::new();
                for x in a.iter() {
                    let t = x.as_inline_table().ok_or_else(|| {
                        e.type_error(cur, l, "providers", "an array of tables", x.type_name())
                    })?;
                    v.push((t as &dyn TableLike, x.span()));
                }
                v
            }
            other => {
                return Err(e.type_error(
                    cur,
                    l,
                    "providers",
                    "an array of tables",
                    other.type_name(),
                ))
            }
        };
        for (i, (t, span)) in tables.into_iter().enumerate() {
            let m = Entry {
                t,
                path: format!("{}.providers[{i}]", e.path),
            };
            let ml = cur.line_of(span, l);
            let ml_lines = m.check_keys(cur, MAPPING_KEYS, ml)?;
            let Some(provider) = m.str(cur, &ml_lines, "provider")? else {
                return Err(cur.error(ml, &m.path, "`provider` is required (the provider's name)"));
            };
            mappings.push(MappingDoc {
                provider,
                path: m.path.clone(),
                upstream_model: m.str(cur, &ml_lines, "upstream_model")?,
                priority: m.int(cur, &ml_lines, "priority")?,
                weight: m.int(cur, &ml_lines, "weight")?,
                enabled: m.bool(cur, &ml_lines, "enabled")?,
                lines: ml_lines,
            });
        }
    }
    Ok(ModelDoc {
        name: name.to_string(),
        path: e.path.clone(),
        description: e.str(cur, &lines, "description")?,
        enabled: e.bool(cur, &lines, "enabled")?,
        mappings,
        lines,
    })
}

fn key_doc(cur: &Cursor<'_>, name: &str, e: Entry<'_>, line: usize) -> Result<KeyDoc, FileError> {
    let lines = e.check_keys(cur, KEY_KEYS, line)?;
    Ok(KeyDoc {
        name: name.to_string(),
        path: e.path.clone(),
        line,
        rpm: e.int(cur, &lines, "rpm")?,
        models: e.strings(cur, &lines, "models")?,
        lines,
    })
}

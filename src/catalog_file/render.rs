//! Writing the catalog as TOML: fixed key order, entries sorted by name,
//! every value explicit (mapping overrides only when set), so the output
//! is byte-stable and an export applied to a fresh database exports the
//! same bytes. Secrets never appear: a stored provider key becomes
//! `api_key_stored = true` with a comment.
use std::fmt::Write as _;

use super::parse::key_str;
use crate::db::catalog_state::CatalogState;

pub(super) const HEADER: &str =
    "# llmo catalog — applied with `llmo config apply` or `llmo serve --apply`.\n\
# Written by `llmo config export`; secrets are never exported.\n";

/// A TOML basic string.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote_list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", q.join(", "))
}

/// The catalog as the TOML `llmo config export` prints (one pass over it).
pub fn render(state: &CatalogState) -> String {
    let mut o = String::with_capacity(
        HEADER.len()
            + 300 * state.providers.len()
            + 200 * state.models.len()
            + 60 * state.keys.len(),
    );
    o.push_str(HEADER);
    for p in &state.providers {
        let _ = writeln!(o, "\n[providers.{}]", key_str(&p.name));
        let _ = writeln!(o, "kind = {}", quote(p.kind.as_str()));
        let _ = writeln!(o, "base_url = {}", quote(&p.base_url));
        match (&p.api_key, &p.api_key_env) {
            (Some(_), _) => {
                o.push_str(
                    "# The API key of this provider is stored in the database and is not exported.\n\
                     # `api_key_stored = true` keeps the stored key; to supply it from the environment\n\
                     # instead, replace the line with `api_key_env = \"VAR\"` and set VAR where `llmo serve` runs.\n\
                     api_key_stored = true\n",
                );
            }
            (None, Some(v)) => {
                let _ = writeln!(o, "api_key_env = {}", quote(v));
            }
            (None, None) => o.push_str("no_api_key = true\n"),
        }
        let _ = write!(
            o,
            "priority = {}\nweight = {}\nmax_retries = {}\ntimeout_ms = {}\nrate_limit_rpm = {}\nenabled = {}\n",
            p.priority, p.weight, p.max_retries, p.timeout_ms, p.rate_limit_rpm, p.enabled
        );
    }
    for m in &state.models {
        let _ = writeln!(o, "\n[models.{}]", key_str(&m.name));
        let _ = writeln!(o, "description = {}", quote(&m.description));
        let _ = writeln!(o, "enabled = {}", m.enabled);
        if m.mappings.is_empty() {
            o.push_str("providers = []\n");
            continue;
        }
        o.push_str("providers = [\n");
        for mp in &m.mappings {
            let _ = write!(
                o,
                "  {{ provider = {}, upstream_model = {}",
                quote(&mp.provider),
                quote(&mp.upstream_model)
            );
            if let Some(p) = mp.priority {
                let _ = write!(o, ", priority = {p}");
            }
            if let Some(w) = mp.weight {
                let _ = write!(o, ", weight = {w}");
            }
            let _ = writeln!(o, ", enabled = {} }},", mp.enabled);
        }
        o.push_str("]\n");
    }
    for k in state.keys.iter().filter(|k| !k.revoked) {
        let _ = writeln!(o, "\n[keys.{}]", key_str(&k.name));
        let _ = writeln!(o, "rpm = {}", k.rpm_limit);
        if let Some(ms) = &k.models {
            let _ = writeln!(o, "models = {}", quote_list(ms));
        }
    }
    o
}

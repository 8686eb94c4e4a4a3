//! The shape of the source tree, kept true by a test (issue 9): no file with
//! more than 900 lines before its test module, no function longer than 120
//! lines, and the layering ARCHITECTURE.md writes down (who may import whom).
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 900;
const MAX_FN_LINES: usize = 120;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            (rel, text)
        })
        .collect()
}

/// The part of a file before its `#[cfg(test)]` module (or all of it), and
/// whether the file is itself a test-only module.
fn code_part(text: &str) -> &str {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("#[cfg(test)]") {
            return &text[..at];
        }
        at += line.len();
    }
    text
}

/// Blanks out comments, string and char literals (keeping line breaks), so
/// that braces inside them do not count.
fn strip(code: &str) -> String {
    let b = code.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { b'\n' } else { b' ' });
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    out.push(b' ');
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                out.extend_from_slice(b"  ");
                i += 2;
            }
            b'r' if matches!(b.get(i + 1), Some(b'#' | b'"'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let mut hashes = 0;
                let mut j = i + 1;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    out.push(b[i]);
                    i += 1;
                    continue;
                }
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                let end = b[j + 1..]
                    .windows(close.len())
                    .position(|w| w == close.as_slice())
                    .map_or(b.len(), |p| j + 1 + p + close.len());
                for &c in &b[i..end] {
                    blank(&mut out, c);
                }
                i = end;
            }
            b'"' => {
                out.push(b' ');
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        blank(&mut out, b[i]);
                        i += 1;
                    }
                    if i < b.len() {
                        blank(&mut out, b[i]);
                        i += 1;
                    }
                }
                out.push(b' ');
                i += 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\''), else a lifetime ('a).
                if b.get(i + 1) == Some(&b'\\') {
                    let end = b[i + 2..]
                        .iter()
                        .position(|&c| c == b'\'')
                        .map_or(b.len(), |p| i + 3 + p);
                    out.extend(std::iter::repeat_n(b' ', end - i));
                    i = end;
                } else if b.get(i + 2) == Some(&b'\'') {
                    out.extend_from_slice(b"   ");
                    i += 3;
                } else {
                    out.push(b'\'');
                    i += 1;
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `(name, first line, length in lines)` of every function with a body.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(at) = line.find("fn ") else { continue };
        let head = line[..at].trim();
        let words_ok = head.split_whitespace().all(|w| {
            matches!(
                w,
                "pub" | "async" | "const" | "unsafe" | "extern" | "default"
            ) || w.starts_with("pub(")
                || w == "\"C\""
        });
        if !words_ok {
            continue;
        }
        let name: String = line[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
        let (mut depth, mut started) = (0i32, false);
        for (j, l) in lines.iter().enumerate().skip(i) {
            if !started && l.trim_end().ends_with(';') {
                break; // a declaration without a body
            }
            for c in l.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        started = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if started && depth <= 0 {
                found.push((name.clone(), i + 1, j - i + 1));
                break;
            }
        }
    }
    found
}

#[test]
fn no_file_or_function_is_too_long() {
    let mut problems = Vec::new();
    for (path, text) in sources() {
        let code = code_part(&text);
        let n = code.lines().count();
        if n > MAX_FILE_LINES {
            problems.push(format!(
                "{path}: {n} lines before its tests (limit {MAX_FILE_LINES})"
            ));
        }
        for (name, line, len) in functions(&strip(code)) {
            if len > MAX_FN_LINES {
                problems.push(format!(
                    "{path}:{line}: fn {name} is {len} lines (limit {MAX_FN_LINES})"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "split these:\n{}", problems.join("\n"));
}

#[test]
fn the_length_checker_sees_through_literals() {
    let code = "fn a() {\n    let s = \"}}}\";\n    let c = '{';\n    let r = r#\"{\"#;\n    // }\n    x\n}\nfn b<'a>(x: &'a str) -> &'a str {\n    x\n}\n";
    let fns = functions(&strip(code));
    assert_eq!(fns, vec![("a".to_string(), 1, 7), ("b".to_string(), 8, 3)]);
}

/// Which modules may not be imported from where (ARCHITECTURE.md, "Who may
/// import whom"). Each rule: files under `dir` must not name `forbidden`.
const LAYERS: &[(&str, &[&str], &str)] = &[
    (
        "src/db/",
        &[
            "crate::gateway",
            "crate::admin",
            "crate::cli",
            "crate::doctor",
            "hyper::",
            "reqwest::",
        ],
        "the store knows nothing of HTTP or its callers",
    ),
    (
        "src/translate/",
        &[
            "crate::gateway",
            "crate::admin",
            "crate::cli",
            "crate::db",
            "crate::doctor",
            "hyper::",
            "reqwest::",
        ],
        "translation is pure: bytes and JSON in, bytes and JSON out",
    ),
    (
        "src/catalog.rs",
        &[
            "crate::gateway",
            "crate::admin",
            "crate::cli",
            "crate::db",
            "crate::doctor",
        ],
        "the catalog's types are a leaf",
    ),
    (
        "src/config/",
        &[
            "crate::gateway",
            "crate::admin",
            "crate::db",
            "crate::doctor",
        ],
        "settings are a leaf (the CLI reads them, not the other way round)",
    ),
    (
        "src/gateway/providers/",
        &[
            "crate::gateway::body",
            "crate::gateway::breaker",
            "crate::gateway::error",
            "crate::gateway::metrics",
            "crate::gateway::proxy",
            "crate::gateway::rate",
            "crate::gateway::recorder",
            "crate::gateway::request_log",
            "crate::gateway::retry",
            "crate::gateway::router",
            "crate::gateway::snapshot",
            "crate::gateway::stream",
            "crate::gateway::Shared",
            "super::super",
            "crate::admin",
            "crate::db",
        ],
        "the adapters are a leaf: upstream wire formats and the HTTP client, never the server",
    ),
    (
        "src/catalog_file/",
        &[
            "crate::gateway",
            "crate::admin",
            "crate::cli",
            "crate::doctor",
            "hyper::",
            "reqwest::",
        ],
        "the catalog file sits below its callers (the CLI and the gateway)",
    ),
    (
        "src/gateway/",
        &["crate::cli", "crate::doctor"],
        "the server does not reach up into the CLI",
    ),
    (
        "src/admin/",
        &["crate::cli", "crate::doctor"],
        "the admin API does not reach up into the CLI",
    ),
];

#[test]
fn modules_import_only_downwards() {
    let mut problems = Vec::new();
    for (path, text) in sources() {
        let code = strip(code_part(&text));
        for (dir, forbidden, why) in LAYERS {
            if !path.starts_with(dir) {
                continue;
            }
            for f in *forbidden {
                if let Some(line) = code.lines().position(|l| l.contains(f)) {
                    problems.push(format!("{path}:{}: names `{f}` ({why})", line + 1));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

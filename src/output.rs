//! Output: stdout carries data only (tables or `--json`), stderr carries
//! status messages, progress and errors. Colour only on a terminal and never
//! when `NO_COLOR` is set.
use std::io::{IsTerminal, Write};

use comfy_table::{presets, ContentArrangement, Table};
use serde::Serialize;

#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
    /// ANSI colour on stderr/stdout (a TTY and no `NO_COLOR`).
    pub color: bool,
    /// stdout is a terminal (tables get box drawing; pipes get plain columns).
    pub tty: bool,
}

impl Printer {
    pub fn new(json: bool, quiet: bool, verbose: bool) -> Self {
        let tty = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Printer {
            json,
            quiet,
            verbose,
            color: tty && !no_color,
            tty,
        }
    }

    /// Writes a line of data to stdout. A closed pipe (`| head`) is not an error.
    pub fn data(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
    }

    /// Pretty JSON to stdout.
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(s) => self.data(&s),
            Err(e) => self.warn(&format!("cannot encode JSON output: {e}")),
        }
    }

    /// A status line on stderr (suppressed by `--quiet`).
    pub fn status(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// Extra detail on stderr with `--verbose`.
    pub fn detail(&self, text: &str) {
        if self.verbose && !self.quiet {
            eprintln!("{text}");
        }
    }

    /// A warning on stderr (shown even with `--quiet`).
    pub fn warn(&self, text: &str) {
        eprintln!("{}: {text}", self.paint("warning", "33"));
    }

    /// Wraps `text` in an ANSI colour when colour is on.
    pub fn paint(&self, text: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// A table with the given header, drawn for a terminal or as plain
    /// columns for pipes.
    pub fn table(&self, header: &[&str], rows: Vec<Vec<String>>) -> String {
        let mut t = Table::new();
        if self.tty {
            t.load_preset(presets::UTF8_FULL_CONDENSED);
            t.set_content_arrangement(ContentArrangement::Dynamic);
        } else {
            t.load_preset(presets::NOTHING);
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
        t.set_header(header.iter().copied());
        for r in rows {
            t.add_row(r);
        }
        // comfy-table pads the last column; trim for clean diffs and pipes.
        t.to_string()
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn print_table(&self, header: &[&str], rows: Vec<Vec<String>>) {
        let t = self.table(header, rows);
        self.data(&t);
    }
}

//! `llmo db copy SRC DST`: a whole installation copied between databases
//! of either engine (see `crate::db::copy`), with a progress bar on a
//! terminal and the per-table row counts at the end.
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Subcommand;

use super::Ctx;
use crate::db::copy::CopyReport;
use crate::db::DbLocation;
use crate::error::user;

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Copy a whole installation (catalog, keys, health, stats, request logs, stored
    /// responses) into an empty database, between SQLite and PostgreSQL either way
    ///
    /// SRC and DST are SQLite file paths or postgres:// URLs. Both must be at this llmo's
    /// schema version; DST must be empty (a DST with no schema yet is created and migrated).
    /// SRC is read in one consistent snapshot (a server may keep running on it); DST is
    /// written in one transaction, so a failed copy leaves it empty. Ends with each
    /// table's row count on both sides.
    Copy {
        /// The database to copy from
        #[arg(value_name = "SRC")]
        src: String,
        /// The empty database to copy into
        #[arg(value_name = "DST")]
        dst: String,
    },
}

pub fn run(cmd: Cmd, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Copy { src, dst } => copy(&src, &dst, ctx),
    }
}

fn location(value: &str, what: &str) -> anyhow::Result<DbLocation> {
    DbLocation::parse(value).map_err(|e| {
        user(format!("{what}: {e}"))
            .hint("give an SQLite file path or a postgres://user:password@host/db URL")
            .into()
    })
}

fn copy(src: &str, dst: &str, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let src = location(src, "SRC")?;
    let dst = location(dst, "DST")?;
    let p = &ctx.printer;
    let bar = (!p.json && !p.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg:>16} [{bar:30}] {pos}/{len} rows ({per_sec}, {eta})",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b
    });
    p.status(&format!("copying {src} to {dst}"));
    let mut current = "";
    let report = crate::db::copy::copy(&src, &dst, &mut |table, done, total| {
        if let Some(b) = &bar {
            if table != current {
                current = table;
                b.reset();
                b.set_length(total);
                b.set_message(table);
            }
            b.set_position(done);
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let report = report?;
    if report.destination_created {
        p.status(&format!(
            "created {dst} and migrated it to schema version {}",
            report.schema_version
        ));
    }
    print_report(ctx, &report);
    let bad = report.mismatches();
    if !bad.is_empty() {
        let names: Vec<_> = bad.iter().map(|t| t.table).collect();
        return Err(user(format!(
            "row counts differ after the copy in {}",
            names.join(", ")
        ))
        .hint("was something else writing to DST? copy again into a new, empty database")
        .into());
    }
    p.status(&format!(
        "copied {} rows; every table's count matches",
        report.total_rows()
    ));
    Ok(ExitCode::SUCCESS)
}

fn print_report(ctx: &Ctx, report: &CopyReport) {
    let p = &ctx.printer;
    if ctx.global.json {
        p.json(report);
        return;
    }
    let rows = report
        .tables
        .iter()
        .map(|t| {
            let ok = if t.source == t.destination {
                p.paint("ok", "32")
            } else {
                p.paint("DIFFERS", "31")
            };
            vec![
                t.table.to_string(),
                t.source.to_string(),
                t.destination.to_string(),
                ok,
            ]
        })
        .collect();
    p.print_table(&["TABLE", "SOURCE", "DESTINATION", "CHECK"], rows);
}

//! `llmo migrate status|up`: the schema migrations compiled into this binary
//! against the database's history.
use std::process::ExitCode;

use clap::Subcommand;

use super::Ctx;
use crate::db::{MigrationState, MigrationStatus, Store};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Show every migration known to the binary or the database and its state
    /// (exit 1 when the database does not match this binary)
    Status,
    /// Apply pending migrations, each in its own transaction, after backing up the database
    Up {
        /// Show what would be applied, change nothing
        #[arg(long)]
        dry_run: bool,
        /// Skip the backup copy (`VACUUM INTO <db>.backup-v<N>-<time>`) of a non-empty database
        /// (PostgreSQL: no copy is taken; the `pg_dump` command to take one is printed)
        #[arg(long)]
        no_backup: bool,
    },
}

pub fn run(cmd: Cmd, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let path = settings.db.value;
    let p = &ctx.printer;
    match cmd {
        Cmd::Status => {
            let status = match Store::open_existing(&path)? {
                Some(store) => store.migration_status()?,
                None => {
                    p.status(&format!(
                        "database {} does not exist yet; every migration is pending",
                        path
                    ));
                    empty_status()
                }
            };
            print_status(ctx, &status);
            if status.problems.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                for problem in &status.problems {
                    eprintln!("{}: {problem}", p.paint("error", "31"));
                }
                Ok(ExitCode::from(1))
            }
        }
        Cmd::Up { dry_run, no_backup } => {
            if dry_run {
                let status = match Store::open_existing(&path)? {
                    Some(store) => store.migration_status()?,
                    None => empty_status(),
                };
                if !status.problems.is_empty() {
                    for problem in &status.problems {
                        eprintln!("{}: {problem}", p.paint("error", "31"));
                    }
                    return Ok(ExitCode::from(1));
                }
                let pending: Vec<_> = status.pending().collect();
                if ctx.global.json {
                    p.json(&serde_json::json!({
                        "dry_run": true,
                        "would_apply": pending,
                    }));
                } else if pending.is_empty() {
                    p.status("nothing to apply: the schema is current");
                } else {
                    for m in &pending {
                        p.data(&format!("would apply V{} {}", m.version, m.name));
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            let report = match Store::open_existing(&path)? {
                Some(mut store) => store.migrate_up(!no_backup)?,
                // Creates the file (0600) and its directory (0700), then migrates.
                None => Store::open(&path)?.1,
            };
            print_applied(ctx, &report);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn empty_status() -> MigrationStatus {
    let migrations: Vec<_> = crate::db::migrate::known()
        .into_iter()
        .map(|(version, name, _)| crate::db::MigrationRow {
            version,
            name,
            state: MigrationState::Pending,
            applied_at: None,
        })
        .collect();
    MigrationStatus {
        binary_version: migrations.last().map_or(0, |m| m.version),
        db_version: 0,
        migrations,
        problems: Vec::new(),
    }
}

fn print_applied(ctx: &Ctx, report: &crate::db::OpenReport) {
    let p = &ctx.printer;
    if ctx.global.json {
        // `applied` as objects, like `would_apply` of `--dry-run`.
        let applied: Vec<_> = report
            .applied
            .iter()
            .map(|(version, name)| serde_json::json!({ "version": version, "name": name }))
            .collect();
        let mut v = serde_json::json!({
            "created": report.created,
            "backup": report.backup,
            "version": report.version,
            "applied": applied,
        });
        // PostgreSQL's `pg_dump` advice, only where there is one.
        if let (Some(note), Some(o)) = (&report.backup_note, v.as_object_mut()) {
            o.insert("backup_note".into(), note.as_str().into());
        }
        p.json(&v);
        return;
    }
    if report.created {
        p.status("created the database");
    }
    if let Some(b) = &report.backup {
        p.status(&format!("backed up the database to {}", b.display()));
    }
    if let Some(note) = &report.backup_note {
        p.status(note);
    }
    if report.applied.is_empty() {
        p.status(&format!(
            "nothing to apply: the schema is current (version {})",
            report.version
        ));
    }
    for (v, name) in &report.applied {
        p.data(&format!("applied V{v} {name}"));
    }
}

fn print_status(ctx: &Ctx, status: &MigrationStatus) {
    let p = &ctx.printer;
    if ctx.global.json {
        p.json(status);
        return;
    }
    let rows = status
        .migrations
        .iter()
        .map(|m| {
            let state = match m.state {
                MigrationState::Applied => p.paint(m.state.as_str(), "32"),
                MigrationState::Pending => p.paint(m.state.as_str(), "33"),
                _ => p.paint(m.state.as_str(), "31"),
            };
            vec![
                m.version.to_string(),
                m.name.clone(),
                state,
                m.applied_at.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    p.print_table(&["VERSION", "NAME", "STATE", "APPLIED AT"], rows);
}

//! `llmo config export|apply`: the catalog as code (one TOML file; see
//! `catalog_file`). Not to be confused with the global `--config`, the
//! settings file.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::Ctx;
use crate::catalog_file::{self, ApplyError};
use crate::error::user;

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Print the whole catalog (providers, models, client-key limits) as TOML;
    /// secrets are never exported
    Export {
        /// Write to this file instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Make the database match a catalog file, in one transaction; prints the plan
    Apply {
        /// The catalog file (TOML, as `llmo config export` writes it)
        file: PathBuf,
        /// Print the plan and change nothing
        #[arg(long)]
        dry_run: bool,
        /// Also remove the providers, models and mappings the file does not
        /// name (client keys are never revoked)
        #[arg(long)]
        prune: bool,
    },
}

/// A file or store error as a one-line CLI error with its hint.
fn to_cli(e: ApplyError) -> anyhow::Error {
    match e {
        ApplyError::Store(s) => s.into(),
        other => {
            let hint = other.hint();
            let mut u = user(other.to_string());
            if let Some(h) = hint {
                u = u.hint(h);
            }
            u.into()
        }
    }
}

pub fn run(cmd: Cmd, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let p = &ctx.printer;
    match cmd {
        Cmd::Export { out } => {
            let mut store = ctx.open_store()?;
            let text = catalog_file::render(&store.catalog_state()?);
            match out {
                None => {
                    // `data` adds the final newline the text already has.
                    p.data(text.strip_suffix('\n').unwrap_or(&text));
                }
                Some(path) => {
                    std::fs::write(&path, &text).map_err(|e| {
                        user(format!("cannot write {}: {e}", path.display()))
                            .hint("check the directory exists and is writable")
                    })?;
                    p.status(&format!("wrote the catalog to {}", path.display()));
                }
            }
        }
        Cmd::Apply {
            file,
            dry_run,
            prune,
        } => {
            // Read and parse before opening (or creating) the database.
            let text = catalog_file::read(&file).map_err(to_cli)?;
            let name = file.display().to_string();
            catalog_file::parse(&name, &text).map_err(|e| to_cli(e.into()))?;
            let mut store = ctx.open_store()?;
            let done = catalog_file::apply_text(&mut store, &name, &text, prune, dry_run)
                .map_err(to_cli)?;
            if ctx.global.json {
                p.json(&done.plan.to_json(done.written, done.version));
                return Ok(ExitCode::SUCCESS);
            }
            for l in &done.plan.lines {
                p.data(&l.text);
            }
            p.data(&done.plan.summary());
            if done.written {
                p.status(&format!(
                    "applied {name} (configuration version {})",
                    done.version
                ));
            } else if dry_run && !done.plan.is_empty() {
                p.status("dry run: nothing was changed");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `llmo generate [--check] [DIR]`: writes `completions/` and `man/` from the
//! clap definitions, so the committed files never drift from the binary
//! (a test runs the same generation and compares). A maintainers' command:
//! `main.rs` dispatches it before parsing the CLI, so it is not part of the
//! command tree and never shows in completions, man pages or `--help`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, Ctx};
use crate::error::user;

#[derive(Debug, clap::Parser)]
#[command(
    name = "llmo generate",
    bin_name = "llmo generate",
    about = "Write completions/ and man/ from the command definitions (for maintainers)"
)]
pub struct Args {
    /// Repository root to write into
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Compare instead of writing; exit 1 if any file differs
    #[arg(long)]
    pub check: bool,
}

/// Every generated file, by path relative to the repository root.
pub fn files() -> anyhow::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for (shell, name) in [
        (Shell::Bash, "llmo.bash"),
        (Shell::Zsh, "_llmo"),
        (Shell::Fish, "llmo.fish"),
        (Shell::PowerShell, "_llmo.ps1"),
        (Shell::Elvish, "llmo.elv"),
    ] {
        out.insert(
            Path::new("completions").join(name),
            super::completions::script(shell),
        );
    }
    // Built, so the global options (`--db`, `--json`, ...) and the version
    // reach every subcommand's page, as they do its `--help`; without the
    // `help` subcommand, which has no page of its own.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    man_pages(&cmd, "llmo", &mut out)?;
    Ok(out)
}

/// `llmo.1`, then one page per subcommand (`llmo-provider-add.1`, ...).
fn man_pages(
    cmd: &clap::Command,
    name: &str,
    out: &mut BTreeMap<PathBuf, Vec<u8>>,
) -> anyhow::Result<()> {
    let cmd = cmd
        .clone()
        .name(name.to_string())
        .bin_name(name.replace('-', " "));
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
    out.insert(Path::new("man").join(format!("{name}.1")), buf);
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        man_pages(sub, &format!("{name}-{}", sub.get_name()), out)?;
    }
    Ok(())
}

/// `llmo generate ARGS...` (`argv` starts with `generate`).
pub fn main(argv: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    use clap::Parser;
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let global = super::GlobalArgs::default();
    let ctx = Ctx::new(global);
    match run(args, &ctx) {
        Ok(code) => code,
        Err(err) => super::report_error(&ctx.printer, &err),
    }
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let files = files()?;
    let mut stale = Vec::new();
    for (rel, content) in &files {
        let path = args.dir.join(rel);
        let current = std::fs::read(&path).ok();
        if current.as_deref() == Some(content.as_slice()) {
            continue;
        }
        if args.check {
            stale.push(rel.display().to_string());
        } else {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, content)?;
            ctx.printer.status(&format!("wrote {}", rel.display()));
        }
    }
    if !stale.is_empty() {
        return Err(user(format!(
            "generated files are out of date: {}",
            stale.join(", ")
        ))
        .hint("run `cargo run -- generate` and commit the result")
        .into());
    }
    Ok(ExitCode::SUCCESS)
}

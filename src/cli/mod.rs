//! The command line: the [`Cli`] definition and dispatch. One file per
//! command; each has an `Args` struct and a `run(args, &Ctx)`.
#![allow(
    clippy::disallowed_methods,
    reason = "the CLI runs one command and exits: blocking file I/O is its job"
)]
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Overrides, Settings};
use crate::db::Store;
use crate::error::classify;
use crate::output::Printer;

pub mod admin_key;
pub mod completions;
pub mod config;
pub mod db;
pub mod doctor;
pub mod generate;
pub mod health;
pub mod key;
pub mod list;
pub mod migrate;
pub mod model;
pub mod provider;
pub mod serve;

/// llmo: a self-hosted, OpenAI-compatible LLM gateway.
///
/// Point OpenAI SDKs at `llmo serve`; it routes each request to OpenAI,
/// Anthropic, Gemini or any OpenAI-compatible server by priority and weight,
/// with retries, failover, timeouts, rate limits and request logs, all in one
/// embedded SQLite file.
#[derive(Debug, Parser)]
#[command(name = "llmo", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes. Listed under their own heading so a
/// subcommand's `--help` does not interleave them with its own options.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db)
    /// [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]
    #[arg(long, global = true, value_name = "PATH|URL")]
    pub db: Option<PathBuf>,
    /// TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir,
    /// e.g. ~/.config/llmo/llmo.toml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON instead of tables
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only data and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail (and debug logs)
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Log line format on stderr: `text`, or `json` (one object per line)
    /// [env: LLMO_LOG_FORMAT] [default: text]
    #[arg(long, global = true, value_name = "FORMAT", value_enum)]
    pub log_format: Option<crate::logging::LogFormat>,
}

/// `--admin-key-file`: only for the commands that use the admin key
/// (`serve`, and `doctor`, which checks it).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AdminKeyArg {
    /// File holding the admin API key (enables /admin and /admin-ui) [env: LLMO_ADMIN_KEY
    /// holds the key itself]
    #[arg(long, value_name = "PATH")]
    pub admin_key_file: Option<PathBuf>,
}

/// `--redis-url`: for `serve` (limits shared across replicas) and `doctor`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RedisUrlArg {
    /// Redis holding client-key and provider rate limits shared across
    /// replicas, e.g. `redis://:PASSWORD@cache:6379` or `rediss://` (TLS);
    /// without it each replica counts its own traffic [env: LLMO_REDIS_URL]
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the OpenAI-compatible gateway (until SIGTERM/SIGINT)
    Serve(serve::Args),
    /// Manage upstream providers (OpenAI, Anthropic, Gemini, OpenAI-compatible)
    #[command(subcommand)]
    Provider(provider::Cmd),
    /// Manage the public models clients ask for, and their provider mappings
    #[command(subcommand)]
    Model(model::Cmd),
    /// Manage the API keys that clients of the gateway present
    #[command(subcommand)]
    Key(key::Cmd),
    /// Export the catalog as a TOML file, or apply one (configuration as code)
    #[command(subcommand)]
    Config(config::Cmd),
    /// Show or apply database schema migrations
    #[command(subcommand)]
    Migrate(migrate::Cmd),
    /// Copy a whole installation between databases (SQLite and PostgreSQL, either way)
    #[command(subcommand)]
    Db(db::Cmd),
    /// Check configuration, database, migrations and providers, and say how to fix problems
    Doctor(doctor::Args),
    /// Create the admin key that protects the admin API and web UI
    #[command(subcommand)]
    AdminKey(admin_key::Cmd),
    /// Ask a running server whether it is ready, and show each provider's state
    Health(health::Args),
    /// Print a shell completion script
    Completions(completions::Args),
}

/// What every command gets: global options, the printer, and lazy access to
/// settings and the store.
pub struct Ctx {
    pub global: GlobalArgs,
    pub printer: Printer,
}

impl Ctx {
    pub fn new(global: GlobalArgs) -> Self {
        let printer = Printer::new(global.json, global.quiet, global.verbose);
        Ctx { global, printer }
    }

    /// Command-line overrides from the global options.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            db: self.global.db.clone(),
            config: self.global.config.clone(),
            ..Default::default()
        }
    }

    pub fn settings(&self) -> anyhow::Result<Settings> {
        Ok(Settings::resolve(&self.overrides())?)
    }

    /// Opens the store for normal work, creating and migrating it when needed
    /// and saying so on stderr.
    pub fn open_store(&self) -> anyhow::Result<Store> {
        let settings = self.settings()?;
        let location = settings.db.value;
        let (store, report) = Store::open(&location)?;
        if report.created {
            self.printer.status(&format!("created database {location}"));
        }
        if let Some(b) = &report.backup {
            self.printer
                .status(&format!("backed up database to {}", b.display()));
        }
        for (v, name) in &report.applied {
            self.printer
                .detail(&format!("applied migration V{v} {name}"));
        }
        if !report.applied.is_empty() {
            self.printer.status(&format!(
                "applied {} migration(s); schema is at version {}",
                report.applied.len(),
                report.version
            ));
        }
        Ok(store)
    }
}

/// Runs a parsed command line and maps the outcome to an exit code:
/// 0 ok, 1 the user's input or the system's state is wrong, 2 unexpected.
pub fn main(cli: Cli) -> ExitCode {
    let ctx = Ctx::new(cli.global.clone());
    if let Err(e) = init_tracing(&cli.global) {
        return report_error(&ctx.printer, &e.into());
    }
    match run(cli.command, &ctx) {
        Ok(code) => code,
        Err(err) => report_error(&ctx.printer, &err),
    }
}

/// Prints `error: ...` and `hint: ...` on stderr and picks the exit code.
pub fn report_error(printer: &Printer, err: &anyhow::Error) -> ExitCode {
    // A closed stdout (`llmo provider list | head -0`) is not a failure.
    if err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    }) {
        return ExitCode::SUCCESS;
    }
    let class = classify(err);
    if crate::logging::is_json() {
        eprintln!(
            "{}",
            crate::logging::error_line(&format!("{err:#}"), class.hint.as_deref())
        );
    } else {
        eprintln!("{}: {err:#}", printer.paint("error", "31"));
        if let Some(h) = &class.hint {
            eprintln!("{}: {h}", printer.paint("hint", "36"));
        }
    }
    if class.is_user {
        ExitCode::from(1)
    } else {
        ExitCode::from(2)
    }
}

pub fn run(command: Command, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve::run(args, ctx),
        Command::Provider(cmd) => provider::run(cmd, ctx),
        Command::Model(cmd) => model::run(cmd, ctx),
        Command::Key(cmd) => key::run(cmd, ctx),
        Command::Config(cmd) => config::run(cmd, ctx),
        Command::Migrate(cmd) => migrate::run(cmd, ctx),
        Command::Db(cmd) => db::run(cmd, ctx),
        Command::Doctor(args) => doctor::run(args, ctx),
        Command::AdminKey(cmd) => admin_key::run(cmd, ctx),
        Command::Health(args) => health::run(args, ctx),
        Command::Completions(args) => completions::run(args, ctx),
    }
}

/// Installs the log output: `LLMO_LOG`'s filter (or one from -q/-v) and
/// the format (`--log-format`, `LLMO_LOG_FORMAT`; see [`crate::logging`]).
fn init_tracing(global: &GlobalArgs) -> Result<(), crate::error::UserError> {
    use tracing_subscriber::EnvFilter;
    let env_format = std::env::var(crate::logging::FORMAT_ENV).ok();
    let format = crate::logging::resolve(global.log_format, env_format.as_deref())?;
    let default = if global.verbose {
        "llmo=debug,info"
    } else if global.quiet {
        "warn"
    } else {
        "info"
    };
    let filter = std::env::var("LLMO_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = !no_color && std::io::IsTerminal::is_terminal(&std::io::stderr());
    crate::logging::init(format, filter, ansi);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn api_key_flags_conflict() {
        let r = Cli::try_parse_from([
            "llmo",
            "provider",
            "add",
            "x",
            "--kind",
            "openai",
            "--api-key",
            "a",
            "--api-key-env",
            "B",
        ]);
        assert!(r.is_err());
    }
}

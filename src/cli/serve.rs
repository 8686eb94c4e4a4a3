//! `llmo serve`: run the OpenAI-compatible gateway until SIGTERM/SIGINT.
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use super::Ctx;
use crate::config::parse_size;
use crate::gateway::{serve_with, Options};

/// Flags are `None` when not given, so env and file values still apply.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on [env: LLMO_LISTEN] [default: 127.0.0.1:8000]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Serve requests that carry no API key [env: LLMO_ALLOW_ANONYMOUS]
    #[arg(long)]
    pub allow_anonymous: bool,
    /// Largest accepted request body, e.g. `10MiB` [env: LLMO_MAX_BODY] [default: 10MiB]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_body: Option<u64>,
    /// Days of request logs to keep [env: LLMO_LOG_RETENTION_DAYS] [default: 30]
    #[arg(long, value_name = "DAYS", alias = "log-retention-days")]
    pub log_retention: Option<u32>,
    /// How long shutdown waits for in-flight requests and streams, e.g. `30s`
    /// [env: LLMO_SHUTDOWN_TIMEOUT] [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = crate::time::parse_duration)]
    pub shutdown_timeout: Option<Duration>,
    /// Largest non-stream upstream answer llmo reads, e.g. `64MiB`; a larger
    /// one is a 502 [env: LLMO_UPSTREAM_MAX_BODY] [default: 64MiB]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub upstream_max_body: Option<u64>,
    /// Exit 1 when the database cannot be opened or migrated, instead of
    /// serving not-ready and retrying in the background
    #[arg(long)]
    pub exit_on_error: bool,
    /// Apply this catalog file (as `llmo config apply` does) at start and
    /// whenever its content changes [env: LLMO_APPLY]
    #[arg(long, value_name = "FILE")]
    pub apply: Option<std::path::PathBuf>,
    /// With `--apply`: also remove the providers, models and mappings the
    /// file does not name [env: LLMO_APPLY_PRUNE]
    #[arg(long)]
    pub apply_prune: bool,
    #[command(flatten)]
    pub admin: super::AdminKeyArg,
    #[command(flatten)]
    pub redis: super::RedisUrlArg,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let mut o = ctx.overrides();
    o.listen = args.listen;
    o.allow_anonymous = args.allow_anonymous.then_some(true);
    o.max_body = args.max_body;
    o.log_retention_days = args.log_retention;
    o.shutdown_timeout = args.shutdown_timeout;
    o.admin_key_file = args.admin.admin_key_file;
    o.upstream_max_body = args.upstream_max_body;
    o.apply = args.apply;
    o.apply_prune = args.apply_prune.then_some(true);
    o.redis_url = args.redis.redis_url;
    let settings = crate::config::Settings::resolve(&o)?;
    let addr = settings.listen.value.clone();
    let mut opts = Options::new(settings);
    opts.exit_on_error = args.exit_on_error;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
            crate::error::user(format!("cannot listen on {addr}: {e}")).hint(
                "pick another address with `--listen` or `LLMO_LISTEN`, or stop whatever uses it",
            )
        })?;
        serve_with(opts, listener, shutdown_signal()).await
    })?;
    // Stray connections past the shutdown timeout must not hold the exit.
    rt.shutdown_background();
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received SIGINT"),
        () = term => tracing::info!("received SIGTERM"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from([
            "llmo",
            "serve",
            "--listen",
            "0.0.0.0:9000",
            "--max-body",
            "1MiB",
            "--log-retention-days",
            "7",
            "--shutdown-timeout",
            "5s",
            "--allow-anonymous",
            "--exit-on-error",
        ])
        .unwrap();
        let Command::Serve(a) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(a.listen.as_deref(), Some("0.0.0.0:9000"));
        assert_eq!(a.max_body, Some(1024 * 1024));
        assert_eq!(a.log_retention, Some(7));
        assert_eq!(a.shutdown_timeout, Some(std::time::Duration::from_secs(5)));
        assert!(a.allow_anonymous && a.exit_on_error);
        assert!(Cli::try_parse_from(["llmo", "serve", "--max-body", "lots"]).is_err());
    }
}

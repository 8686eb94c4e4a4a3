//! `llmo serve`: run the OpenAI-compatible gateway until SIGTERM/SIGINT.
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use super::Ctx;
use crate::config::parse_size;
use crate::gateway::{serve_with, Options};

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
    #[arg(long, value_name = "DAYS")]
    pub log_retention: Option<u32>,
    /// How long shutdown waits for in-flight requests and streams, e.g. `30s`
    /// [env: LLMO_SHUTDOWN_TIMEOUT] [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = crate::time::parse_duration)]
    pub shutdown_timeout: Option<Duration>,
    /// Exit 1 when the database cannot be opened or migrated, instead of
    /// serving not-ready and retrying in the background
    #[arg(long)]
    pub exit_on_error: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let mut o = ctx.overrides();
    o.listen = args.listen;
    o.allow_anonymous = args.allow_anonymous.then_some(true);
    o.max_body = args.max_body;
    o.log_retention_days = args.log_retention;
    o.shutdown_timeout = args.shutdown_timeout;
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

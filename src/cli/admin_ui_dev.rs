//! `llmo admin-ui-dev --listen ADDR` (hidden): serves only `/admin` and
//! `/admin-ui` with the configured admin key, for UI development and the
//! browser tests, until `llmo serve` mounts the admin module (then this
//! command goes away).
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use super::Ctx;
use crate::admin::{Admin, NoLiveView};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (printed on stdout)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: String,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    // Create and migrate the database now, as `serve` does at start.
    drop(ctx.open_store()?);
    let admin = Arc::new(Admin::new(
        settings.db.value.clone(),
        settings.admin_key.value.clone(),
        Arc::new(NoLiveView),
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        ctx.printer.data(&format!("http://{addr}/admin-ui/"));
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        crate::admin::serve_admin_only(listener, admin, shutdown).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

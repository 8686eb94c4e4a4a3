//! `llmo key ...`: API keys for clients of the gateway. The key is printed
//! once at creation; only its SHA-256 hash and a short prefix are stored.
use std::process::ExitCode;

use clap::Subcommand;

use super::Ctx;

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create a key and print it (once: it cannot be shown again)
    Create {
        /// Unique name, e.g. the app or team that will use it
        name: String,
        /// Requests per minute allowed with this key; 0 = unlimited [default: 0]
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        rpm: Option<i64>,
        /// Public models this key may use [default: all]
        #[arg(long, value_name = "A,B", value_delimiter = ',')]
        models: Vec<String>,
    },
    /// List keys (prefix, limits, last use; never the key)
    List(super::list::ListArgs),
    /// Revoke a key (a running server stops accepting it within 2 s)
    Revoke { name: String },
}

pub fn run(cmd: Cmd, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let p = &ctx.printer;
    match cmd {
        Cmd::Create { name, rpm, models } => {
            let models: Vec<String> = models
                .into_iter()
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect();
            let mut store = ctx.open_store()?;
            let (key, secret) =
                store.create_key(&name, rpm, (!models.is_empty()).then_some(models))?;
            if ctx.global.json {
                let mut v = serde_json::to_value(key.view())?;
                v["key"] = serde_json::Value::String(secret.expose().to_string());
                p.json(&v);
            } else {
                p.status(&format!(
                    "created key `{}`; it is shown once, store it now:",
                    key.name
                ));
                p.data(secret.expose());
            }
        }
        Cmd::List(args) => {
            let store = ctx.open_store()?;
            let keys = match args.is_set() {
                true => args.rows(p, "keys", |q| store.list_keys_page(q))?,
                false => store.list_keys()?,
            };
            let keys: Vec<_> = keys.iter().map(|k| k.view()).collect();
            if ctx.global.json {
                p.json(&keys);
            } else if keys.is_empty() && args.is_set() {
                p.status("no key matches");
            } else if keys.is_empty() {
                p.status("no keys yet; create one with `llmo key create NAME`");
            } else {
                let rows = keys
                    .iter()
                    .map(|k| {
                        vec![
                            k.name.clone(),
                            format!("{}...", k.prefix),
                            if k.rpm_limit == 0 {
                                "unlimited".into()
                            } else {
                                k.rpm_limit.to_string()
                            },
                            k.models.as_ref().map_or("all".into(), |m| m.join(",")),
                            k.created_at.clone(),
                            k.last_used_at.clone().unwrap_or_else(|| "never".into()),
                            k.revoked_at.clone().unwrap_or_else(|| "-".into()),
                        ]
                    })
                    .collect();
                p.print_table(
                    &[
                        "NAME",
                        "PREFIX",
                        "RPM",
                        "MODELS",
                        "CREATED",
                        "LAST USED",
                        "REVOKED",
                    ],
                    rows,
                );
            }
        }
        Cmd::Revoke { name } => {
            let mut store = ctx.open_store()?;
            store.revoke_key(&name)?;
            p.status(&format!("revoked key `{name}`"));
            if ctx.global.json {
                p.json(&serde_json::json!({ "revoked": name }));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

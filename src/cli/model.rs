//! `llmo model ...`: the public model names clients ask for, and which
//! providers (and upstream model names) serve them.
use std::process::ExitCode;

use clap::Subcommand;

use super::Ctx;
use crate::catalog::{MappingInput, ModelView};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Add a model served by one or more providers (or add mappings to an existing one)
    Add(AddArgs),
    /// List models and their providers
    List(super::list::ListArgs),
    /// Show one model and its provider mappings
    Show { name: String },
    /// Remove a model (its mappings go with it; providers stay)
    Remove { name: String },
    /// Remove one provider from a model
    Unmap {
        name: String,
        #[arg(long, value_name = "PROVIDER")]
        provider: String,
    },
    /// Enable a model
    Enable { name: String },
    /// Disable a model (clients get 404 model_not_found)
    Disable { name: String },
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Public model name clients send in `model` (e.g. gpt-4o-mini, llama3:8b)
    pub name: String,
    /// A provider that serves it, optionally with the upstream model name it
    /// knows it by: `P` or `P=UPSTREAM_MODEL` (repeatable)
    #[arg(long = "provider", value_name = "P[=UPSTREAM_MODEL]", required = true)]
    pub providers: Vec<MappingInput>,
    /// Free text shown in listings
    #[arg(long)]
    pub description: Option<String>,
    /// Add it disabled
    #[arg(long)]
    pub disabled: bool,
}

pub fn run(cmd: Cmd, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let p = &ctx.printer;
    match cmd {
        Cmd::Add(args) => {
            let mut store = ctx.open_store()?;
            let existed = store.get_model(&args.name).is_ok();
            let m = store.add_model(
                &args.name,
                args.description.as_deref(),
                args.disabled.then_some(false),
                &args.providers,
                true,
            )?;
            p.status(&format!(
                "{} model `{}` -> {}",
                if existed { "updated" } else { "added" },
                m.name,
                mapping_summary(&m)
            ));
            print_one(ctx, &m);
        }
        Cmd::List(args) => {
            let store = ctx.open_store()?;
            let models = match args.is_set() {
                true => args.rows(p, "models", |q| store.list_models_page(q))?,
                false => store.list_models()?,
            };
            if ctx.global.json {
                p.json(&models);
            } else if models.is_empty() && args.is_set() {
                p.status("no model matches");
            } else if models.is_empty() {
                p.status(
                    "no models yet; add one with `llmo model add NAME --provider P[=UPSTREAM]`",
                );
            } else {
                let rows = models
                    .iter()
                    .map(|m| {
                        vec![
                            m.name.clone(),
                            if m.enabled { "yes" } else { "no" }.into(),
                            mapping_summary(m),
                            m.description.clone(),
                        ]
                    })
                    .collect();
                p.print_table(&["MODEL", "ENABLED", "PROVIDERS", "DESCRIPTION"], rows);
            }
        }
        Cmd::Show { name } => {
            let store = ctx.open_store()?;
            let m = store.get_model(&name)?;
            print_one(ctx, &m);
        }
        Cmd::Remove { name } => {
            let mut store = ctx.open_store()?;
            store.remove_model(&name)?;
            p.status(&format!("removed model `{name}`"));
            if ctx.global.json {
                p.json(&serde_json::json!({ "removed": name }));
            }
        }
        Cmd::Unmap { name, provider } => {
            let mut store = ctx.open_store()?;
            store.remove_mapping(&name, &provider)?;
            p.status(&format!(
                "model `{name}` is no longer served by `{provider}`"
            ));
            let m = store.get_model(&name)?;
            if m.providers.is_empty() {
                p.warn(&format!("model `{name}` now has no provider"));
            }
            if ctx.global.json {
                p.json(&m);
            }
        }
        Cmd::Enable { name } => {
            let mut store = ctx.open_store()?;
            let m = store.set_model_enabled(&name, true)?;
            p.status(&format!("enabled model `{}`", m.name));
            if ctx.global.json {
                p.json(&m);
            }
        }
        Cmd::Disable { name } => {
            let mut store = ctx.open_store()?;
            let m = store.set_model_enabled(&name, false)?;
            p.status(&format!("disabled model `{}`", m.name));
            if ctx.global.json {
                p.json(&m);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn mapping_summary(m: &ModelView) -> String {
    if m.providers.is_empty() {
        return "(no provider)".into();
    }
    m.providers
        .iter()
        .map(|mp| {
            if mp.upstream_model == m.name {
                mp.provider.clone()
            } else {
                format!("{}={}", mp.provider, mp.upstream_model)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_one(ctx: &Ctx, m: &ModelView) {
    if ctx.global.json {
        ctx.printer.json(m);
        return;
    }
    let rows = m
        .providers
        .iter()
        .map(|mp| {
            vec![
                mp.provider.clone(),
                mp.upstream_model.clone(),
                mp.priority.map_or("(provider's)".into(), |v| v.to_string()),
                mp.weight.map_or("(provider's)".into(), |v| v.to_string()),
                if mp.enabled { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    ctx.printer.data(&format!(
        "model: {}{}{}",
        m.name,
        if m.enabled { "" } else { " (disabled)" },
        if m.description.is_empty() {
            String::new()
        } else {
            format!(" — {}", m.description)
        }
    ));
    ctx.printer.print_table(
        &[
            "PROVIDER",
            "UPSTREAM MODEL",
            "PRIORITY",
            "WEIGHT",
            "ENABLED",
        ],
        rows,
    );
}

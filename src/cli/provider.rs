//! `llmo provider ...`: add, list, show, update, remove, enable, disable.
use std::io::Read;
use std::process::ExitCode;

use clap::Subcommand;

use super::Ctx;
use crate::catalog::{KeySource, Provider, ProviderInput, ProviderKind, ProviderView};
use crate::error::user;
use crate::secret::Secret;

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Add a provider
    Add(AddArgs),
    /// List providers (lowest priority number first)
    List,
    /// Show one provider
    Show { name: String },
    /// Change a provider's settings (only the flags given)
    Update(UpdateArgs),
    /// Rename a provider (its mappings and settings stay; logs and stats keep the old name)
    Rename { name: String, new_name: String },
    /// Remove a provider and its model mappings
    Remove {
        name: String,
        /// Remove it even if it is the only provider of some model
        #[arg(long)]
        force: bool,
    },
    /// Enable a provider (it receives traffic again)
    Enable { name: String },
    /// Disable a provider (it keeps its settings but receives no traffic)
    Disable { name: String },
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Unique name (letters, digits, `-`, `_`, `.`)
    pub name: String,
    /// API flavour: openai, anthropic, gemini or openai-compatible (vLLM, Ollama, Groq, ...)
    #[arg(long)]
    pub kind: String,
    #[command(flatten)]
    pub flags: ProviderFlags,
    /// The server needs no key (a local Ollama or vLLM; openai-compatible
    /// only). One of `--api-key`, `--api-key-env` or this is required
    #[arg(long, conflicts_with_all = ["api_key", "api_key_env"])]
    pub no_api_key: bool,
    /// Add it disabled (no traffic until `llmo provider enable`)
    #[arg(long)]
    pub disabled: bool,
}

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    pub name: String,
    /// API flavour: openai, anthropic, gemini or openai-compatible
    #[arg(long)]
    pub kind: Option<String>,
    #[command(flatten)]
    pub flags: ProviderFlags,
    /// Forget the provider's key (stored or variable): for servers that need
    /// none, such as a local Ollama or vLLM
    #[arg(long, conflicts_with_all = ["api_key", "api_key_env"])]
    pub no_api_key: bool,
}

#[derive(Debug, clap::Args)]
pub struct ProviderFlags {
    /// API base URL [default: the vendor's; required for openai-compatible,
    /// e.g. http://localhost:11434/v1]
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// API key, stored in the database; `-` reads it from stdin (keeps it out of shell history)
    #[arg(long, value_name = "KEY", conflicts_with = "api_key_env")]
    pub api_key: Option<String>,
    /// Name of an environment variable that holds the API key, read at use time
    /// (the secret never enters the database)
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Routing tier: lower numbers are tried first (0 before 1 before 2) [default: 0]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub priority: Option<i64>,
    /// Share of traffic within its tier; 0 drains it (no new traffic, stays configured) [default: 1]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub weight: Option<i64>,
    /// Retries on the same provider after a retryable failure, before failing over (0-10) [default: 2]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub max_retries: Option<i64>,
    /// Upstream timeout: bounds a whole non-stream call, and for streams the
    /// first byte and each gap between chunks, e.g. 30s, 1500ms, 2m [default: 60s]
    #[arg(long, value_name = "DURATION", allow_negative_numbers = true)]
    pub timeout: Option<String>,
    /// Requests per minute sent to this provider; 0 = unlimited [default: 0]
    #[arg(long, value_name = "RPM", allow_negative_numbers = true)]
    pub rate_limit: Option<i64>,
    /// Public model names served by this provider (created if new, mapped under the same upstream name)
    #[arg(long, value_name = "A,B,C", value_delimiter = ',')]
    pub models: Vec<String>,
}

impl ProviderFlags {
    fn into_input(self, kind: Option<String>) -> anyhow::Result<ProviderInput> {
        let key = match (self.api_key, self.api_key_env) {
            (Some(k), _) if k == "-" => Some(KeySource::Inline(read_key_from_stdin()?)),
            (Some(k), _) => Some(KeySource::Inline(Secret::new(k))),
            (None, Some(v)) => Some(KeySource::Env(v)),
            (None, None) => None,
        };
        let timeout_ms = match self.timeout {
            None => None,
            Some(t) => {
                let t = t.trim();
                if t.starts_with('-') {
                    return Err(crate::catalog::Invalid::new(
                        "timeout",
                        format!("must be greater than 0 (got `{t}`)"),
                    )
                    .into());
                }
                let d = crate::time::parse_duration(t)
                    .map_err(|e| crate::catalog::Invalid::new("timeout", e))?;
                Some(d.as_millis() as i64)
            }
        };
        Ok(ProviderInput {
            kind,
            base_url: self.base_url,
            key,
            priority: self.priority,
            weight: self.weight,
            max_retries: self.max_retries,
            timeout_ms,
            rate_limit_rpm: self.rate_limit,
            enabled: None,
            models: self
                .models
                .into_iter()
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect(),
            rename: None,
        })
    }
}

fn read_key_from_stdin() -> anyhow::Result<Secret> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    let key = s.trim();
    if key.is_empty() {
        return Err(user("`--api-key -` read an empty key from stdin")
            .hint("pipe the key in, e.g. `printf %s \"$KEY\" | llmo provider add ... --api-key -`")
            .into());
    }
    Ok(Secret::new(key))
}

pub fn run(cmd: Cmd, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let p = &ctx.printer;
    match cmd {
        Cmd::Add(args) => {
            // Validate the kind and the key before touching the database.
            let kind = args.kind.parse::<ProviderKind>()?;
            check_key_choice(&args, kind)?;
            let mut input = args.flags.into_input(Some(args.kind))?;
            if args.disabled {
                input.enabled = Some(false);
            }
            let mut store = ctx.open_store()?;
            let prov = store.add_provider(&args.name, &input)?;
            warn_unset_var(ctx, prov.api_key_env.as_deref());
            p.status(&format!(
                "added provider `{}` ({}, {}){}",
                prov.name,
                prov.kind,
                prov.base_url,
                if prov.enabled { "" } else { ", disabled" }
            ));
            print_one(ctx, &store, &prov)?;
        }
        Cmd::List => {
            let store = ctx.open_store()?;
            let models = store.provider_models()?;
            let views: Vec<ProviderView> = store
                .list_providers()?
                .into_iter()
                .map(|pr| {
                    let m = models.get(&pr.name).cloned().unwrap_or_default();
                    pr.view(m)
                })
                .collect();
            if ctx.global.json {
                p.json(&views);
            } else if views.is_empty() {
                p.status("no providers yet; add one with `llmo provider add NAME --kind KIND`");
            } else {
                let rows = views
                    .iter()
                    .map(|v| {
                        vec![
                            v.name.clone(),
                            v.kind.to_string(),
                            v.base_url.clone(),
                            key_cell(v),
                            v.priority.to_string(),
                            v.weight.to_string(),
                            v.max_retries.to_string(),
                            crate::time::format_ms(v.timeout_ms),
                            rpm_cell(v.rate_limit_rpm),
                            if v.enabled { "yes" } else { "no" }.to_string(),
                            v.models.join(","),
                        ]
                    })
                    .collect();
                p.print_table(
                    &[
                        "NAME", "KIND", "BASE URL", "KEY", "PRIORITY", "WEIGHT", "RETRIES",
                        "TIMEOUT", "RPM", "ENABLED", "MODELS",
                    ],
                    rows,
                );
            }
        }
        Cmd::Show { name } => {
            let store = ctx.open_store()?;
            let prov = store.get_provider(&name)?;
            print_one(ctx, &store, &prov)?;
        }
        Cmd::Update(args) => {
            if let Some(k) = &args.kind {
                k.parse::<ProviderKind>()?;
            }
            let new_var = args.flags.api_key_env.is_some();
            let mut input = args.flags.into_input(args.kind)?;
            if args.no_api_key {
                input.key = Some(KeySource::None);
            }
            let mut store = ctx.open_store()?;
            let prov = store.update_provider(&args.name, &input)?;
            if new_var {
                warn_unset_var(ctx, prov.api_key_env.as_deref());
            }
            p.status(&format!("updated provider `{}`", prov.name));
            print_one(ctx, &store, &prov)?;
        }
        Cmd::Rename { name, new_name } => {
            let mut store = ctx.open_store()?;
            let prov = store.rename_provider(&name, &new_name)?;
            p.status(&format!("renamed provider `{name}` to `{}`", prov.name));
            print_one(ctx, &store, &prov)?;
        }
        Cmd::Remove { name, force } => {
            let mut store = ctx.open_store()?;
            let orphans = store.remove_provider(&name, force)?;
            p.status(&format!("removed provider `{name}`"));
            if !orphans.is_empty() {
                p.warn(&format!(
                    "model(s) {} now have no provider; map them with `llmo model add NAME --provider P`",
                    orphans.join(", ")
                ));
            }
            if ctx.global.json {
                p.json(&serde_json::json!({"removed": name, "models_without_provider": orphans}));
            }
        }
        Cmd::Enable { name } => set_enabled(ctx, &name, true)?,
        Cmd::Disable { name } => set_enabled(ctx, &name, false)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `provider add` must say where the key comes from: `--api-key`,
/// `--api-key-env`, or `--no-api-key` (only for openai-compatible servers;
/// the vendors' APIs always need one).
fn check_key_choice(args: &AddArgs, kind: ProviderKind) -> anyhow::Result<()> {
    let has_key = args.flags.api_key.is_some() || args.flags.api_key_env.is_some();
    if args.no_api_key && kind != ProviderKind::OpenAiCompatible {
        return Err(user(format!("a provider of kind {kind} always needs an API key"))
            .hint("pass `--api-key-env VAR` (the key stays in the server's environment) or `--api-key -` (stored, read from stdin); `--no-api-key` is for openai-compatible servers such as Ollama or vLLM")
            .into());
    }
    if !has_key && !args.no_api_key {
        return Err(user(format!("provider `{}` needs a key option", args.name))
            .hint("pass `--api-key-env VAR` (the key stays in the server's environment), `--api-key -` (stored, read from stdin), or `--no-api-key` for a server that needs none (Ollama, vLLM)")
            .into());
    }
    Ok(())
}

/// The server reads `--api-key-env`'s variable from its own environment;
/// a variable unset here is a hint that it may be unset there too.
fn warn_unset_var(ctx: &Ctx, var: Option<&str>) {
    let Some(var) = var else { return };
    if std::env::var(var).is_ok_and(|v| !v.is_empty()) {
        return;
    }
    ctx.printer.warn(&format!(
        "`{var}` is not set in this shell; the key is read from the environment of `llmo serve`: set it where `llmo serve` runs (then restart it), or the provider is skipped"
    ));
}

fn set_enabled(ctx: &Ctx, name: &str, enabled: bool) -> anyhow::Result<()> {
    let mut store = ctx.open_store()?;
    let prov = store.set_provider_enabled(name, enabled)?;
    ctx.printer.status(&format!(
        "{} provider `{}`",
        if enabled { "enabled" } else { "disabled" },
        prov.name
    ));
    if ctx.global.json {
        print_one(ctx, &store, &prov)?;
    }
    Ok(())
}

fn key_cell(v: &ProviderView) -> String {
    match (&v.api_key, &v.api_key_env) {
        (Some(k), _) => k.clone(),
        (None, Some(e)) => format!("${e}"),
        (None, None) => "-".into(),
    }
}

fn rpm_cell(rpm: i64) -> String {
    if rpm == 0 {
        "unlimited".into()
    } else {
        rpm.to_string()
    }
}

/// Prints one provider: JSON on stdout with `--json`, else a field/value
/// table (also on stdout: it is the data `show` asked for).
fn print_one(ctx: &Ctx, store: &crate::db::Store, prov: &Provider) -> anyhow::Result<()> {
    let models = store
        .provider_models()?
        .remove(&prov.name)
        .unwrap_or_default();
    let v = prov.view(models);
    if ctx.global.json {
        ctx.printer.json(&v);
        return Ok(());
    }
    let rows = vec![
        vec!["name".into(), v.name.clone()],
        vec!["kind".into(), v.kind.to_string()],
        vec!["base_url".into(), v.base_url.clone()],
        vec!["api_key".into(), key_cell(&v)],
        vec!["priority".into(), v.priority.to_string()],
        vec!["weight".into(), v.weight.to_string()],
        vec!["max_retries".into(), v.max_retries.to_string()],
        vec!["timeout".into(), crate::time::format_ms(v.timeout_ms)],
        vec!["rate_limit".into(), rpm_cell(v.rate_limit_rpm)],
        vec!["enabled".into(), v.enabled.to_string()],
        vec!["models".into(), v.models.join(", ")],
        vec!["created_at".into(), v.created_at.clone()],
        vec!["updated_at".into(), v.updated_at.clone()],
    ];
    ctx.printer.print_table(&["FIELD", "VALUE"], rows);
    Ok(())
}

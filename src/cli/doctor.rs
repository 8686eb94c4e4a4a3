//! `llmo doctor`: runs [`crate::doctor`]'s checks and prints them, one line
//! each with the fix under it, or as JSON (`--json`, shape documented on
//! [`crate::doctor::Report`]). Exit 0 when nothing fails (warnings are fine),
//! 1 otherwise.
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use super::Ctx;
use crate::doctor::{self, Group, Report, Status};

/// Used when `--probe` is given without `--probe-timeout`.
const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also call each enabled provider's models list once (never a paid
    /// completion) to check that it is reachable and accepts the key.
    /// Without it nothing leaves this machine
    #[arg(long)]
    pub probe: bool,
    /// How long each probe may take, e.g. 5s or 1500ms [default: 5s]
    #[arg(long, value_name = "DURATION", requires = "probe", value_parser = crate::config::parse_positive_duration)]
    pub probe_timeout: Option<Duration>,
    #[command(flatten)]
    pub admin: super::AdminKeyArg,
    #[command(flatten)]
    pub redis: super::RedisUrlArg,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let mut overrides = ctx.overrides();
    overrides.admin_key_file = args.admin.admin_key_file;
    overrides.redis_url = args.redis.redis_url;
    let opts = doctor::Options {
        overrides,
        probe: args.probe,
        probe_timeout: args.probe_timeout.unwrap_or(DEFAULT_PROBE_TIMEOUT),
    };
    let p = &ctx.printer;
    let spinner = (!p.json && !p.quiet && std::io::stderr().is_terminal()).then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        s.enable_steady_tick(Duration::from_millis(100));
        s
    });
    let report = doctor::run(&opts, &mut |what| {
        if let Some(s) = &spinner {
            s.set_message(format!("checking {what}"));
        }
    });
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    if p.json {
        p.json(&report);
    } else {
        p.data(&render(&report, p.color, p.quiet));
    }
    Ok(if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The human report: a header per group, one line per check
/// (`  ok    database   integrity_check: ok`), the fix on the next line, and
/// a summary. With `quiet`, only the checks that are not ok.
fn render(report: &Report, color: bool, quiet: bool) -> String {
    let paint = |text: &str, code: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let mut out = String::new();
    let mut current: Option<Group> = None;
    for c in &report.checks {
        if quiet && c.status == Status::Ok {
            continue;
        }
        if current != Some(c.group) {
            if current.is_some() {
                out.push('\n');
            }
            out.push_str(&paint(c.group.as_str(), "1"));
            out.push('\n');
            current = Some(c.group);
        }
        let status = format!("{:<6}", c.status.as_str());
        let status = match c.status {
            Status::Ok => paint(&status, "32"),
            Status::Warn => paint(&status, "33"),
            Status::Fail => paint(&status, "31"),
        };
        out.push_str(&format!(
            "  {status}{:<11}{}: {}\n",
            c.group.as_str(),
            c.name,
            c.message
        ));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("        {}: {fix}\n", paint("fix", "36")));
        }
    }
    if current.is_some() {
        out.push('\n');
    }
    let s = report.summary;
    let summary = format!("summary: {} ok, {} warn, {} fail", s.ok, s.warn, s.fail);
    out.push_str(&if s.fail > 0 {
        paint(&summary, "31")
    } else if s.warn > 0 {
        paint(&summary, "33")
    } else {
        paint(&summary, "32")
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use crate::doctor::Check;
    use clap::Parser;

    fn sample() -> Report {
        Report::new(vec![
            Check::ok(Group::Database, "integrity_check", "ok"),
            Check::warn(
                Group::Database,
                "permissions",
                "mode 0644",
                "chmod 600 /x/llmo.db",
            ),
            Check::ok(Group::Config, "db", "/x/llmo.db (flag --db)"),
        ])
    }

    #[test]
    fn human_lines_have_status_group_name_and_fix() {
        let text = render(&sample(), false, false);
        assert_eq!(
            text,
            "config\n\
             \x20 ok    config     db: /x/llmo.db (flag --db)\n\
             \n\
             database\n\
             \x20 ok    database   integrity_check: ok\n\
             \x20 warn  database   permissions: mode 0644\n\
             \x20       fix: chmod 600 /x/llmo.db\n\
             \n\
             summary: 2 ok, 1 warn, 0 fail"
        );
        assert!(!text.contains('\x1b'));
        assert!(render(&sample(), true, false).contains("\x1b[33mwarn  \x1b[0m"));
    }

    #[test]
    fn quiet_shows_only_problems() {
        let text = render(&sample(), false, true);
        assert!(!text.contains("integrity_check"));
        assert!(text.contains("permissions"));
        assert!(text.ends_with("summary: 2 ok, 1 warn, 0 fail"));
    }

    #[test]
    fn probe_timeout_needs_probe_and_a_positive_duration() {
        assert!(Cli::try_parse_from(["llmo", "doctor", "--probe-timeout", "2s"]).is_err());
        assert!(
            Cli::try_parse_from(["llmo", "doctor", "--probe", "--probe-timeout", "0s"]).is_err()
        );
        let cli = Cli::try_parse_from(["llmo", "doctor", "--probe", "--probe-timeout", "1500ms"])
            .unwrap();
        match cli.command {
            crate::cli::Command::Doctor(a) => {
                assert!(a.probe);
                assert_eq!(a.probe_timeout, Some(Duration::from_millis(1500)));
            }
            other => panic!("parsed as {other:?}"),
        }
    }
}

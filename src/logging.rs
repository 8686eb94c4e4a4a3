//! The log output on stderr: human-readable text (the default) or, with
//! `--log-format json` / `LLMO_LOG_FORMAT=json`, one JSON object per line
//! for log collectors:
//!
//! ```text
//! {"timestamp":"2026-12-01T03:20:10.123456Z","level":"INFO","target":"llmo::gateway","message":"listening on http://0.0.0.0:8000"}
//! {"timestamp":"…","level":"DEBUG","target":"llmo::gateway::router","message":"…","span":"request","request_id":"…","method":"POST","path":"/v1/chat/completions","status":400}
//! ```
//!
//! `timestamp` (RFC 3339, UTC, microseconds), `level`, `target` and
//! `message` come first; then, inside a span, its name as `span` and the
//! fields of every enclosing span, flattened (an inner span's field wins
//! over an outer one's); then the event's own fields. A field that would
//! shadow one of the first four is written as `field.NAME`.
//! A command that fails writes its `error:`/`hint:` as one such line too
//! ([`error_line`]).
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::error::UserError;

/// The environment variable that picks the format when the flag does not.
pub const FORMAT_ENV: &str = "LLMO_LOG_FORMAT";

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    // No per-value docs: clap would switch every command's help to the long
    // layout to show them; `--log-format`'s own help says what each does.
    #[default]
    Text,
    Json,
}

/// Set once JSON logging is installed; [`error_line`] users ask.
static JSON: AtomicBool = AtomicBool::new(false);

/// The format: the flag's, else `LLMO_LOG_FORMAT`'s, else text.
pub fn resolve(flag: Option<LogFormat>, env: Option<&str>) -> Result<LogFormat, UserError> {
    if let Some(f) = flag {
        return Ok(f);
    }
    match env.map(str::trim) {
        None | Some("") => Ok(LogFormat::Text),
        Some(v) if v.eq_ignore_ascii_case("text") => Ok(LogFormat::Text),
        Some(v) if v.eq_ignore_ascii_case("json") => Ok(LogFormat::Json),
        Some(v) => Err(UserError::new(format!(
            "{FORMAT_ENV}=`{v}` is not a log format: use `text` or `json`"
        ))
        .hint(format!(
            "set {FORMAT_ENV}=json for one JSON object per line, or unset it for text"
        ))),
    }
}

/// Installs the global subscriber writing to stderr (a second call does
/// nothing, as in tests that run commands in-process).
pub fn init(format: LogFormat, filter: EnvFilter, ansi: bool) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let _ = builder.with_ansi(ansi).try_init();
        }
        LogFormat::Json => {
            let installed = builder
                .with_ansi(false)
                .fmt_fields(JsonFields)
                .event_format(JsonEvent)
                .try_init();
            JSON.store(installed.is_ok(), Ordering::Relaxed);
        }
    }
}

/// Whether log lines are JSON (so a failing command's error should be too).
pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// A command's failure as one JSON log line (level ERROR, target `llmo`).
pub fn error_line(message: &str, hint: Option<&str>) -> String {
    let mut fields = Map::new();
    if let Some(h) = hint {
        fields.insert("hint".into(), h.into());
    }
    line("ERROR", "llmo", message, fields)
}

/// `{"timestamp", "level", "target", "message", ...fields}` as one line.
fn line(level: &str, target: &str, message: &str, fields: Map<String, Value>) -> String {
    let now = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
    let mut out = Map::new();
    out.insert("timestamp".into(), now.into());
    out.insert("level".into(), level.into());
    out.insert("target".into(), target.into());
    out.insert("message".into(), message.into());
    for (k, v) in fields {
        let k = if out.contains_key(&k) {
            format!("field.{k}")
        } else {
            k
        };
        out.insert(k, v);
    }
    // serde_json's map keeps keys sorted; write the fixed four first.
    let mut s = String::with_capacity(256);
    s.push('{');
    for key in ["timestamp", "level", "target", "message"] {
        push_pair(&mut s, key, &out[key]);
    }
    for (k, v) in &out {
        if !matches!(k.as_str(), "timestamp" | "level" | "target" | "message") {
            push_pair(&mut s, k, v);
        }
    }
    s.push('}');
    s
}

fn push_pair(s: &mut String, key: &str, value: &Value) {
    if s.len() > 1 {
        s.push(',');
    }
    s.push_str(&Value::from(key).to_string());
    s.push(':');
    s.push_str(&value.to_string());
}

/// Collects fields into a JSON map; `message` is the formatted text.
struct Collect<'a>(&'a mut Map<String, Value>);

impl Visit for Collect<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value)
            .map_or_else(|| value.to_string().into(), Value::Number);
        self.0.insert(field.name().into(), v);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

/// Span fields, stored by the fmt layer as a JSON object's text.
struct JsonFields;

impl<'w> FormatFields<'w> for JsonFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut map = Map::new();
        fields.record(&mut Collect(&mut map));
        write!(writer, "{}", Value::Object(map))
    }

    fn add_fields(
        &self,
        current: &mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut map = parse_object(&current.fields);
        fields.record(&mut Collect(&mut map));
        current.fields = Value::Object(map).to_string();
        Ok(())
    }
}

fn parse_object(s: &str) -> Map<String, Value> {
    serde_json::from_str(s).unwrap_or_default()
}

/// One event as one JSON line (see the module docs for the keys).
struct JsonEvent;

impl<S, N> FormatEvent<S, N> for JsonEvent
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope() {
            let mut name = "";
            for span in scope.from_root() {
                name = span.name();
                if let Some(f) = span.extensions().get::<FormattedFields<N>>() {
                    fields.extend(parse_object(&f.fields));
                }
            }
            fields.insert("span".into(), name.into());
        }
        let mut own = Map::new();
        event.record(&mut Collect(&mut own));
        let message = match own.remove("message") {
            Some(Value::String(m)) => m,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        fields.extend(own);
        let meta = event.metadata();
        let text = line(meta.level().as_str(), meta.target(), &message, fields);
        writeln!(writer, "{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_then_the_variable_then_text() {
        assert_eq!(
            resolve(Some(LogFormat::Json), Some("text")).unwrap(),
            LogFormat::Json
        );
        assert_eq!(resolve(None, Some("JSON")).unwrap(), LogFormat::Json);
        assert_eq!(resolve(None, Some("")).unwrap(), LogFormat::Text);
        assert_eq!(resolve(None, None).unwrap(), LogFormat::Text);
        let e = resolve(None, Some("xml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "LLMO_LOG_FORMAT=`xml` is not a log format: use `text` or `json`"
        );
    }

    #[test]
    fn a_line_puts_the_fixed_keys_first_and_renames_a_clash() {
        let mut f = Map::new();
        f.insert("level".into(), 3.into());
        f.insert("request_id".into(), "r1".into());
        let s = line("INFO", "llmo::x", "say \"hi\"\n", f);
        assert!(s.starts_with("{\"timestamp\":\""), "{s}");
        assert!(!s.contains('\n'), "{s}");
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["field.level"], 3);
        assert_eq!(v["message"], "say \"hi\"\n");
        assert_eq!(v["request_id"], "r1");
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 6);
    }
}

//! Where the store lives (`crate::db` re-exports it): an SQLite file (a path) or a PostgreSQL server
//! (a `postgres://` / `postgresql://` URL), parsed once from `--db` /
//! `LLMO_DB` / the config's `db`.
//!
//! A value that starts with a URL scheme llmo does not store in
//! (`mysql://`, a typo like `postgress://`) is an error naming the supported
//! ones, never a file: a path has no `scheme://` prefix. A URL's password is
//! a secret: [`DbLocation`]'s `Display` (what logs, CLI output and doctor
//! show) masks it; only [`PgUrl::expose`] gives the whole URL, to the driver.
use std::fmt;
use std::path::{Path, PathBuf};

/// The database llmo works on.
#[derive(Clone, PartialEq, Eq)]
pub enum DbLocation {
    /// An SQLite file (created with its directory when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(PgUrl),
}

/// A PostgreSQL connection URL (`postgres://user:password@host:port/db?sslmode=...`).
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl(String);

/// The schemes a `db` value may carry, as said in errors.
pub const SUPPORTED: &str =
    "an SQLite file path (e.g. `/var/lib/llmo/llmo.db`) or a PostgreSQL URL (`postgres://user:password@host:5432/llmo`)";

impl DbLocation {
    /// Parses a `db` value: a URL with a supported scheme, or a file path.
    pub fn parse(s: &str) -> Result<DbLocation, String> {
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        match scheme(s) {
            None => Ok(DbLocation::Sqlite(PathBuf::from(s))),
            Some(sch)
                if sch.eq_ignore_ascii_case("postgres")
                    || sch.eq_ignore_ascii_case("postgresql") =>
            {
                PgUrl::parse(s).map(DbLocation::Postgres)
            }
            Some(sch) => Err(format!(
                "unsupported database URL scheme `{sch}://`: `db` takes {SUPPORTED}"
            )),
        }
    }

    /// Parses a value given as a path (a flag or a config file entry).
    pub fn from_path(p: &Path) -> Result<DbLocation, String> {
        match p.to_str() {
            Some(s) => DbLocation::parse(s),
            // Not UTF-8: never a URL.
            None => Ok(DbLocation::Sqlite(p.to_path_buf())),
        }
    }

    /// The SQLite file, when this is one.
    pub fn as_file(&self) -> Option<&Path> {
        match self {
            DbLocation::Sqlite(p) => Some(p),
            DbLocation::Postgres(_) => None,
        }
    }

    /// The engine's name, for messages (`SQLite`, `PostgreSQL`).
    pub fn engine(&self) -> &'static str {
        match self {
            DbLocation::Sqlite(_) => "SQLite",
            DbLocation::Postgres(_) => "PostgreSQL",
        }
    }
}

/// `s` with the password of a `scheme://user:password@host` URL (or a
/// `password=` parameter) replaced by `***`; other text as it is. For any
/// value that may be a URL before it is shown (a bad `LLMO_*` value).
pub fn mask_url(s: &str) -> String {
    match scheme(s) {
        Some(_) => PgUrl(s.to_string()).to_string(),
        None => s.to_string(),
    }
}

/// The `scheme` of a `scheme://...` value: letters, digits, `+`, `-`, `.`
/// after a letter (RFC 3986), followed by `://`.
fn scheme(s: &str) -> Option<&str> {
    let (head, _) = s.split_once("://")?;
    let mut chars = head.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(head)
}

impl PgUrl {
    /// Checks the shape llmo needs (a host after the scheme) without
    /// connecting; the driver checks the rest when it connects.
    pub fn parse(s: &str) -> Result<PgUrl, String> {
        let rest = s.split_once("://").map_or("", |(_, r)| r);
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host.is_empty() && !rest.contains("host=") {
            return Err(format!(
                "`{}` names no server: write e.g. `postgres://llmo:PASSWORD@db.internal:5432/llmo`",
                PgUrl(s.to_string())
            ));
        }
        Ok(PgUrl(s.to_string()))
    }

    /// The whole URL, password included: only for the driver.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PgUrl {
    /// The URL with its password (in the authority or a `password=`
    /// parameter) replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        let (scheme, rest) = s.split_once("://").unwrap_or(("", s));
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        write!(f, "{scheme}://")?;
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => write!(f, "{user}:***@{host}")?,
                None => write!(f, "{userinfo}@{host}")?,
            },
            None => f.write_str(authority)?,
        }
        let mut first = true;
        for (i, part) in tail.split(['?', '&']).enumerate() {
            if i > 0 {
                f.write_str(if first { "?" } else { "&" })?;
                first = false;
            }
            match part.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => write!(f, "{k}=***")?,
                _ => f.write_str(part)?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({self})")
    }
}

impl fmt::Display for DbLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbLocation::Sqlite(p) => write!(f, "{}", p.display()),
            DbLocation::Postgres(u) => write!(f, "{u}"),
        }
    }
}

impl fmt::Debug for DbLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbLocation::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
            DbLocation::Postgres(u) => write!(f, "Postgres({u})"),
        }
    }
}

impl Default for DbLocation {
    /// An empty path: a placeholder until settings are resolved.
    fn default() -> Self {
        DbLocation::Sqlite(PathBuf::new())
    }
}

impl From<&Path> for DbLocation {
    /// A path is always a file (tests and callers that hold a path).
    fn from(p: &Path) -> Self {
        DbLocation::Sqlite(p.to_path_buf())
    }
}

impl From<&PathBuf> for DbLocation {
    fn from(p: &PathBuf) -> Self {
        DbLocation::Sqlite(p.clone())
    }
}

impl From<PathBuf> for DbLocation {
    fn from(p: PathBuf) -> Self {
        DbLocation::Sqlite(p)
    }
}

impl From<&DbLocation> for DbLocation {
    fn from(l: &DbLocation) -> Self {
        l.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_files_and_postgres_urls_are_urls() {
        for p in [
            "llmo.db",
            "/var/lib/llmo/llmo.db",
            "./postgres:x",
            "C:\\llmo.db",
            "a//b",
        ] {
            assert_eq!(
                DbLocation::parse(p).unwrap(),
                DbLocation::Sqlite(p.into()),
                "{p}"
            );
        }
        for u in [
            "postgres://u:p@h/db",
            "postgresql://h:5432/db?sslmode=require",
            "POSTGRES://h/d",
        ] {
            assert!(
                matches!(DbLocation::parse(u).unwrap(), DbLocation::Postgres(_)),
                "{u}"
            );
        }
    }

    #[test]
    fn other_schemes_are_one_line_errors_naming_the_supported_ones() {
        for (v, sch) in [
            ("mysql://h/db", "mysql://"),
            ("postgress://h/db", "postgress://"),
            ("sqlite://x.db", "sqlite://"),
        ] {
            let e = DbLocation::parse(v).unwrap_err();
            assert!(
                e.contains(sch) && e.contains("postgres://") && e.contains("SQLite file"),
                "{e}"
            );
            assert!(!e.contains('\n'));
        }
        assert!(DbLocation::parse("postgres:///db")
            .unwrap_err()
            .contains("names no server"));
        assert!(DbLocation::parse("postgres:///db?host=/run/postgresql").is_ok());
    }

    #[test]
    fn passwords_are_masked_wherever_the_location_is_shown() {
        let l =
            DbLocation::parse("postgres://llmo:s3cret@db:5432/llmo?sslmode=require&password=x2")
                .unwrap();
        let shown = format!("{l} {l:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("x2"),
            "{shown}"
        );
        assert!(
            shown.contains("postgres://llmo:***@db:5432/llmo?sslmode=require&password=***"),
            "{shown}"
        );
        let DbLocation::Postgres(u) = l else {
            unreachable!()
        };
        assert!(u.expose().contains("s3cret"));
        assert_eq!(
            DbLocation::parse("postgres://h/d").unwrap().to_string(),
            "postgres://h/d"
        );
    }
}

//! `llmo admin-key generate`: a strong random admin key, printed or written
//! to a file only this user can read. There is no default key, ever.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::Ctx;
use crate::error::user;
use crate::secret::Secret;

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Print a new random admin key, or write it to a file (mode 0600)
    Generate(GenerateArgs),
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Write the key to this file (created with mode 0600) instead of printing it
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace FILE if it exists
    #[arg(long, requires = "out")]
    pub force: bool,
}

/// Characters of randomness after the prefix: 43 base62 characters carry
/// about 256 bits.
pub const KEY_CHARS: usize = 43;
pub const KEY_PREFIX: &str = "llmo-admin-";

/// A new admin key from the OS CSPRNG: `llmo-admin-` + 43 base62 characters.
pub fn generate() -> anyhow::Result<Secret> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::with_capacity(KEY_PREFIX.len() + KEY_CHARS);
    s.push_str(KEY_PREFIX);
    let mut buf = [0u8; 64];
    while s.len() < KEY_PREFIX.len() + KEY_CHARS {
        getrandom::getrandom(&mut buf)
            .map_err(|e| anyhow::anyhow!("reading random bytes for a new key: {e}"))?;
        // 62 * 4 = 248: reject bytes >= 248 so every character is equally likely.
        for b in buf.iter().filter(|b| **b < 248) {
            if s.len() == KEY_PREFIX.len() + KEY_CHARS {
                break;
            }
            s.push(ALPHABET[(*b % 62) as usize] as char);
        }
    }
    Ok(Secret::new(s))
}

pub fn run(cmd: Cmd, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Generate(args) => {
            let key = generate()?;
            match &args.out {
                None => ctx.printer.data(key.expose()),
                Some(path) => {
                    write_key_file(path, &key, args.force, ctx)?;
                    ctx.printer.status(&format!(
                        "wrote a new admin key to {} (mode 0600); start the gateway with `--admin-key-file {}`",
                        path.display(),
                        path.display()
                    ));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn write_key_file(path: &Path, key: &Secret, force: bool, ctx: &Ctx) -> anyhow::Result<()> {
    if path.is_dir() {
        return Err(user(format!("`{}` is a directory", path.display()))
            .hint("give a file path, e.g. `/etc/llmo/admin.key`")
            .into());
    }
    if path.exists() && !force {
        return Err(user(format!("`{}` already exists", path.display()))
            .hint(
                "pass `--force` to replace it (the old key stops working), or choose another path",
            )
            .into());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            create_private_dir(dir)?;
            ctx.printer
                .status(&format!("created directory {} (mode 0700)", dir.display()));
        }
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o
        .open(path)
        .map_err(|e| io_user_error("create", path, &e))?;
    // An existing file keeps its mode on open: tighten it too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io_user_error("set mode 0600 on", path, &e))?;
    }
    writeln!(f, "{}", key.expose()).map_err(|e| io_user_error("write", path, &e))?;
    Ok(())
}

/// Creates `dir` and its missing parents, mode 0700: the key's directory is
/// nobody else's business.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .map_err(|e| io_user_error("create directory", dir, &e).into())
}

/// A file-system failure on the user's path: the path or the system's state
/// is wrong (exit 1), and the hint says which.
fn io_user_error(action: &str, path: &Path, e: &std::io::Error) -> crate::error::UserError {
    use std::io::ErrorKind as K;
    let hint = match e.kind() {
        K::NotADirectory => match path.ancestors().skip(1).find(|a| a.is_file()) {
            Some(f) => format!("`{}` is a file, not a directory: choose another path", f.display()),
            None => "a part of the path is not a directory: choose another path".into(),
        },
        K::PermissionDenied => {
            "this user may not write there: run it as a user who may (e.g. with sudo), or choose another path".into()
        }
        K::ReadOnlyFilesystem => "that file system is read-only: choose another path".into(),
        K::StorageFull => "the disk is full: free space or choose another path".into(),
        _ => "choose a writable path, e.g. `/etc/llmo/admin.key`".into(),
    };
    let what = e.to_string();
    let what = what.split(" (os error").next().unwrap_or(&what);
    user(format!("cannot {action} `{}`: {what}", path.display())).hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        let k = a.expose();
        assert!(k.starts_with(KEY_PREFIX));
        assert_eq!(k.len(), KEY_PREFIX.len() + KEY_CHARS);
        assert!(k[KEY_PREFIX.len()..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric()));
        assert!(crate::config::check_admin_key(k).is_ok());
    }
}

//! The committed `completions/` and `man/` must be exactly what the command
//! definitions generate (`llmo::cli::generate::files()`), with no stale
//! extras: a flag added without regenerating fails here. This test only
//! compares; it never writes (run `cargo run -- generate` to update).
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const FIX: &str = "run `cargo run -- generate` and commit completions/ and man/";

fn committed(root: &Path, dir: &str) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let entries = std::fs::read_dir(root.join(dir))
        .unwrap_or_else(|e| panic!("cannot read {dir}/ ({e}); {FIX}"));
    for entry in entries {
        let entry = entry.unwrap();
        assert!(
            entry.file_type().unwrap().is_file(),
            "unexpected directory {dir}/{}",
            entry.file_name().to_string_lossy()
        );
        out.insert(Path::new(dir).join(entry.file_name()));
    }
    out
}

#[test]
fn completions_and_man_pages_match_the_cli() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = llmo::cli::generate::files().unwrap();

    let mut problems = Vec::new();
    for (rel, content) in &files {
        match std::fs::read(root.join(rel)) {
            Ok(current) if current == *content => {}
            Ok(_) => problems.push(format!("{} is out of date", rel.display())),
            Err(_) => problems.push(format!("{} is missing", rel.display())),
        }
    }
    let expected: BTreeSet<PathBuf> = files.keys().cloned().collect();
    let on_disk: BTreeSet<PathBuf> = committed(root, "completions")
        .into_iter()
        .chain(committed(root, "man"))
        .collect();
    for stale in on_disk.difference(&expected) {
        problems.push(format!(
            "{} is not generated any more; delete it",
            stale.display()
        ));
    }
    assert!(problems.is_empty(), "{}\n{FIX}", problems.join("\n"));
}

#[test]
fn generation_covers_every_visible_command() {
    let files = llmo::cli::generate::files().unwrap();
    let names: BTreeSet<String> = files.keys().map(|p| p.display().to_string()).collect();
    for f in [
        "completions/llmo.bash",
        "completions/_llmo",
        "completions/llmo.fish",
        "completions/_llmo.ps1",
        "completions/llmo.elv",
        "man/llmo.1",
        "man/llmo-provider.1",
        "man/llmo-provider-add.1",
        "man/llmo-model-unmap.1",
        "man/llmo-key-create.1",
        "man/llmo-migrate-up.1",
        "man/llmo-completions.1",
    ] {
        assert!(names.contains(f), "{f} is not generated: {names:?}");
    }
    // The maintainer-only command stays out of the pages users read.
    assert!(
        !names.iter().any(|n| n.ends_with("llmo-generate.1")),
        "{names:?}"
    );
    let man = String::from_utf8(files[Path::new("man/llmo-provider-add.1")].clone()).unwrap();
    assert!(man.contains("api\\-key\\-env"), "{man}");
    let bash = String::from_utf8(files[Path::new("completions/llmo.bash")].clone()).unwrap();
    assert!(bash.contains("--api-key-env"));
}

/// The maintainers' `llmo generate` is not offered to users: not in `--help`,
/// completions or man pages (it is dispatched before the CLI is parsed).
#[test]
fn the_maintainers_generate_command_stays_out_of_sight() {
    let files = llmo::cli::generate::files().unwrap();
    let fish = String::from_utf8(files[Path::new("completions/llmo.fish")].clone()).unwrap();
    assert!(
        !fish.contains(r#"__fish_llmo_needs_command" -f -a "generate""#),
        "{fish}"
    );
    assert!(!files.contains_key(Path::new("man/llmo-generate.1")));
    let out = assert_cmd::Command::cargo_bin("llmo")
        .unwrap()
        .arg("--help")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("generate"));
    // ... and it still works for maintainers.
    let dir = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::cargo_bin("llmo")
        .unwrap()
        .args(["generate", "--check", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "an empty dir is out of date");
    assert!(String::from_utf8_lossy(&out.stderr).contains("out of date"));
}

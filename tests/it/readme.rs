//! The README is executable: every ```` ```sh ```` block of README.md runs,
//! in order, in one bash, the way a new user pastes them on a fresh machine,
//! and a request through the gateway with the client key it created then
//! succeeds.
//!
//! The machine is faked, nothing else: `llmo` on the PATH is the binary this
//! test run built (also at `./target/{release,debug}/llmo` of the working
//! directory); HOME and the XDG directories are empty, in a tempdir;
//! `llmo serve ...` (and `cargo run --release -- serve ...`) starts that
//! binary's `serve` in the background on a free port, replacing the one
//! before; every provider's base URL (given or the vendor's default) points
//! at a mock upstream on 127.0.0.1; absolute paths under `/etc`, `/var`,
//! `/srv` and `/opt` move into the tempdir; the documented `127.0.0.1:8000`
//! becomes the test's port. A block that cannot run here (installing
//! software, the test suite itself, `cargo install`) has
//! `<!-- readme-test: skip (reason) -->` on the line before its fence; the
//! test prints the skipped ones.
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::eventually;
use crate::common::gw::client;
use crate::common::mock_upstream::{MockUpstream, Reply};

const ANTHROPIC: &str = include_str!("../fixtures/anthropic/messages_response.json");
const SKIP_MARK: &str = "<!-- readme-test: skip";

/// One ```` ```sh ```` block: the line of its opening fence, its lines (with
/// their README line numbers), and the reason it is skipped, if marked.
#[derive(Debug)]
struct Block {
    fence_line: usize,
    lines: Vec<(usize, String)>,
    skip: Option<String>,
}

/// The ```` ```sh ```` blocks of a Markdown text, in order. Other fenced
/// blocks (```` ```text ````, ```` ```toml ````...) are passed over whole.
fn sh_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    let mut in_other = false;
    let mut prev = "";
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let fence = line.trim_start().starts_with("```");
        // A closing fence is backticks only (CommonMark).
        let closing = fence && line.trim().chars().all(|c| c == '`');
        if let Some(b) = open.as_mut() {
            if closing {
                blocks.extend(open.take());
            } else {
                b.lines.push((n, line.to_string()));
            }
        } else if in_other {
            in_other = !closing;
        } else if fence {
            let lang = line.trim_start().trim_start_matches('`').trim();
            if lang == "sh" {
                open = Some(Block {
                    fence_line: n,
                    lines: Vec::new(),
                    skip: skip_reason(prev, n),
                });
            } else {
                in_other = true;
            }
        }
        prev = line;
    }
    assert!(open.is_none(), "README.md: a ```sh block is never closed");
    blocks
}

/// The reason in `<!-- readme-test: skip (reason) -->`, when `line` is one.
fn skip_reason(line: &str, fence_line: usize) -> Option<String> {
    let t = line.trim();
    if !t.starts_with("<!-- readme-test") {
        return None;
    }
    let reason = t
        .strip_prefix(SKIP_MARK)
        .and_then(|r| r.strip_suffix("-->"))
        .map(|r| {
            r.trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .trim()
        })
        .filter(|r| !r.is_empty());
    match reason {
        Some(r) => Some(r.to_string()),
        None => panic!(
            "README.md line {}: malformed marker `{t}`; write `<!-- readme-test: skip (the reason) -->` on the line before the ```sh fence at line {fence_line}",
            fence_line - 1
        ),
    }
}

/// Runs before the README's blocks: the failure trap that names the command
/// and the stand-ins for what a test cannot do for real.
const PRELUDE: &str = r#"set -eE -o pipefail
trap '__readme_rc=$?; printf "__README_FAIL__ %s %s %s\n" "$__readme_rc" "$__readme_line" "$__readme_cmd" >&2' ERR
trap '__readme_line=$LINENO; __readme_cmd=$BASH_COMMAND' DEBUG

# Absolute system paths move into the test's directory; the documented
# address becomes the test's port.
__readme_arg() {
    local a=$1
    case $a in
        /etc/* | /var/* | /srv/* | /opt/*) a=$README_ROOT$a ;;
        --*=/etc/* | --*=/var/* | --*=/srv/* | --*=/opt/*) a=${a%%=*}=$README_ROOT/${a#*=/} ;;
    esac
    a=${a//127.0.0.1:8000/127.0.0.1:$README_PORT}
    a=${a//localhost:8000/127.0.0.1:$README_PORT}
    a=${a//0.0.0.0:8000/127.0.0.1:$README_PORT}
    printf '%s' "$a"
}

llmo() {
    local args=() a i cmd=-1 base=0
    for a in "$@"; do args+=("$(__readme_arg "$a")"); done
    # The subcommand: the first word that is neither an option nor its value.
    for ((i = 0; i < ${#args[@]}; i++)); do
        case ${args[$i]} in
            --db | --config | --admin-key-file) i=$((i + 1)) ;;
            -*) ;;
            *) cmd=$i; break ;;
        esac
    done
    if ((cmd >= 0)) && [ "${args[$cmd]}" = serve ]; then
        __readme_serve "${args[@]}"
        return
    fi
    if ((cmd >= 0)) && [ "${args[$cmd]}" = provider ] &&
        [[ ${args[$((cmd + 1))]:-} == add || ${args[$((cmd + 1))]:-} == update ]]; then
        for i in "${!args[@]}"; do
            case ${args[$i]} in
                --base-url) args[$((i + 1))]=$README_MOCK_URL; base=1 ;;
                --base-url=*) args[$i]=--base-url=$README_MOCK_URL; base=1 ;;
            esac
        done
        if [ "${args[$((cmd + 1))]}" = add ] && [ "$base" = 0 ]; then
            args+=(--base-url "$README_MOCK_URL")
        fi
    fi
    # A database or config file under /etc or /var moves too.
    if [ -n "${LLMO_DB:-}" ]; then export LLMO_DB="$(__readme_arg "$LLMO_DB")"; fi
    if [ -n "${LLMO_CONFIG:-}" ]; then export LLMO_CONFIG="$(__readme_arg "$LLMO_CONFIG")"; fi
    command llmo "${args[@]}"
}

curl() {
    local args=() a
    for a in "$@"; do args+=("$(__readme_arg "$a")"); done
    command curl "${args[@]}"
}

# `llmo serve ...` in the background (replacing the one before), waiting
# until it listens.
__readme_serve() {
    __readme_stop
    command llmo "$@" >>"$README_SERVE_LOG" 2>&1 &
    echo $! >"$README_SERVE_PID"
    local i
    for ((i = 0; i < 400; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$README_PORT") 2>/dev/null; then return 0; fi
        if ! kill -0 "$(<"$README_SERVE_PID")" 2>/dev/null; then
            echo "\`llmo $*\` exited at once; its output:" >&2
            cat "$README_SERVE_LOG" >&2
            return 1
        fi
        sleep 0.025
    done
    echo "\`llmo $*\` did not listen on 127.0.0.1:$README_PORT within 10 s" >&2
    return 1
}

__readme_stop() {
    local pid
    [ -s "$README_SERVE_PID" ] || return 0
    pid=$(<"$README_SERVE_PID")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    : >"$README_SERVE_PID"
}

__readme_cannot() {
    echo "readme test: \`$*\` cannot run in a test; mark its block skip (see below)" >&2
    return 1
}

cargo() {
    case ${1:-} in
        run)
            while (($#)) && [ "$1" != -- ]; do shift; done
            (($#)) && shift
            llmo "$@"
            ;;
        build) ;; # the test's binary is built already
        *) __readme_cannot cargo "$@" ;;
    esac
}
sudo() { if [ "${1:-}" = llmo ]; then "$@"; else __readme_cannot sudo "$@"; fi; }
apt-get() { __readme_cannot apt-get "$@"; }
apt() { __readme_cannot apt "$@"; }
"#;

/// The script: the prelude, then each runnable block after a comment naming
/// it. `lines[i]` is the README line of the script's line `i + 1`, if any.
fn script(blocks: &[Block]) -> (String, Vec<Option<(usize, usize)>>) {
    let mut text = String::from(PRELUDE);
    let mut lines = vec![None; PRELUDE.lines().count()];
    for b in blocks.iter().filter(|b| b.skip.is_none()) {
        text.push_str(&format!("# README.md line {}\n", b.fence_line));
        lines.push(None);
        for (n, line) in &b.lines {
            text.push_str(line);
            text.push('\n');
            lines.push(Some((b.fence_line, *n)));
        }
    }
    text.push_str("__readme_line=0\n");
    (text, lines)
}

/// The sandbox a script runs in.
struct Machine {
    dir: tempfile::TempDir,
    port: u16,
    mock_url: String,
}

impl Machine {
    fn new(mock_url: String) -> Machine {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let work = dir.path().join("work");
        for d in [
            &bin,
            &work.join("target/release"),
            &work.join("target/debug"),
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        let exe = Path::new(env!("CARGO_BIN_EXE_llmo"));
        for link in [
            bin.join("llmo"),
            work.join("target/release/llmo"),
            work.join("target/debug/llmo"),
        ] {
            std::os::unix::fs::symlink(exe, link).unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Machine {
            dir,
            port,
            mock_url,
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Runs `script` in bash with a fresh HOME and `llmo` on the PATH.
    fn run(&self, script: &str) -> Output {
        let file = self.path("readme.sh");
        std::fs::write(&file, script).unwrap();
        let home = self.path("home");
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = assert_cmd::Command::new("bash");
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("LLMO_")
                || k.starts_with("XDG_")
                || k.to_ascii_lowercase().ends_with("_proxy")
                || k.starts_with("OPENAI_")
            {
                cmd.env_remove(&*k);
            }
        }
        cmd.arg(&file)
            .current_dir(self.path("work"))
            .env("PATH", path)
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("NO_COLOR", "1")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("LLMO_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("README_PORT", self.port.to_string())
            .env("README_MOCK_URL", &self.mock_url)
            .env("README_ROOT", self.path("root"))
            .env("README_SERVE_LOG", self.path("serve.log"))
            .env("README_SERVE_PID", self.path("serve.pid"))
            .timeout(Duration::from_secs(60));
        cmd.output().unwrap()
    }

    fn serve_log(&self) -> String {
        std::fs::read_to_string(self.path("serve.log")).unwrap_or_default()
    }
}

/// Stops the background `llmo serve` when the test ends, passed or not.
impl Drop for Machine {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.path("serve.pid")).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<u32>() {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What a failed run says: which block, which line and command, the
/// output, and how to mark a block that cannot run in a test.
fn failure_report(
    readme: &str,
    lines: &[Option<(usize, usize)>],
    out: &Output,
    log: &str,
) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let fail = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("__README_FAIL__ "))
        .next_back()
        .unwrap_or("? 0 (unknown)");
    let mut parts = fail.splitn(3, ' ');
    let rc = parts.next().unwrap_or("?");
    let script_line: usize = parts.next().and_then(|l| l.parse().ok()).unwrap_or(0);
    let cmd = parts.next().unwrap_or("");
    let place = match script_line.checked_sub(1).and_then(|i| lines.get(i)).copied().flatten() {
        Some((fence, n)) => format!(
            "README.md: the ```sh block at line {fence} failed at line {n}:\n    {}\n  command `{cmd}` exited with status {rc}",
            readme.lines().nth(n - 1).unwrap_or("").trim()
        ),
        None => format!("README.md's ```sh blocks failed (exit {:?}; command `{cmd}`, status {rc})", out.status.code()),
    };
    format!(
        "{place}\n\n--- stdout (end)\n{}\n--- stderr (end)\n{}\n--- llmo serve's log (end)\n{}\n\n\
         Every ```sh block of README.md runs in order, as pasted on a fresh machine (`llmo` on the PATH, an empty HOME, \
         `llmo serve` in the background, providers pointed at a mock). Make the command work that way, or, if the block \
         cannot run in a test (it installs software, needs a real provider or the network), put\n    \
         <!-- readme-test: skip (the reason) -->\non the line before its ```sh fence; an illustration that is not meant \
         to be pasted goes in a ```text or ```console fence instead.",
        tail(&stdout, 30),
        tail(&stderr, 30),
        tail(log, 20),
    )
}

/// The ids `GET /v1/models` lists for `key` (none on any failure).
async fn model_ids(http: &reqwest::Client, url: &str, key: &str) -> Vec<String> {
    let Ok(res) = http.get(url).bearer_auth(key).send().await else {
        return Vec::new();
    };
    let b = res.bytes().await.unwrap_or_default();
    let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
    v["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_sh_blocks_run_in_order_and_the_key_they_create_works() {
    let readme = readme();
    let blocks = sh_blocks(&readme);
    let skipped: Vec<&Block> = blocks.iter().filter(|b| b.skip.is_some()).collect();
    assert!(
        blocks.len() > skipped.len(),
        "README.md has no ```sh block to run"
    );
    let mock = MockUpstream::start().await;
    mock.route("/v1/messages", Reply::ok(ANTHROPIC));
    let machine = Machine::new(mock.url());
    let (text, lines) = script(&blocks);
    let out = {
        let m = &machine;
        tokio::task::block_in_place(|| m.run(&text))
    };
    assert!(
        out.status.success(),
        "{}",
        failure_report(&readme, &lines, &out, &machine.serve_log())
    );
    println!(
        "README.md: ran {} ```sh blocks, skipped {}:",
        blocks.len() - skipped.len(),
        skipped.len()
    );
    for b in &skipped {
        println!(
            "  line {}: {}",
            b.fence_line,
            b.skip.as_deref().unwrap_or("")
        );
    }

    // The client key the README created (printed once on stdout).
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key = stdout
        .split_whitespace()
        .find(|w| w.starts_with("llmo-") && !w.starts_with("llmo-admin-"))
        .unwrap_or_else(|| {
            panic!("the README's blocks print no client key (`llmo key create`):\n{stdout}")
        })
        .to_string();
    let base = format!("http://127.0.0.1:{}", machine.port);
    let http = client();
    // The running server applies the CLI's changes within a second.
    eventually(
        Duration::from_secs(5),
        "the README's models listed for its key",
        || {
            let (http, url, key) = (http.clone(), format!("{base}/v1/models"), key.clone());
            async move { !model_ids(&http, &url, &key).await.is_empty() }
        },
    )
    .await;
    let models = model_ids(&http, &format!("{base}/v1/models"), &key).await;
    for model in &models {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        let res = http
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let b = res.bytes().await.unwrap();
        let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
        assert_eq!(
            status,
            200,
            "model `{model}` through the README's gateway: {v}\n--- llmo serve's log\n{}",
            tail(&machine.serve_log(), 20)
        );
        assert!(v["choices"][0]["message"].is_object(), "{v}");
    }
    assert!(
        mock.calls() >= models.len(),
        "the upstream mock was not asked"
    );
}

#[test]
fn blocks_are_found_in_order_with_their_skip_markers() {
    let md = "# t\n\n```sh\necho one\n```\n\n```toml\nx = 1\n```\n\n<!-- readme-test: skip (installs things) -->\n```sh\napt-get install x\n```\n```text\n```sh is no fence here\n```\n```sh\necho two \\\n  three\n```\n";
    let blocks = sh_blocks(md);
    let got: Vec<(usize, Option<&str>, usize)> = blocks
        .iter()
        .map(|b| (b.fence_line, b.skip.as_deref(), b.lines.len()))
        .collect();
    assert_eq!(
        got,
        vec![
            (3, None, 1),
            (12, Some("installs things"), 1),
            (18, None, 2)
        ]
    );
}

/// The message of a failing block names the block, the README line and the
/// command, and says how to mark a block that cannot run.
#[test]
fn a_failing_block_is_named_with_its_line_and_command() {
    let md = "```sh\necho fine\n```\n\ntext\n\n```sh\necho still fine\nls /no/such/dir-for-the-readme-test \\\n  -d\necho never\n```\n";
    let blocks = sh_blocks(md);
    let machine = Machine::new("http://127.0.0.1:9/v1".into());
    let (text, lines) = script(&blocks);
    let out = machine.run(&text);
    assert!(!out.status.success());
    let report = failure_report(md, &lines, &out, "");
    assert!(
        report.starts_with("README.md: the ```sh block at line 7 failed at line 9:"),
        "{report}"
    );
    assert!(
        report.contains("command `ls /no/such/dir-for-the-readme-test -d` exited with status 2"),
        "{report}"
    );
    assert!(
        report.contains("<!-- readme-test: skip (the reason) -->"),
        "{report}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("never"));
}

//! The `llmo` binary: parse, run the command, map the result to an exit code.
//! Everything else lives in the library so tests can drive it in-process.
use std::process::ExitCode;

use clap::Parser;

/// The static (musl) build allocates with mimalloc: musl's own malloc costs
/// far more CPU per request under the gateway's threads (bench/README.md).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The maintainers' `llmo generate` stays out of the public command tree.
    if std::env::args_os().nth(1).is_some_and(|a| a == "generate") {
        return llmo::cli::generate::main(std::env::args_os().skip(1));
    }
    match llmo::cli::Cli::try_parse() {
        Ok(cli) => llmo::cli::main(cli),
        Err(e) => {
            // Usage errors exit 1 (the user's input is wrong), not clap's 2,
            // which llmo keeps for unexpected failures; --help/--version exit 0.
            let _ = e.print();
            if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

//! `entra-sync`: parse the command line, start telemetry, run; the run prints its outcome and
//! names its exit code.

use std::process::ExitCode;

use clap::Parser;
use entra_sync::{app, cli::Cli, telemetry};

/// Pages of JSON are many small allocations beside a few large ones; glibc's allocator spent a
/// fifth of a large import's client time consolidating them (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    app::run(cli).await
}

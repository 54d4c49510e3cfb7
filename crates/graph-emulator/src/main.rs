//! `graph-emulator`: serves the emulator on loopback until Ctrl-C.

use clap::Parser;
use graph_emulator::{EmulatorArgs, run};

/// Microsoft Graph and identity-platform emulator for entra-sync's tests, demo and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "graph-emulator", version)]
struct Cli {
    #[command(flatten)]
    args: EmulatorArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    run(cli.args, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

//! CHANGEFEED benchmarks (being written).

use anyhow::Result;

/// Options of the CHANGEFEED benchmark.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs the benchmark.
pub async fn run(_args: Args) -> Result<()> {
    anyhow::bail!("the CHANGEFEED benchmark is not written yet")
}

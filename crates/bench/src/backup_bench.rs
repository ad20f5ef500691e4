//! BACKUP/RESTORE benchmarks (being written).

use anyhow::Result;

/// Options of the BACKUP/RESTORE benchmark.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs the benchmark.
pub async fn run(_args: Args) -> Result<()> {
    anyhow::bail!("the BACKUP/RESTORE benchmark is not written yet")
}

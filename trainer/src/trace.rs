//! `trainer trace`: the forward pass of one history stage by stage on two devices, and where they
//! part (the native side of the WebGPU bisection; the page runs the same core function).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use vip5::recommend::Recommender;
use vip5::trace::compare;

use crate::common::device::{DeviceArg, make_device};

#[derive(Args)]
pub struct TraceArgs {
    /// A model bundle (`trainer export`).
    #[arg(long)]
    bundle: PathBuf,
    /// The visitor's history: item keys, oldest first, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    history: Vec<String>,
    /// Rows of the first decoding step (beam search runs 20).
    #[arg(long, default_value_t = 20)]
    beams: usize,
    /// Decoding steps (the second one reads the cache and its reordering).
    #[arg(long, default_value_t = 2)]
    steps: usize,
    #[arg(long, value_enum, default_value = "wgpu")]
    device: DeviceArg,
    /// The reference device.
    #[arg(long, value_enum, default_value = "cpu")]
    against: DeviceArg,
    #[arg(long)]
    json: bool,
}

pub fn run(args: TraceArgs) -> Result<()> {
    let bytes = std::fs::read(&args.bundle)
        .with_context(|| format!("reading {}", args.bundle.display()))?;
    let mut traces = Vec::new();
    for arg in [args.device, args.against] {
        let r = Recommender::from_bundle(&bytes, make_device(arg)?)
            .with_context(|| format!("loading {}", args.bundle.display()))?;
        traces.push(
            pollster::block_on(r.trace(&args.history, args.beams, args.steps))
                .with_context(|| format!("tracing on {arg:?}"))?,
        );
    }
    let diffs = compare(&traces[0], &traces[1])?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&diffs)?);
        return Ok(());
    }
    println!("{:<52} {:>12} {:>10} {:>10}", "stage", "max |a-b|", "non-finite", "reference");
    for d in &diffs {
        println!(
            "{:<52} {:>12.3e} {:>10} {:>10}",
            d.name, d.max_abs_diff, d.non_finite_a, d.non_finite_b
        );
    }
    Ok(())
}

//! `trainer bench-clip`: CLIP vision-tower throughput (images/s) on random pixels, for the side by
//! side with PyTorch in `bench/clip_cpu.sh`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::{Distribution, Tensor};
use clap::Args;
use vip5::clip::{ClipVision, ClipVisionConfig, load_clip_vision};

use crate::device::{DeviceArg, make_device};

#[derive(Args)]
pub struct BenchClipArgs {
    /// CLIP `model.safetensors` (its `config.json` beside it, else ViT-B/32).
    #[arg(long)]
    clip: PathBuf,
    /// Images to embed in the timed part.
    #[arg(long, default_value_t = 32)]
    images: usize,
    /// Images per forward pass.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

pub fn run(args: BenchClipArgs) -> Result<()> {
    if args.batch == 0 || args.images == 0 {
        bail!("--images and --batch must be positive");
    }
    let config = args.clip.with_file_name("config.json");
    let cfg = if config.exists() {
        ClipVisionConfig::from_hf_json(&std::fs::read_to_string(&config)?)?
    } else {
        ClipVisionConfig::vit_b_32()
    };
    let device = make_device(args.device)?;
    let bytes = std::fs::read(&args.clip).with_context(|| format!("reading {}", args.clip.display()))?;
    let (model, _) = load_clip_vision(ClipVision::new(&cfg, &device), &bytes)?;
    let s = cfg.image_size;
    let x = Tensor::<4>::random([args.batch, 3, s, s], Distribution::Normal(0.0, 1.0), &device);
    // Warm-up (kernel compilation on GPUs, allocator growth on CPUs), then time whole batches.
    model.forward(x.clone()).into_data();
    let start = Instant::now();
    let mut n = 0;
    while n < args.images {
        model.forward(x.clone()).into_data();
        n += args.batch;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("vip5-rs images_per_s={:.2} batch={} device={:?}", n as f64 / secs, args.batch, args.device);
    Ok(())
}

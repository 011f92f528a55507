//! `trainer`: the native VIP5 tool.

mod bench;
mod bench_model;
mod common;
mod compare;
mod eval;
mod export;
mod features;
mod prepare;
mod recommend;
mod site;
mod trace;
mod train;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use vip5::{Vip5Config, Vip5Model};

#[derive(Parser)]
#[command(name = "trainer", version, about = "Train, evaluate and export VIP5 models")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a preset's configuration and parameter counts, counted from the built model.
    Info(InfoArgs),
    /// Compute CLIP image features for a directory of photos (or import the original .npy layout).
    Features(features::FeaturesArgs),
    /// Read a data set (P5/VIP5 or raw layout, titles, image features), split and re-index it.
    Prepare(prepare::PrepareArgs),
    /// Train VIP5 (adapters, full fine-tuning or from scratch) on a prepared data set.
    Train(Box<train::TrainArgs>),
    /// Evaluate a trained model the paper's way, beside the baselines.
    Eval(eval::EvalArgs),
    /// Write a model bundle (GGUF: config, tokenizer, templates, catalogue, f32/f16/q8_0/q4_0
    /// tensors) for the browser.
    Export(export::ExportArgs),
    /// Write a CLIP vision bundle (GGUF) from a Hugging Face CLIP checkpoint.
    ExportClip(export::ExportClipArgs),
    /// What a page would recommend for a history (item keys), from a bundle: the native reference
    /// of the wasm library.
    Recommend(recommend::RecommendArgs),
    /// A folder a static host can serve: the library from dist/, a bundle, an example page,
    /// headers.
    Site(site::SiteArgs),
    /// Compare two models' ranked lists on the same users (top-k agreement, paired bootstrap of HR
    /// and NDCG).
    CompareRankings(compare::CompareArgs),
    /// The forward pass of one history stage by stage on two devices, and where they part.
    Trace(trace::TraceArgs),
    /// Time the CLIP vision tower on random pixels (images/s), for bench/clip_cpu.sh.
    BenchClip(bench::BenchClipArgs),
    /// Time a matmul with an f32 weight against a burn block-quantized (q8, 32) weight, per device.
    BenchQuant(bench::BenchQuantArgs),
    /// Time the encoder and a recommendNext-style beam search on random weights, for
    /// bench/compare.sh.
    BenchModel(bench_model::BenchModelArgs),
    /// Time training steps on fixed-shape random inputs (samples/s, peak memory), for
    /// bench/train_cpu.sh.
    BenchTrain(bench::BenchTrainArgs),
}

#[derive(Args)]
struct InfoArgs {
    /// Model preset: tiny, demo or t5-small.
    #[arg(long, default_value = "t5-small")]
    preset: String,
    /// CLIP feature size (ViT-B/32 and RN101: 512, ViT-L/14: 768, RN50: 1024).
    #[arg(long)]
    feat_dim: Option<usize>,
    /// Visual tokens per image (k).
    #[arg(long)]
    n_vis_tokens: Option<usize>,
    /// Adapter reduction factor r (bottleneck = d_model / r).
    #[arg(long)]
    reduction_factor: Option<usize>,
    /// Leave out the adapters after the decoder's cross-attention (the paper's "Self-Attn" row).
    #[arg(long)]
    no_cross_adapters: bool,
    /// One adapter per task family instead of one shared adapter per position.
    #[arg(long)]
    per_task_adapters: bool,
    /// Which parameters train: adapters (VIP5), full (P5-style fine-tuning) or scratch (as full).
    #[arg(long, value_enum, default_value = "adapters")]
    mode: common::ModeArg,
    /// Also train the whole-word and category tables.
    #[arg(long)]
    train_input_tables: bool,
    /// Print the configuration as JSON too.
    #[arg(long)]
    json: bool,
}

fn info(args: InfoArgs) -> Result<()> {
    let mut cfg = Vip5Config::preset(&args.preset)?;
    if let Some(v) = args.feat_dim {
        cfg.feat_dim = v;
    }
    if let Some(v) = args.n_vis_tokens {
        cfg.n_vis_tokens = v;
    }
    if let Some(v) = args.reduction_factor {
        cfg.reduction_factor = v;
    }
    cfg.add_adapter_cross_attn = !args.no_cross_adapters;
    cfg.use_single_adapter = !args.per_task_adapters;
    cfg.train_input_tables = args.train_input_tables;
    cfg.validate().context("invalid model options")?;
    // Parameters are initialised lazily: counting reads shapes only and allocates no weights.
    let model = Vip5Model::new(&cfg, &burn::tensor::Device::flex());
    let counts = model.param_counts(args.mode.train_mode(), cfg.train_input_tables);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&cfg)?);
    }
    println!(
        "preset={} d_model={} layers={}+{} heads={} vocab={} feat_dim={} k={} r={} \
         cross_adapters={}",
        args.preset,
        cfg.d_model,
        cfg.num_encoder_layers,
        cfg.num_decoder_layers,
        cfg.num_heads,
        cfg.vocab_size,
        cfg.feat_dim,
        cfg.n_vis_tokens,
        cfg.reduction_factor,
        cfg.add_adapter_cross_attn
    );
    println!(
        "total_params={} trainable_params={} trainable_percent={:.2}",
        counts.total,
        counts.trainable,
        counts.trainable_percent()
    );
    Ok(())
}

fn main() -> Result<()> {
    common::process::keep_freed_memory();
    common::process::tune_matrix_multiplies();
    match Cli::parse().command {
        Command::Info(args) => info(args),
        Command::Features(args) => features::run(args),
        Command::Prepare(args) => prepare::run(args),
        Command::Train(args) => train::run(*args),
        Command::Eval(args) => eval::run(args),
        Command::Export(args) => export::run(args),
        Command::ExportClip(args) => export::run_clip(args),
        Command::Recommend(args) => recommend::run(args),
        Command::Site(args) => site::run(args),
        Command::CompareRankings(args) => compare::run(args),
        Command::Trace(args) => trace::run(args),
        Command::BenchClip(args) => bench::run(args),
        Command::BenchQuant(args) => bench::run_quant(args),
        Command::BenchModel(args) => bench_model::run(args),
        Command::BenchTrain(args) => bench::run_train(args),
    }
}

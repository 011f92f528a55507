//! `trainer recommend`: what a page would answer for a history, natively, from the same bundle
//! (the reference the browser tests compare against).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use vip5::recommend::Recommender;

use crate::common::device::{DeviceArg, make_device};

#[derive(Args)]
pub struct RecommendArgs {
    /// A model bundle (`trainer export`).
    #[arg(long)]
    bundle: PathBuf,
    /// The visitor's history: item keys (ASIN/SKU), oldest first, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    history: Vec<String>,
    /// How many next items to recommend.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Item keys never to recommend (out of stock...).
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    /// Recommend among these item keys only (a category...).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Also give P(yes) for these item keys.
    #[arg(long, value_delimiter = ',')]
    score: Vec<String>,
    /// Also rank these candidate item keys (B-5).
    #[arg(long, value_delimiter = ',')]
    candidates: Vec<String>,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    #[arg(long)]
    json: bool,
}

pub fn run(args: RecommendArgs) -> Result<()> {
    let bytes = std::fs::read(&args.bundle)
        .with_context(|| format!("reading {}", args.bundle.display()))?;
    let started = Instant::now();
    let r = Recommender::from_bundle(&bytes, make_device(args.device)?)
        .with_context(|| format!("loading {}", args.bundle.display()))?;
    let load_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let next = pollster::block_on(r.recommend_next(
        &args.history,
        args.k,
        &args.exclude,
        args.only.as_deref(),
    ))?;
    let next_s = started.elapsed().as_secs_f64();
    let scores = if args.score.is_empty() {
        Vec::new()
    } else {
        pollster::block_on(r.score(&args.history, &args.score))?
    };
    let ranked = if args.candidates.is_empty() {
        Vec::new()
    } else {
        pollster::block_on(r.rank_candidates(&args.history, &args.candidates))?
    };
    if args.json {
        let report = serde_json::json!({
            "unknown_history_items": r.resolve(&args.history).unknown,
            "next": next, "scores": scores, "ranked": ranked,
            "load_seconds": load_s, "recommend_seconds": next_s,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("loaded in {load_s:.2} s; next items in {next_s:.2} s:");
    for s in &next {
        println!("  {:>6}  {:<12} {:>8.4}  {}", s.id, s.key, s.score, s.title);
    }
    for (title, list) in [("P(yes):", &scores), ("candidates ranked:", &ranked)] {
        if !list.is_empty() {
            println!("{title}");
            for s in list {
                println!("  {:>6}  {:<12} {:>8.4}  {}", s.id, s.key, s.score, s.title);
            }
        }
    }
    Ok(())
}

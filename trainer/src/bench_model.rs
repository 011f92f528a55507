//! `trainer bench-model`: the inference rows of `bench/compare.sh` on seeded random weights of a
//! preset: the encoder forward pass of a visitor's prompt (batch 1 and 16), and a
//! `recommendNext`-style beam search (20 beams, 20 returned) with and without the item
//! constraint. `--write DIR` also writes the weights, the prompt and the item token sequences,
//! so `bench/model_cpu.py` runs PyTorch on the same model and the same input.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;
use vip5::batch::EncoderBatch;
use vip5::bundle::CatalogItem;
use vip5::decode::{BeamConfig, beam_search};
use vip5::prompt::PromptTokenizer;
use vip5::recommend::Recommender;
use vip5::{Task, Vip5Config, Vip5Model};

use crate::common::TOKENIZER_JSON;
use crate::common::device::{DeviceArg, make_device};
use crate::common::files::write_atomic;

#[derive(Args)]
pub struct BenchModelArgs {
    /// Model preset (seeded random weights).
    #[arg(long, default_value = "t5-small")]
    preset: String,
    /// Catalogue size: items 1..=N.
    #[arg(long, default_value_t = 12_101)]
    items: usize,
    /// One token per item (the demo model's tokenization) instead of the numbers' pieces.
    #[arg(long)]
    item_tokens: bool,
    /// Items in the visitor's history (each with its visual tokens in the prompt).
    #[arg(long, default_value_t = 20)]
    history: usize,
    /// Beams, all returned.
    #[arg(long, default_value_t = 20)]
    beams: usize,
    /// Batch sizes of the encoder rows.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    batches: Vec<usize>,
    /// Timed repetitions of each row (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Also write model.safetensors, config.json and inputs.json here for the PyTorch side.
    #[arg(long)]
    write: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

#[derive(Serialize)]
struct Row {
    name: String,
    median_s: f64,
    runs_s: Vec<f64>,
}

/// What the PyTorch side needs to run the same prompt and the same search.
#[derive(Serialize)]
struct Inputs<'a> {
    input_ids: &'a [u32],
    whole_word_ids: &'a [u32],
    /// Images in the prompt (k placeholders each); their features are zeros, as a bundle
    /// without photos has.
    images: usize,
    beams: usize,
    max_length: usize,
    /// Token sequences (ending in `</s>`) of the items the constraint allows: every catalogue
    /// item outside the history.
    allowed_items: Vec<Vec<u32>>,
    /// The item id of each sequence of `allowed_items`.
    allowed_item_ids: Vec<u32>,
}

pub fn run(args: BenchModelArgs) -> Result<()> {
    if args.reps == 0 || args.beams == 0 || args.history == 0 || args.history >= args.items {
        bail!("--reps, --beams and --history must be positive, and --history below --items");
    }
    let mut cfg = Vip5Config::preset(&args.preset)?;
    if args.item_tokens {
        cfg.item_tokens = args.items;
        cfg.vocab_size += args.items;
    }
    cfg.validate().context("invalid model options")?;
    let device = make_device(args.device)?;
    device.seed(2022);
    let model = Vip5Model::new(&cfg, &device);
    vip5::model::initialize_params(&model);
    let tokenizer = PromptTokenizer::for_config(TOKENIZER_JSON, &cfg)?;
    let catalog: Vec<CatalogItem> = (1..=args.items)
        .map(|i| CatalogItem { key: format!("I{i:06}"), title: String::new() })
        .collect();
    let rec = Recommender::new(model, cfg.clone(), tokenizer, catalog, None, device.clone())?;
    // Spread over the catalogue, all distinct (the step is coprime with the catalogue size).
    let step = [7919, 104_729, 1].into_iter().find(|&s| gcd(s, args.items) == 1).unwrap_or(1);
    let history: Vec<u32> =
        (0..args.history).map(|j| ((j * step) % args.items) as u32 + 1).collect();
    let keys: Vec<String> =
        history.iter().map(|&i| rec.catalog[i as usize - 1].key.clone()).collect();
    let sample = rec.next_item_sample(&history)?;

    let mut rows = Vec::new();
    for &b in &args.batches {
        let x = EncoderBatch::new(&vec![sample.clone(); b.max(1)], &cfg)?.to_tensors(&device);
        rows.push(timed(&format!("encoder forward, batch {b}"), args.reps, || {
            rec.model.encode(&x, Task::Sequential).into_data();
            Ok(())
        })?);
    }
    // The constrained answer, for the harness to check that both sides computed the same thing.
    let mut top_items = Vec::new();
    rows.push(timed("recommendNext, constrained", args.reps, || {
        let out = pollster::block_on(rec.recommend_next(&keys, args.beams, &[], None))?;
        if out.is_empty() {
            bail!("the constrained search returned nothing");
        }
        top_items = out.iter().map(|r| r.id).collect();
        Ok(())
    })?);
    let x = EncoderBatch::new(std::slice::from_ref(&sample), &cfg)?.to_tensors(&device);
    let beam = BeamConfig::returning(args.beams);
    rows.push(timed("beam search, unconstrained", args.reps, || {
        pollster::block_on(beam_search(
            &rec.model,
            &x,
            Task::Sequential,
            &beam,
            cfg.eos_token_id,
            cfg.decoder_start_token_id,
            None,
        ))?;
        Ok(())
    })?);

    if let Some(dir) = &args.write {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let weights = vip5::weights::save_safetensors(&rec.model)?;
        write_atomic(&dir.join("model.safetensors"), &weights)?;
        write_atomic(&dir.join("config.json"), serde_json::to_string_pretty(&cfg)?.as_bytes())?;
        let naming = rec.tokenizer.item_naming();
        let allowed_item_ids: Vec<u32> =
            (1..=args.items as u32).filter(|i| !history.contains(i)).collect();
        let allowed_items = allowed_item_ids
            .iter()
            .map(|&i| rec.tokenizer.encode_target(&naming.text(i)?, usize::MAX))
            .collect::<vip5::Result<Vec<_>>>()?;
        let inputs = Inputs {
            input_ids: &sample.input_ids,
            whole_word_ids: &sample.whole_word_ids,
            images: sample.vis_feats.len(),
            beams: args.beams,
            max_length: beam.max_length,
            allowed_items,
            allowed_item_ids,
        };
        write_atomic(&dir.join("inputs.json"), serde_json::to_string(&inputs)?.as_bytes())?;
    }

    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "side": "vip5-rs",
                "preset": args.preset,
                "items": args.items,
                "item_tokens": args.item_tokens,
                "prompt_tokens": sample.input_ids.len(),
                "constrained_top_items": top_items,
                "device": format!("{:?}", args.device),
                "rows": rows,
            }))?
        );
    } else {
        println!(
            "vip5-rs, {} ({} items, {}), prompt of {} tokens",
            args.preset,
            args.items,
            if args.item_tokens { "item tokens" } else { "number ids" },
            sample.input_ids.len()
        );
        for r in &rows {
            println!("  {:<32} {:>9.4} s", r.name, r.median_s);
        }
    }
    Ok(())
}

fn timed(name: &str, reps: usize, mut run: impl FnMut() -> Result<()>) -> Result<Row> {
    run().with_context(|| format!("{name} (warm-up)"))?;
    let mut runs_s = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        run().with_context(|| name.to_string())?;
        runs_s.push(t.elapsed().as_secs_f64());
    }
    let mut sorted = runs_s.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(Row { name: name.to_string(), median_s: sorted[sorted.len() / 2], runs_s })
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

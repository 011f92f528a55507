//! `trainer export` and `trainer export-clip`: the GGUF bundles a page downloads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::Device;
use clap::Args;
use vip5::bundle::{Bundle, CatalogItem, write_clip_bundle, write_model_bundle};
use vip5::clip::{ClipVisionConfig, is_vision_tensor};
use vip5::quant::GgmlType;
use vip5::weights::{NamedTensor, read_safetensors, read_safetensors_filtered, save_safetensors};
use vip5::{Vip5Config, Vip5Model};

use crate::common::TOKENIZER_JSON;
use crate::common::files::write_atomic;
use crate::common::model_files::load_model;
use crate::common::prepared::read_prepared;

#[derive(Args)]
pub struct ExportArgs {
    /// A training output folder (model.safetensors + config.json), a model.safetensors with its
    /// config.json beside it, or a bundle to re-quantize.
    #[arg(long, required_unless_present = "random_preset")]
    model: Option<PathBuf>,
    /// Export seeded random weights of a preset instead (tiny, demo, t5-small): for tests and size
    /// figures.
    #[arg(long, conflicts_with = "model")]
    random_preset: Option<String>,
    /// Seed of `--random-preset`.
    #[arg(long, default_value_t = 2022)]
    seed: u64,
    /// Prepared data folder whose items (keys and titles) become the bundle's catalogue. Without
    /// it the catalogue is empty and a page can only show model ids.
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    output: BundleOutput,
}

/// Where and how a bundle is written.
#[derive(Args)]
pub struct BundleOutput {
    /// How matrices are stored: f32, f16, q8_0 or q4_0 (blocks of 32). Norms, biases and small
    /// tables always stay f32.
    #[arg(long, default_value = "q8_0")]
    quant: String,
    /// Output file (`.gguf`).
    #[arg(long)]
    out: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ExportClipArgs {
    /// A Hugging Face CLIP `model.safetensors` (full CLIP or the vision model with projection).
    #[arg(long)]
    clip: PathBuf,
    /// Vision config: vitb32, vitb16, vitl14 (or ViT-B/32, ...), or a HF CLIP `config.json`.
    /// Default: the `config.json` beside the checkpoint, else vit-b-32.
    #[arg(long)]
    config: Option<String>,
    #[command(flatten)]
    output: BundleOutput,
}

/// The model's own tensors (after the vocab cut and with VIP5 parts initialised where absent).
fn model_tensors(model: &Vip5Model) -> Result<BTreeMap<String, NamedTensor>> {
    Ok(read_safetensors(&save_safetensors(model)?)?)
}

/// The catalogue (keys and titles) and, when the data has photos, the item features.
fn catalog(data: Option<&Path>, feat_dim: usize) -> Result<(Vec<CatalogItem>, Option<Vec<f32>>)> {
    let Some(dir) = data else { return Ok((Vec::new(), None)) };
    let prepared = read_prepared(dir)?;
    let catalog = (1u32..)
        .zip(&prepared.item_keys)
        .map(|(id, key)| CatalogItem {
            key: key.clone(),
            title: prepared.titles.get(&id).cloned().unwrap_or_default(),
        })
        .collect();
    prepared.check_feature_dim(dir, feat_dim)?;
    Ok((catalog, prepared.features.map(|(_, values)| values)))
}

/// Reads the bundle back, builds it on the CPU and reports sizes and the load time.
fn verify_and_report(bytes: &[u8], out: &Path, json: bool) -> Result<()> {
    let device = Device::flex();
    let started = Instant::now();
    let bundle = Bundle::from_bytes(bytes).context("reading the bundle back")?;
    let params = match bundle.kind {
        vip5::bundle::BundleKind::Model => {
            let (model, _) =
                bundle.load_model(&device).context("building the model from the bundle")?;
            vip5::model::initialize_params(&model);
            model.num_params()
        }
        vip5::bundle::BundleKind::ClipVision => {
            let (model, _, _) =
                bundle.load_clip(&device).context("building CLIP from the bundle")?;
            model.num_params()
        }
    };
    let load_s = started.elapsed().as_secs_f64();
    let summary = bundle.describe();
    let report = serde_json::json!({
        "file": out.display().to_string(),
        "bytes": bytes.len(),
        "summary": summary,
        "params_loaded": params,
        "load_seconds_cpu": load_s,
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "wrote {} ({:.2} MB = {} bytes, {} bundle, {}): {} tensors, {} parameters, {} \
             catalogue items; read back and built on the CPU in {:.2} s",
            out.display(),
            bytes.len() as f64 / 1e6,
            bytes.len(),
            summary.kind,
            summary.quant,
            summary.tensors,
            summary.parameters,
            summary.catalog_items,
            load_s
        );
        for (ty, n) in &summary.tensor_bytes {
            println!("  {ty}: {:.2} MB", *n as f64 / 1e6);
        }
    }
    Ok(())
}

pub fn run(args: ExportArgs) -> Result<()> {
    let quant = GgmlType::parse(&args.output.quant)?;
    let device = Device::flex();
    let (cfg, tensors) = match (&args.model, &args.random_preset) {
        (Some(path), _) => {
            // Through the model, so a plain t5-small gets the vocab cut and initialised VIP5 parts,
            // and a bundle can be re-quantized.
            let (cfg, model) = load_model(path, &device)?;
            let tensors = model_tensors(&model)?;
            (cfg, tensors)
        }
        (None, Some(preset)) => {
            let cfg = Vip5Config::preset(preset)?;
            device.seed(args.seed);
            let model = Vip5Model::new(&cfg, &device);
            vip5::model::initialize_params(&model);
            let tensors = model_tensors(&model)?;
            (cfg, tensors)
        }
        (None, None) => bail!("give --model or --random-preset"),
    };
    let (catalog, features) = catalog(args.data.as_deref(), cfg.feat_dim)?;
    let tokenizer =
        std::str::from_utf8(TOKENIZER_JSON).context("the bundled tokenizer is not UTF-8")?;
    let bytes =
        write_model_bundle(&cfg, &tensors, tokenizer, &catalog, features.as_deref(), quant)?;
    write_atomic(&args.output.out, &bytes)?;
    verify_and_report(&bytes, &args.output.out, args.output.json)
}

pub fn run_clip(args: ExportClipArgs) -> Result<()> {
    let quant = GgmlType::parse(&args.output.quant)?;
    let cfg = match args.config.as_deref() {
        Some(name) if ClipVisionConfig::named(name).is_some() => {
            ClipVisionConfig::named(name).context("named")?
        }
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
            ClipVisionConfig::from_hf_json(&text).with_context(|| format!("reading {path}"))?
        }
        None => {
            let beside = args.clip.with_file_name("config.json");
            match std::fs::read_to_string(&beside) {
                Ok(text) => ClipVisionConfig::from_hf_json(&text)
                    .with_context(|| format!("reading {}", beside.display()))?,
                Err(_) => ClipVisionConfig::vit_b_32(),
            }
        }
    };
    let bytes =
        std::fs::read(&args.clip).with_context(|| format!("reading {}", args.clip.display()))?;
    let tensors = read_safetensors_filtered(&bytes, is_vision_tensor)
        .with_context(|| format!("reading {}", args.clip.display()))?;
    if tensors.is_empty() {
        bail!(
            "{} has no CLIP vision tensors (`vision_model.*`, `visual_projection.weight`)",
            args.clip.display()
        );
    }
    let out = write_clip_bundle(&cfg, &tensors, quant)?;
    write_atomic(&args.output.out, &out)?;
    verify_and_report(&out, &args.output.out, args.output.json)
}

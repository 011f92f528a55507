//! A run's starting point: the model configuration its flags and data give, and the initial
//! model.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Param;
use burn::tensor::{Device, Tensor};
use vip5::data::counts::ItemCounts;
use vip5::data::item_factors::{FactorParams, item_factors};
use vip5::prompt::PromptTokenizer;
use vip5::{Vip5Config, Vip5Model};

use super::args::{ItemInitArg, TrainArgs};
use crate::common::prepared::Prepared;
use crate::common::{ModeArg, TOKENIZER_JSON};

/// The model configuration a run uses.
pub fn run_config(args: &TrainArgs, prepared: &Prepared) -> Result<Vip5Config> {
    let mut cfg = Vip5Config::preset(&args.preset)?;
    if let Some(d) = prepared.manifest.feature_dim {
        cfg.feat_dim = d;
    }
    cfg.train_input_tables = args.train_input_tables;
    cfg.max_history_items = args.max_history_items;
    if args.item_tokens {
        let items = prepared.all_items().len();
        cfg.item_tokens = items;
        cfg.vocab_size = PromptTokenizer::from_json_bytes(TOKENIZER_JSON)?.vocab_size() + items;
    }
    if let Some(p) = args.dropout {
        if !(0.0..1.0).contains(&p) {
            bail!("--dropout must be in [0, 1)");
        }
        cfg.dropout_rate = p;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// The model a run starts from, on `device` (with autodiff), seeded: a random one, or `--init`'s
/// weights with the VIP5 parts it lacks at their initialisation; then the `--mode`'s trainable
/// parameters, and `--item-init ppmi-svd`'s item rows.
pub fn initial_model(
    args: &TrainArgs,
    cfg: &Vip5Config,
    tokenizer: &PromptTokenizer,
    item_counts: Option<&ItemCounts>,
    device: &Device,
) -> Result<Vip5Model> {
    let mut model = Vip5Model::new(cfg, device);
    if let Some(init) = &args.init {
        let bytes = std::fs::read(init).with_context(|| format!("reading {}", init.display()))?;
        let (m, report) = vip5::weights::load_safetensors(model, &bytes, cfg)
            .with_context(|| format!("loading {}", init.display()))?;
        model = m;
        eprintln!(
            "init from {}: {} tensors loaded, {} VIP5 parts at their init, {} unused{}",
            init.display(),
            report.loaded,
            report.initialised.len(),
            report.unused.len(),
            if report.truncated_vocab_rows > 0 {
                format!(", {} vocab rows cut", report.truncated_vocab_rows)
            } else {
                String::new()
            }
        );
    } else if args.mode == ModeArg::Adapters {
        eprintln!(
            "warning: adapter mode without --init trains adapters on a random frozen backbone"
        );
    }
    // Parameters are initialised lazily; draw them now, right after seeding, so their values
    // never depend on what runs first (forks for data parallelism, per-step dropout seeds).
    model = model.with_train_mode(args.mode.train_mode(), cfg.train_input_tables);
    vip5::model::initialize_params(&model);
    if let (ItemInitArg::PpmiSvd, Some(c)) = (args.item_init, item_counts) {
        model = init_item_rows(model, cfg, tokenizer, c, args.seed, device)?;
    }
    Ok(model)
}

/// Starts the item tokens' embedding rows from the training co-occurrence
/// ([`vip5::data::item_factors`]), at the scale of the N(0,1) table around them.
fn init_item_rows(
    mut model: Vip5Model,
    cfg: &Vip5Config,
    tokenizer: &PromptTokenizer,
    counts: &ItemCounts,
    seed: u64,
    device: &Device,
) -> Result<Vip5Model> {
    let base = tokenizer.item_token_base().context("--item-init needs --item-tokens")? as usize;
    let t0 = Instant::now();
    let factors = item_factors(
        counts,
        cfg.item_tokens,
        cfg.d_model,
        FactorParams { seed, ..FactorParams::default() },
    )?;
    let rows = Tensor::<2>::from_data(
        burn::tensor::TensorData::new(factors, [cfg.item_tokens, cfg.d_model]),
        device,
    );
    let id = model.shared.weight.id;
    let table = model
        .shared
        .weight
        .val()
        .slice_assign([base..base + cfg.item_tokens, 0..cfg.d_model], rows)
        .detach()
        .require_grad();
    model.shared.weight = Param::initialized(id, table);
    eprintln!(
        "item rows from the PPMI factorisation ({} items x {}) in {:.1} s",
        cfg.item_tokens,
        cfg.d_model,
        t0.elapsed().as_secs_f64()
    );
    Ok(model)
}

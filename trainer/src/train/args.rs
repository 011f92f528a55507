//! The flags of `trainer train`. They are saved with every checkpoint (a resume must match
//! them), so a field's name and serde default are part of the checkpoint format.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use vip5::Task;

use crate::common::ModeArg;
use crate::common::device::DeviceArg;

#[derive(Args, Clone, Debug, Serialize, Deserialize)]
pub struct TrainArgs {
    /// Prepared data folder (`trainer prepare`).
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder: checkpoints, losses.jsonl, model.safetensors, config.json, train_report.json,
    /// and `epochs/N/` (model.safetensors + config.json after epoch N, for a learning curve).
    #[arg(long)]
    pub out: PathBuf,
    /// Model preset: tiny, demo or t5-small.
    #[arg(long, default_value = "demo")]
    pub preset: String,
    #[arg(long, value_enum, default_value = "adapters")]
    pub mode: ModeArg,
    /// Initial weights: a Hugging Face T5 `model.safetensors` (t5-small) or a VIP5/P5 checkpoint
    /// (safetensors with HF/VIP5 names). Absent VIP5 parts start at their init.
    #[arg(long)]
    pub init: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Samples per optimizer step and device (before accumulation).
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Micro-batches accumulated per optimizer step.
    #[arg(long, default_value_t = 1)]
    pub grad_accum: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Share of the steps spent warming up linearly (then linear decay to 0).
    #[arg(long, default_value_t = 0.1)]
    pub warmup_ratio: f64,
    /// Global gradient-norm clip.
    #[arg(long, default_value_t = 5.0)]
    pub clip_norm: f64,
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    #[arg(long, default_value_t = 1e-6)]
    pub adam_eps: f64,
    #[arg(long, default_value_t = 2022)]
    pub seed: u64,
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceArg,
    /// Task families to train: sequential, direct (explanation needs review data, not shipped).
    #[arg(long, value_delimiter = ',', default_value = "sequential,direct")]
    pub tasks: Vec<String>,
    /// Sequential samples per user and epoch (VIP5: 10).
    #[arg(long, default_value_t = 10)]
    pub sequential_per_user: usize,
    /// Direct samples per user and epoch (VIP5: 10).
    #[arg(long, default_value_t = 10)]
    pub direct_per_user: usize,
    /// Share of samples prompted as an anonymous visitor (`{user_desc}` = "a visitor").
    #[arg(long, default_value_t = 0.2)]
    pub anonymous_share: f64,
    /// Share of sequential samples that ask yes/no instead of naming the next item
    /// (default: a uniform draw over A-1..A-8, as the original, so a quarter).
    #[arg(long)]
    #[serde(default)]
    pub yes_no_share: Option<f64>,
    /// Input length limit in tokens (right truncation, as the original).
    #[arg(long, default_value_t = 512)]
    pub max_input_len: usize,
    /// Target length limit in tokens before `</s>` (VIP5: 64).
    #[arg(long, default_value_t = 64)]
    pub max_target_len: usize,
    /// Keep at most this many newest history items per prompt (default: all, as the original).
    #[arg(long)]
    pub max_history_items: Option<usize>,
    /// Candidates' negatives in B-5..B-8 (VIP5: 99).
    #[arg(long, default_value_t = 99)]
    pub candidate_negatives: usize,
    /// Weigh every sample 1 instead of the original's 1/target_length.
    #[arg(long)]
    pub uniform_loss_weight: bool,
    /// Train the whole-word and category tables too (frozen in the original).
    #[arg(long)]
    pub train_input_tables: bool,
    /// Write a checkpoint every N optimizer steps (and at the end of each epoch).
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: usize,
    /// Continue from the latest checkpoint in `--out` (same optimizer state, schedule, data order).
    #[arg(long)]
    pub resume: bool,
    /// Stop after this many optimizer steps in total (the schedule still spans all epochs).
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Data parallelism: split every batch over this many devices, one thread each, and let burn
    /// sum their gradients (`MultiGradientsParams`). With `--device wgpu` device i is discrete GPU
    /// i; with `--device cpu` all shards share the one CPU device, each shard with its own
    /// autodiff graph, so 2 uses both cores of a 2-core machine (burn's CPU kernels are mostly
    /// single-threaded at these sizes); with dropout on the CPU the shards take turns (they share
    /// the device's RNG, and a run must draw the same masks every time).
    #[arg(long, default_value_t = 1)]
    #[serde(default = "one")]
    pub data_parallel: usize,
    /// Dropout rate (default: the preset's, 0.1 as VIP5).
    #[arg(long)]
    #[serde(default)]
    pub dropout: Option<f64>,
    /// Write each item as one new token `<item_N>` (independent indexing) instead of its number's
    /// SentencePiece pieces: the vocabulary grows by the catalogue size. Needs `--mode scratch`
    /// or a checkpoint trained with item tokens (t5-small's table has no rows for them).
    #[arg(long)]
    #[serde(default)]
    pub item_tokens: bool,
    /// Which sequential windows an epoch trains on: `original` draws `--sequential-per-user`
    /// windows per user ending in the last few training positions (VIP5); `every` trains each
    /// position of every user's training part once per epoch as a target, with the items before
    /// it as history (`--sequential-per-user` is then unused).
    #[arg(long, value_enum, default_value = "original")]
    #[serde(default)]
    pub sequential_windows: WindowsArg,
    /// How the item tokens' embedding rows start: `random` (N(0,1), as every other row) or
    /// `ppmi-svd` (a rank-d factorisation of the training parts' item co-occurrence, so the
    /// model starts knowing which items go together). Needs `--item-tokens`.
    #[arg(long, value_enum, default_value = "random")]
    #[serde(default)]
    pub item_init: ItemInitArg,
    /// Score the first target token over the item tokens (and yes/no) only, as constrained
    /// decoding chooses among them; later tokens keep the full vocabulary. Needs `--item-tokens`.
    #[arg(long)]
    #[serde(default)]
    pub item_softmax: bool,
    /// With `--item-softmax`, score the later target steps (`</s>` after an item, after yes/no)
    /// over the same small vocabulary plus `</s>` instead of all 44 k tokens: the full-vocabulary
    /// head of that one step was about a fifth of a demo training step. Constrained decoding
    /// forces `</s>` there anyway; unconstrained decoding then relies on it as on the first step.
    #[arg(long)]
    #[serde(default)]
    pub item_softmax_rest: bool,
    /// Weight of a soft target in the first step of sequential item targets: the windowed
    /// co-occurrence distribution of the prompt's history, counted over every other user's
    /// training part (the user's own counts are removed, so the target is never in it by its own
    /// doing). 0 = one-hot targets only. Needs `--item-softmax`.
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub distill_weight: f64,
    /// Sharpening of that soft target: each item's co-occurrence share is raised to this power
    /// and renormalised, so the strongest successors of the history carry more of the target
    /// (the count's own top ranks are what NDCG rewards). 1 = the shares as counted.
    #[arg(long, default_value_t = 1.0)]
    #[serde(default = "unit_power")]
    pub distill_sharpen: f64,
    /// Logit adjustment (Menon et al. 2021) of the first step: train on the item logits plus
    /// tau * ln(1 + the item's count in the training parts), so the model's own scores come out
    /// divided by that prior to the power tau and rarer items get their share of the ranking.
    /// The model and its forward pass are unchanged; only the training loss sees the prior.
    /// 0 = off. Needs `--item-softmax`.
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub logit_adjust: f64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowsArg {
    #[default]
    Original,
    Every,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemInitArg {
    #[default]
    Random,
    PpmiSvd,
}

/// Serde default for settings added after a checkpoint format was first written.
fn one() -> usize {
    1
}

impl TrainArgs {
    /// Checks the flags against each other before anything is read or built.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 || self.grad_accum == 0 || self.epochs == 0 {
            bail!("--batch-size, --grad-accum and --epochs must be positive");
        }
        if self.mode == ModeArg::Scratch && self.init.is_some() {
            bail!("--mode scratch starts from random weights; drop --init or use --mode full");
        }
        if (self.item_softmax || self.item_init != ItemInitArg::Random) && !self.item_tokens {
            bail!("--item-softmax and --item-init need --item-tokens");
        }
        if !(0.0..=1.0).contains(&self.distill_weight) {
            bail!("--distill-weight must be in [0, 1]");
        }
        if self.item_softmax_rest && !self.item_softmax {
            bail!("--item-softmax-rest needs --item-softmax");
        }
        if !(self.logit_adjust.is_finite() && self.logit_adjust >= 0.0) {
            bail!("--logit-adjust must be a number >= 0, got {}", self.logit_adjust);
        }
        if !(self.distill_sharpen.is_finite() && self.distill_sharpen > 0.0) {
            bail!("--distill-sharpen must be a number > 0, got {}", self.distill_sharpen);
        }
        if self.logit_adjust > 0.0 && !self.item_softmax {
            bail!("--logit-adjust needs --item-softmax (it adjusts the first step's item logits)");
        }
        if self.distill_weight > 0.0 && !self.item_softmax {
            bail!(
                "--distill-weight needs --item-softmax (the soft target lives on the item \
                 vocabulary)"
            );
        }
        if self.item_init == ItemInitArg::PpmiSvd && self.mode == ModeArg::Adapters {
            bail!("--item-init ppmi-svd trains the item rows: use --mode scratch or full");
        }
        if let Some(share) = self.yes_no_share
            && !(0.0..=1.0).contains(&share)
        {
            bail!("--yes-no-share must be in [0, 1], got {share}");
        }
        if self.data_parallel == 0 {
            bail!("--data-parallel must be at least 1");
        }
        Ok(())
    }

    /// Samples per optimizer step: `--batch-size` x `--grad-accum`.
    pub fn samples_per_step(&self) -> usize {
        self.batch_size * self.grad_accum
    }

    /// The tasks `--tasks` names.
    pub fn tasks(&self) -> Result<Vec<Task>> {
        self.tasks
            .iter()
            .map(|t| match t.trim() {
                "sequential" => Ok(Task::Sequential),
                "direct" => Ok(Task::Direct),
                "explanation" => bail!(
                    "explanation needs review data (exp_splits), which this build cannot read yet"
                ),
                other => bail!("unknown task `{other}` (sequential, direct)"),
            })
            .collect()
    }
}

fn unit_power() -> f64 {
    1.0
}

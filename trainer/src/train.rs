//! `trainer train`: VIP5 training as docs/vip5.md §4 describes it, seeded, resumable, on any
//! device.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer, MultiGradientsParams};
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Tensor};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use vip5::batch::{EncoderBatch, EncoderSample};
use vip5::data::counts::{CountMethod, CountParams, ItemCounts};
use vip5::data::item_factors::{FactorParams, item_factors};
use vip5::data::{PopularityBaseline, training_items};
use vip5::prompt::sampling::{
    MIN_TRAINING_WINDOW_ITEMS, SamplerConfig, Split, TrainingSample, UserRecord, direct_sample,
    sequential_sample, sequential_sample_at,
};
use vip5::prompt::{NO_TOKEN_ID, YES_TOKEN_ID};
use vip5::prompt::{PromptTokenizer, encode_rendered};
use vip5::{Task, TrainMode, Vip5Config, Vip5Model};

use crate::device::{DeviceArg, make_devices};
use crate::files::{write_atomic, write_new};
use crate::loss::{FirstStepVocab, SoftTargets, TargetBatch, first_step_loss, seq2seq_loss};
use crate::prepare::{Prepared, read_prepared};

/// The t5-small tokenizer shipped in `data/`.
pub const TOKENIZER_JSON: &[u8] = include_bytes!("../../data/tokenizers/t5-small/tokenizer.json");

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub enum ModeArg {
    /// VIP5: adapters, visual mapping and norm gains train; the backbone is frozen.
    Adapters,
    /// P5-style full fine-tuning of every parameter.
    Full,
    /// Full training of a randomly initialised backbone (no pretrained T5 needed).
    Scratch,
}

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

/// Saved with every checkpoint; a resume must match it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    step: usize,
    args: TrainArgs,
    config: Vip5Config,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StepLog {
    step: usize,
    epoch: usize,
    loss: f64,
    lr: f64,
    grad_norm: f64,
}

/// One sample ready for a batch.
struct Example {
    enc: EncoderSample,
    target: Vec<u32>,
    /// The sequential window (prompt history, next item), for soft targets.
    window: Option<(Vec<u32>, u32)>,
}

/// One sample of an epoch: its task, the user, and for `--sequential-windows every` the
/// position of the target in the user's items.
#[derive(Debug, Clone, Copy)]
struct PlanEntry {
    task: Task,
    user: usize,
    end: Option<usize>,
}

fn tasks_of(args: &TrainArgs) -> Result<Vec<Task>> {
    args.tasks
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

/// The fewest training items a task's sample is drawn from: a user below it gets none (a
/// training-only user of a temporal split may have that few).
fn min_training_items(task: Task) -> usize {
    match task {
        Task::Sequential => MIN_TRAINING_WINDOW_ITEMS,
        _ => 1,
    }
}

/// The epoch's sample plan, shuffled with a seed derived from the run seed and the epoch, so any
/// step can be rebuilt without replaying earlier steps.
fn epoch_plan(
    args: &TrainArgs,
    tasks: &[Task],
    prepared: &Prepared,
    epoch: usize,
) -> Vec<PlanEntry> {
    let mut plan = Vec::new();
    for &task in tasks {
        for (u, seq) in prepared.sequences.iter().enumerate() {
            let train = training_items(seq).len();
            if task == Task::Sequential && args.sequential_windows == WindowsArg::Every {
                // targets at every training position but the first
                for end in 1..train {
                    plan.push(PlanEntry { task, user: u, end: Some(end) });
                }
            } else if train >= min_training_items(task) {
                let per_user = if task == Task::Sequential {
                    args.sequential_per_user
                } else {
                    args.direct_per_user
                };
                plan.extend(std::iter::repeat_n(PlanEntry { task, user: u, end: None }, per_user));
            }
        }
    }
    plan.shuffle(&mut StdRng::seed_from_u64(mix(args.seed, epoch as u64, 0)));
    plan
}

/// A well-spread 64-bit hash of three numbers (SplitMix64 finaliser over their combination).
pub fn mix(a: u64, b: u64, c: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ c.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct SampleSource<'a> {
    args: &'a TrainArgs,
    cfg: &'a Vip5Config,
    prepared: &'a Prepared,
    tokenizer: &'a PromptTokenizer,
    all_items: Vec<u32>,
    sampler: SamplerConfig,
}

impl SampleSource<'_> {
    fn sample(&self, entry: PlanEntry, rng: &mut StdRng) -> Result<TrainingSample> {
        let (task, user_index) = (entry.task, entry.user);
        let seq = &self.prepared.sequences[user_index];
        let user = UserRecord {
            id: seq.user,
            desc: self
                .prepared
                .user_keys
                .get(seq.user as usize - 1)
                .cloned()
                .unwrap_or_else(|| seq.user.to_string()),
            items: seq.items.clone(),
            evaluated: seq.evaluated,
        };
        let titles = |i: u32| self.prepared.titles.get(&i).cloned();
        Ok(match task {
            Task::Sequential => match entry.end {
                Some(end) => {
                    sequential_sample_at(&user, end, None, &self.all_items, &self.sampler, rng)?
                }
                None => sequential_sample(
                    &user,
                    Split::Train,
                    None,
                    &self.all_items,
                    &self.sampler,
                    rng,
                )?,
            },
            _ => direct_sample(
                &user,
                Split::Train,
                None,
                &self.all_items,
                &titles,
                &self.sampler,
                rng,
            )?,
        })
    }

    fn example(&self, sample: &TrainingSample) -> Result<Example> {
        let (enc, images) = encode_rendered(
            self.tokenizer,
            &sample.prompt,
            Some(self.args.max_input_len),
            self.cfg.n_vis_tokens,
        )?;
        let target = self.tokenizer.encode_target(&sample.target, self.args.max_target_len)?;
        Ok(Example {
            enc: EncoderSample {
                input_ids: enc.input_ids,
                whole_word_ids: enc.whole_word_ids,
                vis_feats: images
                    .iter()
                    .map(|&i| self.prepared.feature(i, self.cfg.feat_dim))
                    .collect(),
            },
            target,
            window: sample.window.clone(),
        })
    }
}

/// The learning rate after `step` optimizer steps: HF's linear warm-up then linear decay
/// (`get_linear_schedule_with_warmup`; the first step uses factor 0 as there).
pub fn learning_rate(step: usize, total: usize, warmup: usize, lr: f64) -> f64 {
    if step < warmup {
        lr * step as f64 / warmup.max(1) as f64
    } else {
        lr * (total.saturating_sub(step)) as f64 / (total.saturating_sub(warmup)).max(1) as f64
    }
}

/// Scales all gradients so their global L2 norm is at most `max_norm` (PyTorch's
/// `clip_grad_norm_`, not burn's per-tensor clipping). Returns the norm before clipping.
fn clip_global_norm<M: Module>(
    model: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> Result<f64> {
    struct Norm<'a> {
        grads: &'a GradientsParams,
        total: Option<Tensor<1>>,
    }
    impl ModuleVisitor for Norm<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(p.id) {
                let sq = g.square().sum();
                self.total = Some(match self.total.take() {
                    Some(t) => t + sq,
                    None => sq,
                });
            }
        }
    }
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f64,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(p.id) {
                self.grads.register(p.id, g.mul_scalar(self.factor));
            }
        }
    }
    let mut norm = Norm { grads, total: None };
    model.visit(&mut norm);
    let Some(total) = norm.total else { bail!("no parameter received a gradient") };
    let norm = (total.into_scalar::<f32>() as f64).sqrt();
    if norm.is_finite() && norm > max_norm {
        let mut scale = Scale { grads, factor: max_norm / (norm + 1e-6) };
        model.visit(&mut scale);
    }
    Ok(norm)
}

fn checkpoint_dir(out: &Path) -> PathBuf {
    out.join("checkpoints")
}

/// Writes a checkpoint atomically: everything goes to a temporary folder that is renamed into
/// place, then `latest` is replaced; a killed run leaves the previous checkpoint intact.
fn save_checkpoint(
    out: &Path,
    state: &CheckpointState,
    model: &Vip5Model,
    optim: &ModuleOptimizer,
) -> Result<()> {
    let dir = checkpoint_dir(out);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = format!("step-{:08}", state.step);
    let tmp = dir.join(format!("{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    let written = (|| -> Result<()> {
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let model_bytes = model
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| anyhow::anyhow!("serialising the model: {e:?}"))?;
        write_new(&tmp.join("model.bpk"), &model_bytes)?;
        let optim_bytes =
            optim.into_bytes().map_err(|e| anyhow::anyhow!("serialising the optimizer: {e:?}"))?;
        write_new(&tmp.join("optimizer.bpk"), &optim_bytes)?;
        write_new(&tmp.join("state.json"), &serde_json::to_vec_pretty(state)?)
    })();
    if let Err(e) = written {
        // (a full disk, say): the folder of the unfinished checkpoint goes, `latest` and the
        // checkpoint it names stay as they were
        let _ = std::fs::remove_dir_all(&tmp);
        let previous = std::fs::read_to_string(dir.join("latest")).map(|n| n.trim().to_string());
        let keep = match previous {
            Ok(n) => format!(
                "the previous checkpoint {} is intact (resume with --resume)",
                dir.join(n).display()
            ),
            Err(_) => "there is no earlier checkpoint".to_string(),
        };
        return Err(
            e.context(format!("saving the checkpoint of step {} failed; {keep}", state.step))
        );
    }
    let final_dir = dir.join(&name);
    // A folder of this name is not the one `latest` names (a step is saved once per run; one
    // left by a run that died before updating `latest` is stale): replace it.
    let _ = std::fs::remove_dir_all(&final_dir);
    std::fs::rename(&tmp, &final_dir)
        .with_context(|| format!("renaming {} to {}", tmp.display(), final_dir.display()))?;
    write_atomic(&dir.join("latest"), name.as_bytes())?;
    // keep the two newest checkpoints
    let mut all: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .filter(|n| n.starts_with("step-") && !n.ends_with(".tmp"))
        .collect();
    all.sort();
    for old in all.iter().take(all.len().saturating_sub(2)) {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(())
}

fn load_checkpoint(
    out: &Path,
    model: Vip5Model,
    optim: ModuleOptimizer,
) -> Result<(CheckpointState, Vip5Model, ModuleOptimizer)> {
    let dir = checkpoint_dir(out);
    let name = std::fs::read_to_string(dir.join("latest"))
        .with_context(|| format!("no checkpoint to resume in {}", dir.display()))?;
    let ck = dir.join(name.trim());
    let state: CheckpointState = serde_json::from_slice(&std::fs::read(ck.join("state.json"))?)?;
    let record =
        ModuleRecord::from_bytes(Bytes::from_bytes_vec(std::fs::read(ck.join("model.bpk"))?))
            .map_err(|e| anyhow::anyhow!("reading {}: {e:?}", ck.join("model.bpk").display()))?;
    let model = model.load_record(record);
    let optim =
        optim.from_bytes(Bytes::from_bytes_vec(std::fs::read(ck.join("optimizer.bpk"))?)).map_err(
            |e| anyhow::anyhow!("reading {}: {e:?}", ck.join("optimizer.bpk").display()),
        )?;
    Ok((state, model, optim))
}

/// Peak resident memory of this process in bytes (Linux `VmHWM`); lavapipe's buffers live there too.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

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

pub fn run(args: TrainArgs) -> Result<()> {
    let tasks = tasks_of(&args)?;
    if args.batch_size == 0 || args.grad_accum == 0 || args.epochs == 0 {
        bail!("--batch-size, --grad-accum and --epochs must be positive");
    }
    if args.mode == ModeArg::Scratch && args.init.is_some() {
        bail!("--mode scratch starts from random weights; drop --init or use --mode full");
    }
    if (args.item_softmax || args.item_init != ItemInitArg::Random) && !args.item_tokens {
        bail!("--item-softmax and --item-init need --item-tokens");
    }
    if !(0.0..=1.0).contains(&args.distill_weight) {
        bail!("--distill-weight must be in [0, 1]");
    }
    if args.item_softmax_rest && !args.item_softmax {
        bail!("--item-softmax-rest needs --item-softmax");
    }
    if !(args.logit_adjust.is_finite() && args.logit_adjust >= 0.0) {
        bail!("--logit-adjust must be a number >= 0, got {}", args.logit_adjust);
    }
    if !(args.distill_sharpen.is_finite() && args.distill_sharpen > 0.0) {
        bail!("--distill-sharpen must be a number > 0, got {}", args.distill_sharpen);
    }
    if args.logit_adjust > 0.0 && !args.item_softmax {
        bail!("--logit-adjust needs --item-softmax (it adjusts the first step's item logits)");
    }
    if args.distill_weight > 0.0 && !args.item_softmax {
        bail!(
            "--distill-weight needs --item-softmax (the soft target lives on the item vocabulary)"
        );
    }
    if args.item_init == ItemInitArg::PpmiSvd && args.mode == ModeArg::Adapters {
        bail!("--item-init ppmi-svd trains the item rows: use --mode scratch or full");
    }
    let prepared = read_prepared(&args.data)?;
    let cfg = run_config(&args, &prepared)?;
    prepared.check_feature_dim(&args.data, cfg.feat_dim)?;
    let tokenizer = PromptTokenizer::for_config(TOKENIZER_JSON, &cfg)?;
    if let Some(share) = args.yes_no_share
        && !(0.0..=1.0).contains(&share)
    {
        bail!("--yes-no-share must be in [0, 1], got {share}");
    }
    if args.data_parallel == 0 {
        bail!("--data-parallel must be at least 1");
    }
    let devices = make_devices(args.device, args.data_parallel)?;
    let device = devices[0].clone();
    device.seed(args.seed);
    let train_device: Device = device.clone().autodiff();
    let shard_devices: Vec<Device> = devices.iter().map(|d| d.clone().autodiff()).collect();
    let mut model = Vip5Model::new(&cfg, &train_device);
    if let Some(init) = &args.init {
        let bytes = std::fs::read(init).with_context(|| format!("reading {}", init.display()))?;
        let (m, report) = vip5::weights::load_safetensors(model, &bytes, &cfg)
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
    let mode = if args.mode == ModeArg::Adapters { TrainMode::Adapters } else { TrainMode::Full };
    // Parameters are initialised lazily; draw them now, right after seeding, so their values
    // never depend on what runs first (forks for data parallelism, per-step dropout seeds).
    model = model.with_train_mode(mode, cfg.train_input_tables);
    vip5::model::initialize_params(&model);
    let counts = model.param_counts(mode, cfg.train_input_tables);
    // Training-part counts, fitted once for the item init and the soft targets.
    let item_counts = (args.item_init == ItemInitArg::PpmiSvd || args.distill_weight > 0.0)
        .then(|| ItemCounts::fit(&prepared.sequences, CountParams::default()));
    if let (ItemInitArg::PpmiSvd, Some(c)) = (args.item_init, &item_counts) {
        model = init_item_rows(model, &cfg, &tokenizer, c, args.seed, &train_device)?;
    }
    let first_step = if args.item_softmax {
        let base = tokenizer.item_token_base().context("--item-softmax needs --item-tokens")?;
        Some(FirstStepVocab::new(vec![YES_TOKEN_ID, NO_TOKEN_ID], base, cfg.item_tokens))
    } else {
        None
    };
    // The first step's logit adjustment, per position of its vocabulary (yes/no: 0).
    let first_step_bias: Option<Vec<f32>> =
        first_step.as_ref().filter(|_| args.logit_adjust > 0.0).map(|vocab| {
            let popularity = PopularityBaseline::fit(&prepared.sequences);
            let mut bias = vec![0f32; vocab.len()];
            for item in 1..=cfg.item_tokens as u32 {
                if let Some(pos) = vocab.index_of_item(item) {
                    let count = popularity.count(item) as f64;
                    bias[pos] = (args.logit_adjust * (1.0 + count).ln()) as f32;
                }
            }
            bias
        });
    let later_steps = first_step
        .as_ref()
        .filter(|_| args.item_softmax_rest)
        .map(|v| v.with_extra(cfg.eos_token_id));
    let teacher = item_counts
        .as_ref()
        .filter(|_| args.distill_weight > 0.0)
        .map(|counts| Teacher { counts, sharpen: args.distill_sharpen });

    let mut optim = AdamWConfig::new()
        .with_epsilon(args.adam_eps as f32)
        .with_weight_decay(args.weight_decay as f32)
        .init();

    let users = prepared.sequences.len();
    let samples_per_epoch = epoch_plan(&args, &tasks, &prepared, 0).len();
    let per_step = args.batch_size * args.grad_accum;
    let steps_per_epoch = samples_per_epoch.div_ceil(per_step);
    let total_steps = steps_per_epoch * args.epochs;
    let warmup = (total_steps as f64 * args.warmup_ratio) as usize;
    std::fs::create_dir_all(&args.out)?;

    let mut start_step = 0;
    if args.resume {
        let (state, m, o) = load_checkpoint(&args.out, model, optim)?;
        let (a, b) = (serde_json::to_value(&state.args)?, serde_json::to_value(&args)?);
        let differs: Vec<&String> = a
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys())
            .filter(|k| {
                !["resume", "max_steps", "checkpoint_every"].contains(&k.as_str()) && a[*k] != b[*k]
            })
            .collect();
        if !differs.is_empty() {
            bail!("--resume with different settings than the checkpoint: {differs:?}");
        }
        model = m;
        optim = o;
        start_step = state.step;
        eprintln!("resuming at step {start_step} of {total_steps}");
    }
    // losses.jsonl holds one line per finished step: drop lines past the resume point.
    let log_path = args.out.join("losses.jsonl");
    let kept: Vec<String> = std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| serde_json::from_str::<StepLog>(l).is_ok_and(|s| s.step <= start_step))
        .map(str::to_string)
        .collect();
    // rewritten atomically: a kill here must not lose the lines before the resume point
    write_atomic(&log_path, kept.iter().map(|l| format!("{l}\n")).collect::<String>().as_bytes())?;
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;

    let ctx = SampleSource {
        args: &args,
        cfg: &cfg,
        prepared: &prepared,
        tokenizer: &tokenizer,
        all_items: prepared.all_items(),
        sampler: SamplerConfig {
            n_vis_tokens: cfg.n_vis_tokens,
            num_candidates_negatives: args.candidate_negatives,
            anonymous_share: args.anonymous_share,
            yes_no_share: args.yes_no_share,
            max_history_items: args.max_history_items,
            item_naming: tokenizer.item_naming(),
        },
    };
    let end_step = args.max_steps.map_or(total_steps, |m| m.min(total_steps));
    eprintln!(
        "training {} ({} params, {} trainable = {:.2} %) on {:?}: {users} users, {samples_per_epoch} samples/epoch, {steps_per_epoch} steps/epoch x {} epochs, batch {} x {}",
        args.preset,
        counts.total,
        counts.trainable,
        counts.trainable_percent(),
        args.device,
        args.epochs,
        args.batch_size,
        args.grad_accum
    );
    let bar = ProgressBar::new(end_step as u64);
    bar.set_style(
        ProgressStyle::with_template("train [{bar:40}] {pos}/{len} {per_sec} eta {eta} {msg}")?
            .progress_chars("=> "),
    );
    bar.set_position(start_step as u64);

    // Dropout draws from one stream per device, seeded per step (the CPU: vip5's mask stream):
    // shards that share a device would draw in whatever order their threads run, so with dropout
    // they take turns and every run draws the same masks.
    let shared_rng = cfg.dropout_rate > 0.0 && args.device == DeviceArg::Cpu;
    let mut plan_epoch = usize::MAX;
    let mut plan = Vec::new();
    let started = Instant::now();
    let mut step_times = Vec::new();
    let mut phases = PhaseTimes::default();
    for step in start_step..end_step {
        let t0 = Instant::now();
        let epoch = step / steps_per_epoch;
        if epoch != plan_epoch {
            plan = epoch_plan(&args, &tasks, &prepared, epoch);
            plan_epoch = epoch;
        }
        // Dropout draws from the device RNG (the CPU: from vip5's mask stream): seed it per step
        // so a resumed run draws the same.
        vip5::t5::dropout::seed(&train_device, mix(args.seed, step as u64, 1));
        let lr = learning_rate(step, total_steps, warmup, args.lr);
        let mut grads_total: Option<GradientsParams> = None;
        let mut loss_sum = 0.0;
        let in_epoch = step % steps_per_epoch;
        for micro in 0..args.grad_accum {
            let t_phase = Instant::now();
            let first = in_epoch * per_step + micro * args.batch_size;
            let idx: Vec<usize> = (first..(first + args.batch_size).min(plan.len())).collect();
            if idx.is_empty() {
                continue;
            }
            let mut examples = Vec::with_capacity(idx.len());
            for &i in &idx {
                let mut rng = StdRng::seed_from_u64(mix(args.seed, epoch as u64, 2 + i as u64));
                examples.push(ctx.example(&ctx.sample(plan[i], &mut rng)?)?);
            }
            let users_of: Vec<usize> = idx.iter().map(|&i| plan[i].user).collect();
            // One task per batch for per-task adapters (as the original: the first sample's).
            let task = plan[idx[0]].task;
            // The batch in prompt-length order (a stable sort), so each chunk below pads only to
            // its own longest prompt (Beauty's prompts: 22-85 tokens, mean 52). The loss is a sum
            // over samples: the order changes nothing but the float summation order.
            let mut batch: Vec<(Example, usize)> = examples.into_iter().zip(users_of).collect();
            batch.sort_by_key(|(e, _)| e.enc.input_ids.len());
            let (examples, users_of): (Vec<Example>, Vec<usize>) = batch.into_iter().unzip();
            let encs: Vec<EncoderSample> = examples.iter().map(|e| e.enc.clone()).collect();
            let soft = match (&first_step, &teacher) {
                (Some(vocab), Some(teacher)) => Some(teacher.soft_targets(
                    vocab,
                    &examples,
                    &users_of,
                    &prepared,
                    args.distill_weight,
                )),
                _ => None,
            };
            let targets: Vec<Vec<u32>> = examples.into_iter().map(|e| e.target).collect();
            // Data parallelism: each shard runs on its own thread and device (on the CPU all
            // shards share the one device, each with its own autodiff graph, so the cores work in
            // parallel); burn sums the shards' gradients, in shard order.
            let shards = shard_chunks(encs.len(), shard_devices.len());
            phases.add("samples", t_phase.elapsed().as_secs_f64());
            let run_chunk =
                |shard_model: &Vip5Model,
                 range: &std::ops::Range<usize>,
                 dev: &Device|
                 -> anyhow::Result<(f64, Option<GradientsParams>, [f64; 2])> {
                    let t_fwd = Instant::now();
                    let x = EncoderBatch::new(&encs[range.clone()], &cfg)?.to_tensors(dev);
                    let tb = TargetBatch::new(
                        &targets[range.clone()],
                        cfg.decoder_start_token_id,
                        !args.uniform_loss_weight,
                    );
                    // shard mean -> its share of the batch mean, and of the accumulated step
                    let share = range.len() as f64 / encs.len() as f64 / args.grad_accum as f64;
                    let loss = match &first_step {
                        Some(vocab) => {
                            let hidden =
                                shard_model.forward_hidden(&x, tb.decoder_inputs(dev), task);
                            let shard_soft =
                                soft.as_ref().map(|s| s.rows(range.clone(), vocab.len()));
                            first_step_loss(
                                hidden,
                                shard_model.output_rows(),
                                &tb,
                                vocab,
                                shard_soft.as_ref(),
                                first_step_bias.as_deref(),
                                later_steps.as_ref(),
                            )?
                        }
                        None => {
                            seq2seq_loss(shard_model.forward(&x, tb.decoder_inputs(dev), task), &tb)
                        }
                    }
                    .mul_scalar(share);
                    let value = loss.clone().into_scalar::<f32>() as f64;
                    let forward_s = t_fwd.elapsed().as_secs_f64();
                    if !value.is_finite() {
                        return Ok((value, None, [forward_s, 0.0]));
                    }
                    let t_bwd = Instant::now();
                    let grads = GradientsParams::from_grads(loss.backward(), shard_model);
                    Ok((value, Some(grads), [forward_s, t_bwd.elapsed().as_secs_f64()]))
                };
            // One thread's chunks, one after the other, their gradients summed on its device.
            let run_shard = |chunks: &Vec<std::ops::Range<usize>>,
                             dev: &Device|
             -> anyhow::Result<(f64, GradientsParams, [f64; 2])> {
                let shard_model =
                    if shard_devices.len() == 1 { model.clone() } else { model.clone().fork(dev) };
                let (mut value, mut times, mut total) = (0.0, [0.0; 2], None::<GradientsParams>);
                for range in chunks {
                    let (v, grads, [f, b]) = run_chunk(&shard_model, range, dev)?;
                    value += v;
                    times = [times[0] + f, times[1] + b];
                    let Some(grads) = grads else { return Ok((v, GradientsParams::new(), times)) };
                    total = Some(add_gradients(&shard_model, total, grads));
                }
                Ok((value, total.unwrap_or_else(GradientsParams::new), times))
            };
            let t_shards = Instant::now();
            let results: Vec<anyhow::Result<(f64, GradientsParams, [f64; 2])>> =
                if shards.len() == 1 || shared_rng {
                    shards
                        .iter()
                        .zip(&shard_devices)
                        .map(|(range, dev)| run_shard(range, dev))
                        .collect()
                } else {
                    // The shards run as tasks of burn's own rayon pool, not on threads of their own:
                    // a thread outside the pool that calls a parallel kernel hands the work over and
                    // sleeps until it is done, so with two cores most of a step went to hand-overs
                    // (1.4 cores busy). Inside the pool a kernel's parallel parts run on the calling
                    // worker unless the other one is free to steal them.
                    use rayon::prelude::*;
                    shards
                        .par_iter()
                        .zip(shard_devices.par_iter())
                        .map(|(range, dev)| {
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                run_shard(range, dev)
                            }))
                            .unwrap_or_else(|_| {
                                Err(anyhow::anyhow!("a training shard's thread panicked"))
                            })
                        })
                        .collect()
                };
            phases.add("forward+backward (wall)", t_shards.elapsed().as_secs_f64());
            let t_merge = Instant::now();
            let mut multi = MultiGradientsParams::default();
            for (shard, (result, dev)) in results.into_iter().zip(&shard_devices).enumerate() {
                let (value, grads, [forward_s, backward_s]) = result?;
                if shard == 0 {
                    phases.add("forward (shard 0)", forward_s);
                    phases.add("backward (shard 0)", backward_s);
                }
                if !value.is_finite() {
                    bar.abandon();
                    bail!(
                        "loss is {value} at step {step} (epoch {epoch}); stopped without saving. The last good checkpoint is in {} (resume with --resume, e.g. with a lower --lr)",
                        checkpoint_dir(&args.out).display()
                    );
                }
                loss_sum += value;
                multi.grads.push((grads, dev.clone()));
            }
            let grads = merge_gradients(&model, multi, &train_device);
            phases.add("merge gradients", t_merge.elapsed().as_secs_f64());
            grads_total = Some(add_gradients(&model, grads_total, grads));
        }
        let Some(mut grads) = grads_total else { continue };
        let t_opt = Instant::now();
        let grad_norm = clip_global_norm(&model, &mut grads, args.clip_norm)?;
        phases.add("clip norm", t_opt.elapsed().as_secs_f64());
        let t_opt = Instant::now();
        model = optim.step(lr, model, grads);
        phases.add("optimizer", t_opt.elapsed().as_secs_f64());
        writeln!(
            log,
            "{}",
            serde_json::to_string(&StepLog {
                step: step + 1,
                epoch,
                loss: loss_sum,
                lr,
                grad_norm
            })?
        )?;
        step_times.push(t0.elapsed().as_secs_f64());
        bar.set_message(format!("loss {loss_sum:.4}"));
        bar.inc(1);
        let done = step + 1;
        if done % args.checkpoint_every == 0 || done % steps_per_epoch == 0 || done == end_step {
            let state = CheckpointState { step: done, args: args.clone(), config: cfg.clone() };
            save_checkpoint(&args.out, &state, &model, &optim)?;
        }
        if done % steps_per_epoch == 0 && done < end_step {
            // The weights after each epoch, ready for `trainer eval` (a validation learning curve).
            let dir = args.out.join("epochs").join((done / steps_per_epoch).to_string());
            std::fs::create_dir_all(&dir)?;
            write_atomic(
                &dir.join("model.safetensors"),
                &vip5::weights::save_safetensors(&model.valid())?,
            )?;
            write_atomic(&dir.join("config.json"), &serde_json::to_vec_pretty(&cfg)?)?;
        }
    }
    bar.finish();
    log.flush()?;

    let inference = model.valid();
    write_atomic(
        &args.out.join("model.safetensors"),
        &vip5::weights::save_safetensors(&inference)?,
    )?;
    write_atomic(&args.out.join("config.json"), &serde_json::to_vec_pretty(&cfg)?)?;
    let mean_step = if step_times.is_empty() {
        0.0
    } else {
        step_times.iter().sum::<f64>() / step_times.len() as f64
    };
    let report = serde_json::json!({
        "preset": args.preset,
        "mode": args.mode,
        "device": format!("{:?}", args.device),
        "steps": end_step - start_step,
        "seconds": started.elapsed().as_secs_f64(),
        "mean_step_seconds": mean_step,
        "samples_per_second": if mean_step > 0.0 { per_step as f64 / mean_step } else { 0.0 },
        "peak_rss_bytes": peak_rss_bytes(),
        "phase_seconds_per_step": phases.means(step_times.len()),
        "params_total": counts.total,
        "params_trainable": counts.trainable,
    });
    write_atomic(&args.out.join("train_report.json"), &serde_json::to_vec_pretty(&report)?)?;
    println!("{report}");
    Ok(())
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

fn unit_power() -> f64 {
    1.0
}

/// Soft targets from the windowed co-occurrence of the other users' training parts.
struct Teacher<'a> {
    counts: &'a ItemCounts,
    sharpen: f64,
}

impl Teacher<'_> {
    fn soft_targets(
        &self,
        vocab: &FirstStepVocab,
        examples: &[Example],
        users: &[usize],
        prepared: &Prepared,
        weight: f64,
    ) -> SoftTargets {
        let v = vocab.len();
        let mut probs = vec![0.0f32; examples.len() * v];
        let mut has = vec![0.0f32; examples.len()];
        for (row, (e, &u)) in examples.iter().zip(users).enumerate() {
            // only item targets (A-7/A-8 answer yes/no)
            let Some((history, _)) = &e.window else { continue };
            if !e.target.first().is_some_and(|&t| vocab.is_item_token(t)) {
                continue;
            }
            let own = ItemCounts::fit_parts(
                [training_items(&prepared.sequences[u])],
                self.counts.params(),
            );
            let dist = self.counts.leave_one_out_distribution(
                &own,
                CountMethod::Cooccurrence,
                history,
                self.sharpen,
            );
            if dist.is_empty() {
                continue;
            }
            for (item, p) in dist {
                if let Some(i) = vocab.index_of_item(item) {
                    probs[row * v + i] = p as f32;
                }
            }
            has[row] = 1.0;
        }
        SoftTargets { weight, probs, has }
    }
}

impl SoftTargets {
    /// The rows of one data-parallel shard.
    fn rows(&self, range: std::ops::Range<usize>, v: usize) -> SoftTargets {
        SoftTargets {
            weight: self.weight,
            probs: self.probs[range.start * v..range.end * v].to_vec(),
            has: self.has[range].to_vec(),
        }
    }
}

/// Wall time per phase of a step, summed over the run (reported per step in the train report,
/// so a profile of where a step goes needs no profiler).
#[derive(Default)]
struct PhaseTimes(Vec<(&'static str, f64)>);

impl PhaseTimes {
    fn add(&mut self, name: &'static str, seconds: f64) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, s)) => *s += seconds,
            None => self.0.push((name, seconds)),
        }
    }

    fn means(&self, steps: usize) -> serde_json::Value {
        let n = steps.max(1) as f64;
        serde_json::Value::Object(
            self.0.iter().map(|(k, s)| (k.to_string(), serde_json::json!(s / n))).collect(),
        )
    }
}

/// Each thread's chunks of a length-sorted batch: `2 * threads` equal chunks, thread `t` taking
/// chunk `t` and chunk `2 * threads - 1 - t`, so every thread gets one shorter and one longer
/// chunk and they finish at about the same time.
fn shard_chunks(n: usize, threads: usize) -> Vec<Vec<std::ops::Range<usize>>> {
    let chunks = shard_ranges(n, 2 * threads);
    let k = chunks.len();
    let mut out: Vec<Vec<std::ops::Range<usize>>> =
        (0..threads.min(k)).map(|t| vec![chunks[t].clone()]).collect();
    for (j, chunk) in chunks.iter().enumerate().skip(out.len()) {
        out[k - 1 - j].push(chunk.clone());
    }
    out
}

/// Splits `n` samples into `parts` contiguous ranges (the first ones one longer), dropping empty ones.
fn shard_ranges(n: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let (base, extra) = (n / parts, n % parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let r = start..start + len;
            start += len;
            r
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// Sums the devices' gradients with burn's `MultiGradientsParams` and puts each parameter's
/// gradient on the model's device, ready for clipping and the optimizer step.
fn merge_gradients<M: Module>(
    model: &M,
    mut multi: MultiGradientsParams,
    device: &Device,
) -> GradientsParams {
    if multi.grads.len() == 1 {
        return multi.grads.pop().map(|(g, _)| g).unwrap_or_default();
    }
    struct Merge<'a> {
        multi: &'a mut MultiGradientsParams,
        out: GradientsParams,
        device: &'a Device,
    }
    impl ModuleVisitor for Merge<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some((g, _)) = self.multi.remove::<D>(p.id) {
                self.out.register(p.id, g.to_device(self.device));
            }
        }
    }
    let mut merge = Merge { multi: &mut multi, out: GradientsParams::new(), device };
    model.visit(&mut merge);
    merge.out
}

/// Adds `more` into `acc`, parameter by parameter.
/// `total + more` (`more` alone when there is no total yet).
fn add_gradients<M: Module>(
    model: &M,
    total: Option<GradientsParams>,
    more: GradientsParams,
) -> GradientsParams {
    match total {
        None => more,
        Some(mut acc) => {
            accumulate(model, &mut acc, more);
            acc
        }
    }
}

fn accumulate<M: Module>(model: &M, acc: &mut GradientsParams, mut more: GradientsParams) {
    struct Add<'a> {
        acc: &'a mut GradientsParams,
        more: &'a mut GradientsParams,
    }
    impl ModuleVisitor for Add<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some(g) = self.more.remove::<D>(p.id) {
                let sum = match self.acc.remove::<D>(p.id) {
                    Some(a) => a + g,
                    None => g,
                };
                self.acc.register(p.id, sum);
            }
        }
    }
    model.visit(&mut Add { acc, more: &mut more });
}

#[cfg(test)]
mod tests {
    use super::shard_chunks;

    /// Every sample lands in exactly one chunk, and each thread pairs a short chunk with a long
    /// one (the batch is sorted by prompt length before this split).
    #[test]
    fn chunks_cover_the_batch_once_and_pair_short_with_long() {
        assert_eq!(shard_chunks(128, 2), vec![vec![0..32, 96..128], vec![32..64, 64..96]]);
        assert_eq!(shard_chunks(10, 1), vec![vec![0..5, 5..10]]);
        assert_eq!(shard_chunks(1, 2), vec![vec![0..1]]);
        for n in 0..40 {
            for threads in 1..5 {
                let mut seen: Vec<usize> =
                    shard_chunks(n, threads).into_iter().flatten().flatten().collect();
                seen.sort();
                assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n {n}, threads {threads}");
                assert!(shard_chunks(n, threads).len() <= threads);
            }
        }
    }
}

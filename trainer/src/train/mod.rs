//! `trainer train`: VIP5 training as docs/vip5.md §4 describes it, seeded, resumable, on any
//! device.
//!
//! A run: the flags ([`args`]) are checked, the starting model is built ([`setup`]) with the
//! run's objective ([`objective`]), a checkpoint is resumed when asked ([`checkpoint`]), then each
//! optimizer step ([`step`]) trains on its part of the epoch's plan ([`plan`]); checkpoints and
//! per-epoch weights are saved on the way and the final weights and report at the end
//! ([`report`]).

mod args;
mod checkpoint;
mod objective;
mod plan;
mod report;
mod setup;
mod step;

use std::io::Write;
use std::time::Instant;

use anyhow::Result;
use burn::optim::AdamWConfig;
use indicatif::{ProgressBar, ProgressStyle};
use vip5::data::counts::{CountParams, ItemCounts};
use vip5::prompt::PromptTokenizer;
use vip5::prompt::sampling::SamplerConfig;

pub use args::TrainArgs;

use crate::common::TOKENIZER_JSON;
use crate::common::device::{DeviceArg, make_devices};
use crate::common::prepared::read_prepared;
use args::ItemInitArg;
use checkpoint::{CheckpointState, open_step_log, resume, save_checkpoint, save_epoch_weights};
use objective::Objective;
use plan::{SampleSource, epoch_plan};
use report::{PhaseTimes, RunTimes};
use step::{StepContext, train_step};

pub fn run(args: TrainArgs) -> Result<()> {
    let tasks = args.tasks()?;
    args.validate()?;
    let prepared = read_prepared(&args.data)?;
    let cfg = setup::run_config(&args, &prepared)?;
    prepared.check_feature_dim(&args.data, cfg.feat_dim)?;
    let tokenizer = PromptTokenizer::for_config(TOKENIZER_JSON, &cfg)?;
    let devices = make_devices(args.device, args.data_parallel)?;
    let device = devices[0].clone();
    device.seed(args.seed);
    let train_device = device.clone().autodiff();
    let shard_devices: Vec<_> = devices.iter().map(|d| d.clone().autodiff()).collect();
    // Training-part counts, fitted once for the item init and the soft targets.
    let item_counts = (args.item_init == ItemInitArg::PpmiSvd || args.distill_weight > 0.0)
        .then(|| ItemCounts::fit(&prepared.sequences, CountParams::default()));
    let model = setup::initial_model(&args, &cfg, &tokenizer, item_counts.as_ref(), &train_device)?;
    let counts = model.param_counts(args.mode.train_mode(), cfg.train_input_tables);
    let objective = Objective::new(&args, &cfg, &tokenizer, &prepared, item_counts.as_ref())?;
    let optim = AdamWConfig::new()
        .with_epsilon(args.adam_eps as f32)
        .with_weight_decay(args.weight_decay as f32)
        .init();

    let users = prepared.sequences.len();
    let samples_per_epoch = epoch_plan(&args, &tasks, &prepared, 0).len();
    let steps_per_epoch = samples_per_epoch.div_ceil(args.samples_per_step());
    let total_steps = steps_per_epoch * args.epochs;
    let warmup = (total_steps as f64 * args.warmup_ratio) as usize;
    std::fs::create_dir_all(&args.out)?;
    let (start_step, mut model, mut optim) = resume(&args, model, optim, total_steps)?;
    let mut log = open_step_log(&args.out, start_step)?;

    let samples = SampleSource {
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
        "training {} ({} params, {} trainable = {:.2} %) on {:?}: {users} users, \
         {samples_per_epoch} samples/epoch, {steps_per_epoch} steps/epoch x {} epochs, \
         batch {} x {}",
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

    let ctx = StepContext {
        args: &args,
        cfg: &cfg,
        prepared: &prepared,
        samples: &samples,
        objective: &objective,
        train_device: &train_device,
        shard_devices: &shard_devices,
        shared_rng: cfg.dropout_rate > 0.0 && args.device == DeviceArg::Cpu,
        steps_per_epoch,
        total_steps,
        warmup,
    };
    let mut times =
        RunTimes { started: Instant::now(), steps: Vec::new(), phases: PhaseTimes::default() };
    let mut plan_epoch = usize::MAX;
    let mut plan = Vec::new();
    for step in start_step..end_step {
        let t0 = Instant::now();
        let epoch = step / steps_per_epoch;
        if epoch != plan_epoch {
            plan = epoch_plan(&args, &tasks, &prepared, epoch);
            plan_epoch = epoch;
        }
        let (stepped, line) =
            match train_step(&ctx, model, &mut optim, step, &plan, &mut times.phases) {
                Ok(done) => done,
                Err(e) => {
                    bar.abandon();
                    return Err(e);
                }
            };
        model = stepped;
        let Some(line) = line else { continue };
        writeln!(log, "{}", serde_json::to_string(&line)?)?;
        times.steps.push(t0.elapsed().as_secs_f64());
        bar.set_message(format!("loss {:.4}", line.loss));
        bar.inc(1);
        let done = step + 1;
        if done % args.checkpoint_every == 0 || done % steps_per_epoch == 0 || done == end_step {
            let state = CheckpointState { step: done, args: args.clone(), config: cfg.clone() };
            save_checkpoint(&args.out, &state, &model, &optim)?;
        }
        if done % steps_per_epoch == 0 && done < end_step {
            save_epoch_weights(&args.out, done / steps_per_epoch, &model, &cfg)?;
        }
    }
    bar.finish();
    log.flush()?;
    report::finish(&args, &cfg, &model, &counts, end_step - start_step, &times)
}

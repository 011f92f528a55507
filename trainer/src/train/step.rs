//! One optimizer step: the micro-batches, their data-parallel shards, the gradients summed
//! across shards and micro-batches, the global-norm clip and the learning-rate schedule.

use std::ops::Range;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, ModuleOptimizer, MultiGradientsParams};
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use vip5::batch::{EncoderBatch, EncoderSample, TargetBatch};
use vip5::loss::{first_step_loss, seq2seq_loss};
use vip5::{Vip5Config, Vip5Model};

use super::args::TrainArgs;
use super::checkpoint::{StepLog, checkpoint_dir};
use super::objective::Objective;
use super::plan::{Example, PlanEntry, SampleSource};
use super::report::PhaseTimes;
use crate::common::mix;
use crate::common::prepared::Prepared;

/// What every step of a run reads.
pub struct StepContext<'a> {
    pub args: &'a TrainArgs,
    pub cfg: &'a Vip5Config,
    pub prepared: &'a Prepared,
    pub samples: &'a SampleSource<'a>,
    pub objective: &'a Objective<'a>,
    /// The model's device (with autodiff), where gradients are merged and the optimizer steps.
    pub train_device: &'a Device,
    /// One device per data-parallel shard (with autodiff).
    pub shard_devices: &'a [Device],
    /// Dropout draws from one stream per device, seeded per step (the CPU: vip5's mask stream):
    /// shards that share a device would draw in whatever order their threads run, so with
    /// dropout they take turns and every run draws the same masks.
    pub shared_rng: bool,
    pub steps_per_epoch: usize,
    pub total_steps: usize,
    pub warmup: usize,
}

/// One optimizer step: its `--grad-accum` micro-batches of the epoch's `plan`, their gradients
/// summed, clipped to the global norm, then AdamW. Returns the model after the step and the
/// step's log line; `None` when the plan has no sample left for this step (the model unchanged).
pub fn train_step(
    ctx: &StepContext,
    mut model: Vip5Model,
    optim: &mut ModuleOptimizer,
    step: usize,
    plan: &[PlanEntry],
    phases: &mut PhaseTimes,
) -> Result<(Vip5Model, Option<StepLog>)> {
    let args = ctx.args;
    let epoch = step / ctx.steps_per_epoch;
    // Dropout draws from the device RNG (the CPU: from vip5's mask stream): seed it per step
    // so a resumed run draws the same.
    vip5::t5::dropout::seed(ctx.train_device, mix(args.seed, step as u64, 1));
    let lr = learning_rate(step, ctx.total_steps, ctx.warmup, args.lr);
    let mut grads_total: Option<GradientsParams> = None;
    let mut loss_sum = 0.0;
    let in_epoch = step % ctx.steps_per_epoch;
    for micro in 0..args.grad_accum {
        let first = in_epoch * args.samples_per_step() + micro * args.batch_size;
        let idx: Vec<usize> = (first..(first + args.batch_size).min(plan.len())).collect();
        if idx.is_empty() {
            continue;
        }
        let (shard_losses, grads) = micro_batch(ctx, &model, step, epoch, plan, &idx, phases)?;
        loss_sum = shard_losses.iter().fold(loss_sum, |sum, loss| sum + loss);
        grads_total = Some(add_gradients(&model, grads_total, grads));
    }
    let Some(mut grads) = grads_total else { return Ok((model, None)) };
    let t_opt = Instant::now();
    let grad_norm = clip_global_norm(&model, &mut grads, args.clip_norm)?;
    phases.add("clip norm", t_opt.elapsed().as_secs_f64());
    let t_opt = Instant::now();
    model = optim.step(lr, model, grads);
    phases.add("optimizer", t_opt.elapsed().as_secs_f64());
    Ok((model, Some(StepLog { step: step + 1, epoch, loss: loss_sum, lr, grad_norm })))
}

/// The losses (per shard) and the summed gradients of one micro-batch (the samples `idx` of the
/// plan), each already scaled to its share of the accumulated step.
fn micro_batch(
    ctx: &StepContext,
    model: &Vip5Model,
    step: usize,
    epoch: usize,
    plan: &[PlanEntry],
    idx: &[usize],
    phases: &mut PhaseTimes,
) -> Result<(Vec<f64>, GradientsParams)> {
    let (args, cfg, objective) = (ctx.args, ctx.cfg, ctx.objective);
    let t_phase = Instant::now();
    let mut examples = Vec::with_capacity(idx.len());
    for &i in idx {
        let mut rng = StdRng::seed_from_u64(mix(args.seed, epoch as u64, 2 + i as u64));
        examples.push(ctx.samples.example(&ctx.samples.sample(plan[i], &mut rng)?)?);
    }
    let users_of: Vec<usize> = idx.iter().map(|&i| plan[i].user).collect();
    // One task per batch for per-task adapters (as the original: the first sample's).
    let task = plan[idx[0]].task;
    // The batch in prompt-length order (a stable sort), so each chunk below pads only to its own
    // longest prompt (Beauty's prompts: 22-85 tokens, mean 52). The loss is a sum over samples:
    // the order changes nothing but the float summation order.
    let mut batch: Vec<(Example, usize)> = examples.into_iter().zip(users_of).collect();
    batch.sort_by_key(|(e, _)| e.enc.input_ids.len());
    let (examples, users_of): (Vec<Example>, Vec<usize>) = batch.into_iter().unzip();
    let encs: Vec<EncoderSample> = examples.iter().map(|e| e.enc.clone()).collect();
    let soft = match (&objective.first_step, &objective.teacher) {
        (Some(vocab), Some(teacher)) => Some(teacher.soft_targets(
            vocab,
            &examples,
            &users_of,
            ctx.prepared,
            args.distill_weight,
        )),
        _ => None,
    };
    let targets: Vec<Vec<u32>> = examples.into_iter().map(|e| e.target).collect();
    // Data parallelism: each shard runs on its own thread and device (on the CPU all shards
    // share the one device, each with its own autodiff graph, so the cores work in parallel);
    // burn sums the shards' gradients, in shard order.
    let shards = shard_chunks(encs.len(), ctx.shard_devices.len());
    phases.add("samples", t_phase.elapsed().as_secs_f64());
    let run_chunk = |shard_model: &Vip5Model,
                     range: &Range<usize>,
                     dev: &Device|
     -> Result<(f64, Option<GradientsParams>, [f64; 2])> {
        let t_fwd = Instant::now();
        let x = EncoderBatch::new(&encs[range.clone()], cfg)?.to_tensors(dev);
        let tb = TargetBatch::new(
            &targets[range.clone()],
            cfg.decoder_start_token_id,
            !args.uniform_loss_weight,
        );
        // shard mean -> its share of the batch mean, and of the accumulated step
        let share = range.len() as f64 / encs.len() as f64 / args.grad_accum as f64;
        let loss = match &objective.first_step {
            Some(vocab) => {
                let hidden = shard_model.forward_hidden(&x, tb.decoder_inputs(dev), task);
                let shard_soft = soft.as_ref().map(|s| s.rows(range.clone(), vocab.len()));
                first_step_loss(
                    hidden,
                    shard_model.output_rows(),
                    &tb,
                    vocab,
                    shard_soft.as_ref(),
                    objective.first_step_bias.as_deref(),
                    objective.later_steps.as_ref(),
                )?
            }
            None => seq2seq_loss(shard_model.forward(&x, tb.decoder_inputs(dev), task), &tb)?,
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
    let run_shard =
        |chunks: &Vec<Range<usize>>, dev: &Device| -> Result<(f64, GradientsParams, [f64; 2])> {
            let shard_model =
                if ctx.shard_devices.len() == 1 { model.clone() } else { model.clone().fork(dev) };
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
    let results: Vec<Result<(f64, GradientsParams, [f64; 2])>> =
        if shards.len() == 1 || ctx.shared_rng {
            shards.iter().zip(ctx.shard_devices).map(|(range, dev)| run_shard(range, dev)).collect()
        } else {
            // The shards run as tasks of burn's own rayon pool, not on threads of their own: a
            // thread outside the pool that calls a parallel kernel hands the work over and sleeps
            // until it is done, so with two cores most of a step went to hand-overs (1.4 cores
            // busy). Inside the pool a kernel's parallel parts run on the calling worker unless
            // the other one is free to steal them.
            use rayon::prelude::*;
            shards
                .par_iter()
                .zip(ctx.shard_devices.par_iter())
                .map(|(range, dev)| {
                    // One shard per core already: the host kernels stay on the shard's thread.
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        vip5::nn::host_pool::serial(|| run_shard(range, dev))
                    }))
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a training shard's thread panicked")))
                })
                .collect()
        };
    phases.add("forward+backward (wall)", t_shards.elapsed().as_secs_f64());
    let t_merge = Instant::now();
    let mut multi = MultiGradientsParams::default();
    let mut shard_losses = Vec::with_capacity(shards.len());
    for (shard, (result, dev)) in results.into_iter().zip(ctx.shard_devices).enumerate() {
        let (value, grads, [forward_s, backward_s]) = result?;
        if shard == 0 {
            phases.add("forward (shard 0)", forward_s);
            phases.add("backward (shard 0)", backward_s);
        }
        if !value.is_finite() {
            bail!(
                "loss is {value} at step {step} (epoch {epoch}); stopped without saving. The last \
                 good checkpoint is in {} (resume with --resume, e.g. with a lower --lr)",
                checkpoint_dir(&args.out).display()
            );
        }
        shard_losses.push(value);
        multi.grads.push((grads, dev.clone()));
    }
    let grads = merge_gradients(model, multi, ctx.train_device);
    phases.add("merge gradients", t_merge.elapsed().as_secs_f64());
    Ok((shard_losses, grads))
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

/// Each thread's chunks of a length-sorted batch: `2 * threads` equal chunks, thread `t` taking
/// chunk `t` and chunk `2 * threads - 1 - t`, so every thread gets one shorter and one longer
/// chunk and they finish at about the same time.
fn shard_chunks(n: usize, threads: usize) -> Vec<Vec<Range<usize>>> {
    let chunks = shard_ranges(n, 2 * threads);
    let k = chunks.len();
    let mut out: Vec<Vec<Range<usize>>> =
        (0..threads.min(k)).map(|t| vec![chunks[t].clone()]).collect();
    for (j, chunk) in chunks.iter().enumerate().skip(out.len()) {
        out[k - 1 - j].push(chunk.clone());
    }
    out
}

/// Splits `n` samples into `parts` contiguous ranges (the first ones one longer), dropping empty ones.
fn shard_ranges(n: usize, parts: usize) -> Vec<Range<usize>> {
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

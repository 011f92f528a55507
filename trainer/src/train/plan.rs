//! What an epoch trains on: its sample plan (shuffled per epoch from the run seed, so any step
//! can be rebuilt without replaying the earlier ones) and the samples drawn from it.

use anyhow::Result;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use vip5::Task;
use vip5::Vip5Config;
use vip5::batch::EncoderSample;
use vip5::data::training_items;
use vip5::prompt::sampling::{
    MIN_TRAINING_WINDOW_ITEMS, SamplerConfig, Split, TrainingSample, UserRecord, direct_sample,
    sequential_sample, sequential_sample_at,
};
use vip5::prompt::{PromptTokenizer, encode_sample};

use super::args::{TrainArgs, WindowsArg};
use crate::common::mix;
use crate::common::prepared::Prepared;

/// One sample ready for a batch.
pub struct Example {
    pub enc: EncoderSample,
    pub target: Vec<u32>,
    /// The sequential window (prompt history, next item), for soft targets.
    pub window: Option<(Vec<u32>, u32)>,
}

/// One sample of an epoch: its task, the user, and for `--sequential-windows every` the
/// position of the target in the user's items.
#[derive(Debug, Clone, Copy)]
pub struct PlanEntry {
    pub task: Task,
    pub user: usize,
    pub end: Option<usize>,
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
pub fn epoch_plan(
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

/// Draws a plan entry's prompt and target and encodes them.
pub struct SampleSource<'a> {
    pub args: &'a TrainArgs,
    pub cfg: &'a Vip5Config,
    pub prepared: &'a Prepared,
    pub tokenizer: &'a PromptTokenizer,
    pub all_items: Vec<u32>,
    pub sampler: SamplerConfig,
}

impl SampleSource<'_> {
    pub fn sample(&self, entry: PlanEntry, rng: &mut StdRng) -> Result<TrainingSample> {
        let (task, user_index) = (entry.task, entry.user);
        let seq = &self.prepared.sequences[user_index];
        let user = UserRecord {
            id: seq.user,
            desc: self.prepared.user_description(seq.user),
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

    pub fn example(&self, sample: &TrainingSample) -> Result<Example> {
        let enc = encode_sample(
            self.tokenizer,
            &sample.prompt,
            Some(self.args.max_input_len),
            self.cfg.n_vis_tokens,
            |item| self.prepared.feature(item, self.cfg.feat_dim),
        )?;
        let target = self.tokenizer.encode_target(&sample.target, self.args.max_target_len)?;
        Ok(Example { enc, target, window: sample.window.clone() })
    }
}

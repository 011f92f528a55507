//! What the loss is made of beyond the plain seq2seq cross-entropy: the first step over the item
//! vocabulary (`--item-softmax`, `--item-softmax-rest`), its logit adjustment (`--logit-adjust`)
//! and the co-occurrence teacher's soft targets (`--distill-weight`).

use anyhow::{Context, Result};
use vip5::Vip5Config;
use vip5::data::PopularityBaseline;
use vip5::data::counts::{CountMethod, ItemCounts};
use vip5::data::training_items;
use vip5::loss::{FirstStepVocab, SoftTargets};
use vip5::prompt::{NO_TOKEN_ID, PromptTokenizer, YES_TOKEN_ID};

use super::args::TrainArgs;
use super::plan::Example;
use crate::common::prepared::Prepared;

/// The run's objective, fixed for the whole run.
pub struct Objective<'a> {
    /// The first step's small vocabulary (`--item-softmax`); `None`: the plain seq2seq loss.
    pub first_step: Option<FirstStepVocab>,
    /// The first step's logit adjustment, per position of its vocabulary (yes/no: 0).
    pub first_step_bias: Option<Vec<f32>>,
    /// The later steps' vocabulary (`--item-softmax-rest`: the first step's plus `</s>`).
    pub later_steps: Option<FirstStepVocab>,
    pub teacher: Option<Teacher<'a>>,
}

impl<'a> Objective<'a> {
    pub fn new(
        args: &TrainArgs,
        cfg: &Vip5Config,
        tokenizer: &PromptTokenizer,
        prepared: &Prepared,
        item_counts: Option<&'a ItemCounts>,
    ) -> Result<Self> {
        let first_step = if args.item_softmax {
            let base = tokenizer.item_token_base().context("--item-softmax needs --item-tokens")?;
            Some(FirstStepVocab::new(vec![YES_TOKEN_ID, NO_TOKEN_ID], base, cfg.item_tokens))
        } else {
            None
        };
        let first_step_bias: Option<Vec<f32>> =
            first_step.as_ref().filter(|_| args.logit_adjust > 0.0).map(|vocab| {
                let popularity = PopularityBaseline::fit(&prepared.sequences);
                let mut bias = vec![0f32; vocab.len()];
                for item in 1..=cfg.item_tokens as u32 {
                    if let Some(pos) = vocab.index_of_item(item) {
                        bias[pos] = (args.logit_adjust * popularity.log_count_prior(item)) as f32;
                    }
                }
                bias
            });
        let later_steps = first_step
            .as_ref()
            .filter(|_| args.item_softmax_rest)
            .map(|v| v.with_extra(cfg.eos_token_id));
        let teacher = item_counts
            .filter(|_| args.distill_weight > 0.0)
            .map(|counts| Teacher { counts, sharpen: args.distill_sharpen });
        Ok(Self { first_step, first_step_bias, later_steps, teacher })
    }
}

/// Soft targets from the windowed co-occurrence of the other users' training parts.
pub struct Teacher<'a> {
    pub counts: &'a ItemCounts,
    pub sharpen: f64,
}

impl Teacher<'_> {
    pub fn soft_targets(
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

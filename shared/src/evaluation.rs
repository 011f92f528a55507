//! Offline evaluation on leave-one-out splits, without files: the cases a model is asked
//! (prompt, history, candidates, target), the baselines that answer the same cases, and the
//! figures that say how personal a set of lists is. `trainer eval` reads the files, runs the
//! model and prints; everything it decides lives here.

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::adapter::Task;
use crate::batch::EncoderSample;
use crate::data::counts::{CountMethod, CountParams, ItemCounts};
use crate::data::{PopularityBaseline, Split, UserSequence, max_plus_one_guess, split_example};
use crate::error::{Result, Vip5Error};
use crate::metrics::{RankingMetrics, rank_by_score, scores_from_ranking};
use crate::prompt::sampling::sample_negatives;
use crate::prompt::templates::Template;
use crate::prompt::{
    HistorySeparator, PromptTokenizer, Slots, encode_sample, prompt_history, render,
};

/// One question to a model: its encoder input, the user's whole history (excluded from the
/// answers), the candidate list (B family) and the held-out item.
#[derive(Debug, Clone)]
pub struct EvalCase {
    pub sample: EncoderSample,
    pub history: Vec<u32>,
    pub candidates: Vec<u32>,
    pub target: u32,
}

/// What a case needs to know about its user.
pub struct CaseUser<'a> {
    pub sequence: &'a UserSequence,
    /// `{user_desc}` (reviewer name or id).
    pub desc: String,
}

/// Settings shared by every case of one evaluation.
pub struct CaseSettings<'a> {
    pub template: &'static Template,
    pub split: Split,
    pub tokenizer: &'a PromptTokenizer,
    pub n_vis_tokens: usize,
    pub max_input_len: usize,
    /// Newest history items in the prompt (`None`: all).
    pub history_cap: Option<usize>,
    /// B family: negatives beside the positive, drawn from `all_items` with `negative_seed`.
    pub candidate_negatives: usize,
    pub all_items: &'a [u32],
}

/// Builds the case of one user; `feature` gives an item's image features and `negative_seed`
/// seeds this user's B-family candidate draw.
pub fn build_case(
    settings: &CaseSettings<'_>,
    user: &CaseUser<'_>,
    feature: &dyn Fn(u32) -> Vec<f32>,
    negative_seed: u64,
) -> Result<EvalCase> {
    let seq = user.sequence;
    let ex = split_example(seq, settings.split)?;
    let mut slots = Slots {
        user_id: Some(seq.user.to_string()),
        user_desc: Some(user.desc.clone()),
        item_naming: settings.tokenizer.item_naming(),
        ..Slots::default()
    };
    let mut candidates = Vec::new();
    if settings.template.task == Task::Direct {
        // 1 positive + N negatives the user never interacted with, seeded per user.
        let mut rng = StdRng::seed_from_u64(negative_seed);
        candidates = sample_negatives(
            settings.all_items,
            &seq.items,
            settings.candidate_negatives,
            &mut rng,
        )?;
        candidates.push(ex.target);
        candidates.shuffle(&mut rng);
        slots.candidates = candidates.clone();
    } else {
        slots.history = prompt_history(ex.history, settings.history_cap).to_vec();
    }
    let rendered =
        render(settings.template, &slots, settings.n_vis_tokens, HistorySeparator::Comma)?;
    let sample = encode_sample(
        settings.tokenizer,
        &rendered,
        Some(settings.max_input_len),
        settings.n_vis_tokens,
        feature,
    )?;
    Ok(EvalCase { sample, history: ex.history.to_vec(), candidates, target: ex.target })
}

/// Every baseline a model row stands beside, fitted on the training parts only.
pub struct Baselines {
    pub popularity: PopularityBaseline,
    pub recent: PopularityBaseline,
    pub counts: ItemCounts,
}

impl Baselines {
    pub fn fit(sequences: &[UserSequence], params: CountParams) -> Self {
        Self {
            popularity: PopularityBaseline::fit(sequences),
            recent: PopularityBaseline::fit_recent(sequences),
            counts: ItemCounts::fit(sequences, params),
        }
    }

    /// The baselines' names, in the order [`Self::answer`] takes them.
    pub const NAMES: [&'static str; 5] = [
        "popularity",
        "recent popularity",
        "max(history)+1",
        "last-item transitions",
        "co-occurrence",
    ];

    /// Baseline `name`'s scored answer to `case`: its `k` best unseen items (A family), or the
    /// candidates in its order (B family).
    pub fn answer(
        &self,
        name: &str,
        case: &EvalCase,
        direct: bool,
        k: usize,
    ) -> Result<Vec<(u32, f64)>> {
        let ranked: Vec<u32> = match name {
            "max(history)+1" => max_plus_one_guess(&case.history)
                .into_iter()
                .filter(|g| !direct || case.candidates.contains(g))
                .collect(),
            "popularity" | "recent popularity" => {
                let p = if name == "popularity" { &self.popularity } else { &self.recent };
                if direct {
                    let mut c = case.candidates.clone();
                    c.sort_by_key(|&i| (std::cmp::Reverse(p.count(i)), i));
                    c
                } else {
                    p.recommend(&case.history, k)
                }
            }
            "last-item transitions" | "co-occurrence" => {
                let method = if name == "co-occurrence" {
                    CountMethod::Cooccurrence
                } else {
                    CountMethod::LastItemTransitions
                };
                let scores = self.counts.scores(method, &case.history);
                if direct {
                    // Candidates by score, then popularity, then id.
                    let mut c = case.candidates.clone();
                    c.sort_by(|a, b| {
                        let (sa, sb) = (
                            scores.get(a).copied().unwrap_or(0.0),
                            scores.get(b).copied().unwrap_or(0.0),
                        );
                        sb.total_cmp(&sa)
                            .then_with(|| self.popularity.count(*b).cmp(&self.popularity.count(*a)))
                            .then(a.cmp(b))
                    });
                    c
                } else {
                    ItemCounts::rank(&scores, &case.history, &self.popularity, k)
                }
            }
            other => return Err(Vip5Error::Input(format!("unknown baseline `{other}`"))),
        };
        Ok(scores_from_ranking(&ranked))
    }
}

/// Each case's scored answer as a ranked list (ties broken by a shuffle seeded with `seed`, in
/// the order [`RankingMetrics::evaluate`] draws them, so both see the same lists).
pub fn ranked_lists(scored: &[Vec<(u32, f64)>], seed: u64) -> Result<Vec<Vec<u32>>> {
    let mut rng = StdRng::seed_from_u64(seed);
    scored.iter().map(|s| rank_by_score(s, &mut rng)).collect()
}

/// HR/NDCG of scored answers against each case's target.
pub fn ranking_metrics(
    scored: &[Vec<(u32, f64)>],
    cases: &[EvalCase],
    seed: u64,
) -> Result<RankingMetrics> {
    let truth: Vec<[u32; 1]> = cases.iter().map(|c| [c.target]).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    RankingMetrics::evaluate(
        scored.iter().zip(&truth).map(|(s, t)| (s.as_slice(), t.as_slice())),
        &mut rng,
    )
}

/// How personal a set of top-k lists is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Personalisation {
    /// Distinct items over all users' top-k lists.
    pub distinct_items: usize,
    /// Mean share of a top-k list that another user's list also holds, over seeded random pairs
    /// of users (1.0: everyone gets the same list).
    pub pair_overlap: f64,
    /// Share of the top-k items that the popularity baseline's top-k for the same user holds.
    pub popularity_share: f64,
}

/// [`Personalisation`] of `lists` (best first) against the same users' popularity lists, over
/// `pairs` random pairs drawn with `seed`.
pub fn personalisation(
    lists: &[Vec<u32>],
    popularity: &[Vec<u32>],
    k: usize,
    pairs: usize,
    seed: u64,
) -> Result<Personalisation> {
    if lists.is_empty() || lists.len() != popularity.len() {
        return Err(Vip5Error::Input(format!(
            "{} lists against {} popularity lists",
            lists.len(),
            popularity.len()
        )));
    }
    let top = |l: &Vec<u32>| -> HashSet<u32> { l.iter().take(k).copied().collect() };
    let tops: Vec<HashSet<u32>> = lists.iter().map(top).collect();
    let distinct_items = tops.iter().flatten().collect::<HashSet<_>>().len();
    let (mut shared, mut total) = (0usize, 0usize);
    for (t, p) in tops.iter().zip(popularity) {
        let p = top(p);
        total += t.len();
        shared += t.iter().filter(|i| p.contains(i)).count();
    }
    let popularity_share = if total > 0 { shared as f64 / total as f64 } else { 0.0 };
    let mut pair_overlap = 0.0;
    if lists.len() > 1 {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = lists.len();
        let mut sum = 0.0;
        for _ in 0..pairs {
            // two distinct users, uniformly
            let i = rng.random_range(0..n);
            let j = rng.random_range(0..n - 1);
            let j = if j >= i { j + 1 } else { j };
            let (a, b) = (&tops[i], &tops[j]);
            sum += a.intersection(b).count() as f64 / a.len().max(1) as f64;
        }
        pair_overlap = sum / pairs.max(1) as f64;
    }
    Ok(Personalisation { distinct_items, pair_overlap, popularity_share })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personalisation_figures_by_hand() {
        let lists = vec![vec![1, 2], vec![1, 3], vec![1, 2]];
        let pop = vec![vec![1, 9], vec![9, 8], vec![2, 1]];
        let p = personalisation(&lists, &pop, 2, 3000, 7).unwrap();
        assert_eq!(p.distinct_items, 3);
        // shared with popularity: {1} + {} + {1, 2} = 3 of 6 items
        assert!((p.popularity_share - 0.5).abs() < 1e-12);
        // pairs: (0,1) 1/2, (0,2) 1, (1,2) 1/2 -> mean 2/3 over uniform pairs
        assert!((p.pair_overlap - 2.0 / 3.0).abs() < 0.03, "{}", p.pair_overlap);
        let same = vec![vec![4, 5]; 4];
        assert_eq!(personalisation(&same, &same, 2, 100, 1).unwrap().pair_overlap, 1.0);
        assert!(personalisation(&lists, &pop[..2], 2, 10, 1).is_err());
    }
}

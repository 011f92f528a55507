//! The simplest baselines reported beside every model figure: popularity over the training
//! parts ([`PopularityBaseline`]) and the numbering leak "max(history)+1"
//! ([`max_plus_one_guess`]), evaluated with [`crate::metrics`]. The count baselines are in
//! [`super::counts`].

use std::collections::{HashMap, HashSet};

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{Split, SplitExample, UserSequence, split_examples, training_items};
use crate::error::Result;
use crate::metrics::{RankingMetrics, ScoredList, scores_from_ranking};

/// Recommends the items bought most often in the training parts of all sequences.
#[derive(Debug, Clone)]
pub struct PopularityBaseline {
    /// Every item of the data set, most bought first, ties by ascending id.
    ranked_items: Vec<u32>,
    /// Training purchases per item.
    counts: HashMap<u32, usize>,
}

impl PopularityBaseline {
    /// Counts purchases over [`training_items`] of every sequence, so that no validation or test
    /// target is counted. Items seen only as targets stay in the ranking with a count of 0.
    pub fn fit(sequences: &[UserSequence]) -> Self {
        Self::fit_counting(sequences, training_items)
    }

    /// Recent popularity: counts only each user's newest training purchase (the item just before
    /// the validation item), a non-personal prior of what people buy next, which is stronger
    /// than all-time popularity on Beauty. Same ranking rules as [`Self::fit`].
    pub fn fit_recent(sequences: &[UserSequence]) -> Self {
        Self::fit_counting(sequences, |sequence| {
            let training = training_items(sequence);
            &training[training.len().saturating_sub(1)..]
        })
    }

    /// Counts the purchases `counted` picks from each sequence; every item of every sequence is
    /// ranked, most counted first, ties by ascending id.
    fn fit_counting(sequences: &[UserSequence], counted: impl Fn(&UserSequence) -> &[u32]) -> Self {
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for sequence in sequences {
            for &item in &sequence.items {
                counts.entry(item).or_insert(0);
            }
            for &item in counted(sequence) {
                *counts.entry(item).or_insert(0) += 1;
            }
        }
        let mut ranked_items: Vec<u32> = counts.keys().copied().collect();
        ranked_items.sort_unstable_by_key(|item| (std::cmp::Reverse(counts[item]), *item));
        Self { ranked_items, counts }
    }

    /// The `k` most popular items that are not in `history`, most popular first.
    pub fn recommend(&self, history: &[u32], k: usize) -> Vec<u32> {
        let seen: HashSet<u32> = history.iter().copied().collect();
        self.ranked_items.iter().copied().filter(|item| !seen.contains(item)).take(k).collect()
    }

    /// How often `item` was bought in the training parts.
    pub fn count(&self, item: u32) -> usize {
        self.counts.get(&item).copied().unwrap_or(0)
    }

    /// `ln(1 + count)`: the popularity prior that logit adjustment scales by its tau, in training
    /// (`trainer train --logit-adjust`, added to the first step's logits) and at evaluation
    /// (`trainer eval --popularity-adjust`, taken off the first step's scores).
    pub fn log_count_prior(&self, item: u32) -> f64 {
        (1.0 + self.count(item) as f64).ln()
    }

    /// All items, most popular first (ties by ascending id).
    pub fn ranked_items(&self) -> &[u32] {
        &self.ranked_items
    }
}

/// The leak baseline: guess the item numbered right after the largest id in the history
/// (`None` for an empty history or a maximum of `u32::MAX`).
pub fn max_plus_one_guess(history: &[u32]) -> Option<u32> {
    history.iter().copied().max()?.checked_add(1)
}

/// Evaluates ranked recommendation lists (best first) against each example's target: the item at
/// rank j gets score -(j+1) and [`RankingMetrics::evaluate`] averages over the examples. `seed`
/// drives the tie-breaking shuffle, which never changes the result here since the scores are
/// distinct.
pub fn evaluate_recommendations<F>(
    examples: &[SplitExample<'_>],
    mut recommend: F,
    seed: u64,
) -> Result<RankingMetrics>
where
    F: FnMut(&SplitExample<'_>) -> Vec<u32>,
{
    let scored: Vec<(ScoredList, [u32; 1])> = examples
        .iter()
        .map(|example| (scores_from_ranking(&recommend(example)), [example.target]))
        .collect();
    let mut rng = StdRng::seed_from_u64(seed);
    RankingMetrics::evaluate(scored.iter().map(|(s, t)| (s.as_slice(), t.as_slice())), &mut rng)
}

/// The popularity baseline (fitted on the training parts of `sequences`) on one split: the 10
/// most popular items outside each user's history.
pub fn evaluate_popularity(sequences: &[UserSequence], split: Split) -> Result<RankingMetrics> {
    let baseline = PopularityBaseline::fit(sequences);
    let examples = split_examples(sequences, split)?;
    evaluate_recommendations(&examples, |example| baseline.recommend(example.history, 10), 0)
}

/// The "max(history)+1" baseline on one split: a single guess per user, so HR@k = NDCG@k for
/// every k.
pub fn evaluate_max_plus_one(sequences: &[UserSequence], split: Split) -> Result<RankingMetrics> {
    let examples = split_examples(sequences, split)?;
    evaluate_recommendations(
        &examples,
        |example| max_plus_one_guess(example.history).into_iter().collect(),
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_data::*;
    use crate::data::*;

    #[test]
    fn baselines_by_hand() {
        // Training parts (all but the last two items): [1, 2, 3], [3, 2], [3], []:
        // counts 3 -> 3, 2 -> 2, 1 -> 1; items 4, 5, 6, 7, 8 only as targets, count 0.
        let sequences = vec![
            sequence(1, &[1, 2, 3, 4, 5]),
            sequence(2, &[3, 2, 6, 4]),
            sequence(3, &[3, 7, 8]),
            sequence(4, &[5, 6]),
        ];
        let baseline = PopularityBaseline::fit(&sequences);
        assert_eq!(baseline.ranked_items(), &[3, 2, 1, 4, 5, 6, 7, 8]);
        assert_eq!((baseline.count(3), baseline.count(5), baseline.count(99)), (3, 0, 0));
        assert_eq!(baseline.recommend(&[3, 1], 3), vec![2, 4, 5]);
        // Recent popularity counts only each user's newest training item: 3 (user 1), 2
        // (user 2), 3 (user 3); user 4 has none. 3 x2, 2 x1, then the zeros by id.
        let recent = PopularityBaseline::fit_recent(&sequences);
        assert_eq!(recent.ranked_items(), &[3, 2, 1, 4, 5, 6, 7, 8]);
        assert_eq!((recent.count(3), recent.count(2), recent.count(1)), (2, 1, 0));
        let recent = PopularityBaseline::fit_recent(&[
            sequence(1, &[1, 2, 9, 9]),
            sequence(2, &[4, 2, 8, 8]),
        ]);
        assert_eq!(
            recent.ranked_items()[..2],
            [2, 1],
            "2 is both users' newest training item, 1 and 4 count 0"
        );
        assert_eq!(max_plus_one_guess(&[4, 9, 2]), Some(10));
        assert_eq!(max_plus_one_guess(&[]), None);
        assert_eq!(max_plus_one_guess(&[u32::MAX]), None);

        // Test split: user 1 history [1,2,3,4] -> [5,6,7,8], target 5 at rank 1;
        // user 2 history [3,2,6] -> [1,4,5,7,8], target 4 at rank 2; user 3 history [3,7] ->
        // [2,1,4,5,6,8], target 8 at rank 6; user 4 history [5] -> [3,2,1,4,6,...], target 6 at
        // rank 5. HR@1 = 1/4, HR@5 = 3/4, HR@10 = 4/4;
        // NDCG@5 = (1 + 1/log2 3 + 1/log2 6) / 4, NDCG@10 = NDCG@5 + (1/log2 7) / 4.
        let metrics = evaluate_popularity(&sequences, Split::Test).unwrap();
        assert_eq!((metrics.hr1, metrics.hr5, metrics.hr10, metrics.users), (0.25, 0.75, 1.0, 4));
        let ndcg5 = (1.0 + 1.0 / 3f64.log2() + 1.0 / 6f64.log2()) / 4.0;
        assert!((metrics.ndcg5 - ndcg5).abs() < 1e-12, "{metrics:?}");
        assert!((metrics.ndcg10 - (ndcg5 + 1.0 / 7f64.log2() / 4.0)).abs() < 1e-12, "{metrics:?}");

        // max+1 on the test split: guesses 5 (hit), 7, 8 (hit), 6 (hit): 3/4 at every k.
        let leak = evaluate_max_plus_one(&sequences, Split::Test).unwrap();
        assert_eq!(
            (leak.hr1, leak.hr5, leak.ndcg5, leak.hr10, leak.ndcg10),
            (0.75, 0.75, 0.75, 0.75, 0.75)
        );
    }

    fn rounded_4(value: f64) -> f64 {
        (value * 1e4).round() / 1e4
    }

    /// The leak of docs/vip5.md §3.2: 986 of 22,363 test targets (4.41 %) and 755 validation
    /// targets (3.38 %) are max(history)+1 (counted by a separate Python pass over the file).
    #[test]
    fn beauty_max_plus_one_leak() {
        let sequences = beauty();
        let test = evaluate_max_plus_one(&sequences, Split::Test).unwrap();
        let expected = 986.0 / BEAUTY_USERS as f64;
        for value in [test.hr1, test.hr5, test.ndcg5, test.hr10, test.ndcg10] {
            assert!((value - expected).abs() < 1e-12, "{value}");
            assert_eq!(rounded_4(value), 0.0441);
        }
        let validation = evaluate_max_plus_one(&sequences, Split::Validation).unwrap();
        assert!((validation.hr1 - 755.0 / BEAUTY_USERS as f64).abs() < 1e-12);

        // After a random re-indexing the guess is right about as often as any other item.
        let (reindexed, _) = reindex_items(&sequences, 2022).unwrap();
        let shuffled = evaluate_max_plus_one(&reindexed, Split::Test).unwrap();
        assert!(shuffled.hr1 < 0.002, "HR@1 = {} after re-indexing", shuffled.hr1);
        assert_eq!(dataset_stats(&reindexed), dataset_stats(&sequences));
    }

    /// Popularity on Beauty's test targets. Expected values from a separate Python pass: counts
    /// over each sequence minus its last two items, ranking by (count desc, id asc), top 10 outside
    /// the test history; hits at 1/5/10 = 18/167/258 users.
    #[test]
    fn beauty_popularity_baseline() {
        let sequences = beauty();
        let baseline = PopularityBaseline::fit(&sequences);
        assert_eq!(&baseline.ranked_items()[..4], &[301, 775, 790, 279]);
        assert_eq!((baseline.count(301), baseline.count(279)), (369, 298));
        let test = evaluate_popularity(&sequences, Split::Test).unwrap();
        let users = BEAUTY_USERS as f64;
        assert!((test.hr1 - 18.0 / users).abs() < 1e-12, "{test:?}");
        assert!((test.hr5 - 167.0 / users).abs() < 1e-12, "{test:?}");
        assert!((test.hr10 - 258.0 / users).abs() < 1e-12, "{test:?}");
        assert!((test.ndcg5 - 0.004144133945376372).abs() < 1e-9, "{test:?}");
        assert!((test.ndcg10 - 0.005456137287095746).abs() < 1e-9, "{test:?}");
        let validation = evaluate_popularity(&sequences, Split::Validation).unwrap();
        assert!((validation.hr1 - 44.0 / users).abs() < 1e-12, "{validation:?}");
        assert!((validation.hr5 - 204.0 / users).abs() < 1e-12, "{validation:?}");
        assert!((validation.hr10 - 366.0 / users).abs() < 1e-12, "{validation:?}");
        assert!((validation.ndcg5 - 0.005613538628016899).abs() < 1e-9, "{validation:?}");
        assert!((validation.ndcg10 - 0.007961707848286252).abs() < 1e-9, "{validation:?}");

        // Re-indexed copy (seed 2022): item names change, counts do not, so only ties between
        // equally popular items can reorder; the figures stay within a few users of the above.
        let (reindexed, permutation) = reindex_items(&sequences, 2022).unwrap();
        let reindexed_baseline = PopularityBaseline::fit(&reindexed);
        assert_eq!(reindexed_baseline.count(permutation.new_id(301).unwrap()), 369);
        let shuffled = evaluate_popularity(&reindexed, Split::Test).unwrap();
        println!("Beauty popularity, test, original ids: {test:?}");
        println!("Beauty popularity, test, re-indexed (seed 2022): {shuffled:?}");
        for (original, reindexed) in [
            (test.hr5, shuffled.hr5),
            (test.ndcg5, shuffled.ndcg5),
            (test.hr10, shuffled.hr10),
            (test.ndcg10, shuffled.ndcg10),
        ] {
            assert!((original - reindexed).abs() < 10.0 / users, "{original} vs {reindexed}");
        }
    }
}

//! Count baselines: what a shop learns from its purchase log with no model at all.
//!
//! - Last-item transitions: how often item b was bought right after the history's newest item.
//! - Windowed co-occurrence (item-kNN): for each of the newest `history_items` items (weight
//!   `decay^k` for the k-th newest), the items bought within `window` positions of it
//!   (weight 1/distance), plus its transitions counted `transition_weight` times.
//!
//! Both are fitted on [`training_items`] only (never a validation or test target), exclude the
//! history from their lists, break ties by popularity then id, and fill short lists from the
//! popularity ranking, so they face the model on exactly its terms. They match the reference
//! `count_baselines.py` of the team's notes (tested in `tests/tests/baselines.rs` against
//! figures it printed).

use std::collections::{HashMap, HashSet};

use crate::data::{PopularityBaseline, UserSequence, training_items};

/// The shape of the co-occurrence baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CountParams {
    /// Positions on each side of an item that count as bought together.
    pub window: usize,
    /// How many of the newest history items vote.
    pub history_items: usize,
    /// Weight of the k-th newest history item: `decay^k`.
    pub decay: f64,
    /// Extra weight of a direct transition (a then b) over plain co-occurrence.
    pub transition_weight: f64,
}

impl Default for CountParams {
    fn default() -> Self {
        Self { window: 3, history_items: 5, decay: 0.5, transition_weight: 2.0 }
    }
}

/// Which count baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountMethod {
    LastItemTransitions,
    Cooccurrence,
}

impl CountMethod {
    pub const ALL: [CountMethod; 2] = [CountMethod::LastItemTransitions, CountMethod::Cooccurrence];

    /// The method's name in tables, `--json` and `--rankings-out`.
    pub fn name(self) -> &'static str {
        match self {
            CountMethod::LastItemTransitions => "last-item transitions",
            CountMethod::Cooccurrence => "co-occurrence",
        }
    }
}

/// Neighbour lists of every item, sorted by neighbour id (so sums run in a fixed order).
type Neighbours = HashMap<u32, Vec<(u32, f64)>>;

/// Transition and windowed co-occurrence counts over sequences.
#[derive(Debug, Clone)]
pub struct ItemCounts {
    params: CountParams,
    transitions: Neighbours,
    cooccurrence: Neighbours,
}

fn finish(raw: HashMap<u32, HashMap<u32, f64>>) -> Neighbours {
    raw.into_iter()
        .map(|(a, row)| {
            let mut row: Vec<(u32, f64)> = row.into_iter().collect();
            row.sort_unstable_by_key(|&(b, _)| b);
            (a, row)
        })
        .collect()
}

impl ItemCounts {
    /// Counts over the training parts of `sequences` (each user's items but the last two).
    pub fn fit(sequences: &[UserSequence], params: CountParams) -> Self {
        Self::fit_parts(sequences.iter().map(training_items), params)
    }

    /// Counts over the given sequences as they are (e.g. one user's training part).
    pub fn fit_parts<'a>(parts: impl IntoIterator<Item = &'a [u32]>, params: CountParams) -> Self {
        let mut transitions: HashMap<u32, HashMap<u32, f64>> = HashMap::new();
        let mut cooccurrence: HashMap<u32, HashMap<u32, f64>> = HashMap::new();
        for s in parts {
            for pair in s.windows(2) {
                *transitions.entry(pair[0]).or_default().entry(pair[1]).or_insert(0.0) += 1.0;
            }
            for (i, &a) in s.iter().enumerate() {
                let row = cooccurrence.entry(a).or_default();
                for (j, &b) in s
                    .iter()
                    .enumerate()
                    .take((i + params.window + 1).min(s.len()))
                    .skip(i.saturating_sub(params.window))
                {
                    if j != i {
                        *row.entry(b).or_insert(0.0) += 1.0 / i.abs_diff(j) as f64;
                    }
                }
            }
        }
        Self { params, transitions: finish(transitions), cooccurrence: finish(cooccurrence) }
    }

    pub fn params(&self) -> CountParams {
        self.params
    }

    /// The items bought right after `item`, with their counts.
    pub fn successors(&self, item: u32) -> &[(u32, f64)] {
        self.transitions.get(&item).map_or(&[], Vec::as_slice)
    }

    /// Every item's windowed co-occurrence row (neighbour, weight), sorted by neighbour id; an
    /// item that was bought alone has an empty row.
    pub fn cooccurrence(&self) -> impl Iterator<Item = (u32, &[(u32, f64)])> {
        self.cooccurrence.iter().map(|(&a, row)| (a, row.as_slice()))
    }

    /// Unnormalised scores of the next item after `history` (oldest first); history items are
    /// not removed here.
    pub fn scores(&self, method: CountMethod, history: &[u32]) -> HashMap<u32, f64> {
        let mut scores = HashMap::new();
        match method {
            CountMethod::LastItemTransitions => {
                if let Some(&last) = history.last() {
                    for &(b, c) in self.successors(last) {
                        scores.insert(b, c);
                    }
                }
            }
            CountMethod::Cooccurrence => {
                let p = self.params;
                for (k, &a) in history.iter().rev().take(p.history_items).enumerate() {
                    let w = p.decay.powi(k as i32);
                    for &(b, c) in self.cooccurrence.get(&a).map_or(&[][..], Vec::as_slice) {
                        *scores.entry(b).or_insert(0.0) += w * c;
                    }
                    for &(b, c) in self.successors(a) {
                        *scores.entry(b).or_insert(0.0) += p.transition_weight * w * c;
                    }
                }
            }
        }
        scores
    }

    /// The `k` best items outside `history` by `scores` (ties: more popular first, then lower
    /// id), filled from the popularity ranking when fewer items have a score.
    pub fn rank(
        scores: &HashMap<u32, f64>,
        history: &[u32],
        popularity: &PopularityBaseline,
        k: usize,
    ) -> Vec<u32> {
        let seen: HashSet<u32> = history.iter().copied().collect();
        let mut scored: Vec<(u32, f64)> = scores
            .iter()
            .filter(|&(i, &s)| s > 0.0 && !seen.contains(i))
            .map(|(&i, &s)| (i, s))
            .collect();
        scored.sort_unstable_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| popularity.count(b.0).cmp(&popularity.count(a.0)))
                .then(a.0.cmp(&b.0))
        });
        let mut ranked: Vec<u32> = scored.into_iter().take(k).map(|(i, _)| i).collect();
        if ranked.len() < k {
            let have: HashSet<u32> = ranked.iter().copied().collect();
            let fill: Vec<u32> = popularity
                .ranked_items()
                .iter()
                .copied()
                .filter(|i| !seen.contains(i) && !have.contains(i))
                .take(k - ranked.len())
                .collect();
            ranked.extend(fill);
        }
        ranked
    }

    /// [`Self::scores`] then [`Self::rank`].
    pub fn recommend(
        &self,
        method: CountMethod,
        history: &[u32],
        popularity: &PopularityBaseline,
        k: usize,
    ) -> Vec<u32> {
        Self::rank(&self.scores(method, history), history, popularity, k)
    }

    /// The next-item distribution over items outside `history` that the counts of everyone but
    /// one user give: `self`'s scores minus those of `own` (the counts of that user's own
    /// training part), each raised to `power` (1 = as counted; above 1 the strongest items carry
    /// more of the mass), normalised to sum 1. A training sample's target is then predicted the
    /// way a held-out target is, from other users' purchases only. Empty when nothing is left.
    pub fn leave_one_out_distribution(
        &self,
        own: &ItemCounts,
        method: CountMethod,
        history: &[u32],
        power: f64,
    ) -> Vec<(u32, f64)> {
        let mut scores = self.scores(method, history);
        for (item, s) in own.scores(method, history) {
            if let Some(v) = scores.get_mut(&item) {
                *v -= s;
            }
        }
        let seen: HashSet<u32> = history.iter().copied().collect();
        // Counts are sums of small positive terms: what is left of a subtraction below 1e-9 is 0.
        let mut out: Vec<(u32, f64)> =
            scores.into_iter().filter(|&(i, s)| s > 1e-9 && !seen.contains(&i)).collect();
        out.sort_unstable_by_key(|&(i, _)| i);
        if power != 1.0 {
            for (_, s) in &mut out {
                *s = s.powf(power);
            }
        }
        let total: f64 = out.iter().map(|&(_, s)| s).sum();
        if total > 0.0 {
            for (_, s) in &mut out {
                *s /= total;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Split;

    fn seq(user: u32, items: &[u32]) -> UserSequence {
        UserSequence::new(user, items.to_vec())
    }

    #[test]
    fn counts_come_from_training_parts_only() {
        // The last two items of each user (validation and test targets) never count.
        let data = [seq(1, &[1, 2, 3, 8, 9]), seq(2, &[1, 2, 4, 8, 9])];
        let c = ItemCounts::fit(&data, CountParams::default());
        assert_eq!(c.successors(1), &[(2, 2.0)]);
        assert_eq!(c.successors(2), &[(3, 1.0), (4, 1.0)]);
        assert!(c.successors(3).is_empty() && c.successors(8).is_empty());
    }

    #[test]
    fn cooccurrence_weights_by_distance_recency_and_transitions() {
        // One part 1 2 3: cooc(1,2)=1, cooc(1,3)=1/2, trans 1->2, 2->3.
        let c = ItemCounts::fit_parts([&[1u32, 2, 3][..]], CountParams::default());
        let s = c.scores(CountMethod::Cooccurrence, &[1]);
        assert_eq!(s[&2], 1.0 + 2.0 * 1.0);
        assert_eq!(s[&3], 0.5);
        // history [3, 1]: 1 is the newest (weight 1), 3 the second newest (weight 0.5):
        // item 2 gets 3 (from 1) + 0.5 * 1 (cooc with 3, distance 1) = 3.5
        let s = c.scores(CountMethod::Cooccurrence, &[3, 1]);
        assert_eq!(s[&2], 3.5);
    }

    #[test]
    fn ranking_excludes_history_breaks_ties_by_popularity_and_fills() {
        let data = [seq(1, &[1, 2, 7, 7]), seq(2, &[1, 3, 7, 7]), seq(3, &[3, 5, 6, 7, 7])];
        let pop = PopularityBaseline::fit(&data);
        let c = ItemCounts::fit(&data, CountParams::default());
        // After 1: 2 and 3 once each; 3 is more popular (bought twice). Then popularity fills
        // (5, 6 once; 7 never in a training part but a known item).
        let r = c.recommend(CountMethod::LastItemTransitions, &[1], &pop, 4);
        assert_eq!(r, vec![3, 2, 5, 6]);
        let r = c.recommend(CountMethod::LastItemTransitions, &[2, 1], &pop, 2);
        assert_eq!(r, vec![3, 5]);
    }

    /// Figures printed by the team's independent reference, `count_baselines.py
    /// data/amazon/beauty/sequential_data.txt [--split val]` (Python, standard library):
    /// (method, split, HR@10, NDCG@10, distinct items over the top-10 lists).
    const REFERENCE: [(CountMethod, Split, f64, f64, usize); 4] = [
        (CountMethod::LastItemTransitions, Split::Test, 0.0668, 0.0439, 10417),
        (CountMethod::Cooccurrence, Split::Test, 0.0791, 0.0497, 10917),
        (CountMethod::LastItemTransitions, Split::Validation, 0.0856, 0.0554, 10478),
        (CountMethod::Cooccurrence, Split::Validation, 0.1014, 0.0639, 10933),
    ];

    #[test]
    fn beauty_count_baselines_match_the_reference_script() {
        let data = crate::data::parse_sequential_data(include_str!(
            "../../../data/amazon/beauty/sequential_data.txt"
        ))
        .unwrap();
        let pop = PopularityBaseline::fit(&data);
        let counts = ItemCounts::fit(&data, CountParams::default());
        for (method, split, hr, ndcg, distinct) in REFERENCE {
            let examples = crate::data::split_examples(&data, split).unwrap();
            let mut items = HashSet::new();
            let m = crate::data::evaluate_recommendations(
                &examples,
                |e| {
                    let r = counts.recommend(method, e.history, &pop, 10);
                    items.extend(r.iter().copied());
                    r
                },
                0,
            )
            .unwrap();
            // Popularity fills ties by id here and by first appearance there: the 4th decimal
            // may move, the figures may not.
            assert!((m.hr10 - hr).abs() < 6e-4, "{method:?} {split:?} HR@10 {} vs {hr}", m.hr10);
            assert!(
                (m.ndcg10 - ndcg).abs() < 6e-4,
                "{method:?} {split:?} NDCG@10 {} vs {ndcg}",
                m.ndcg10
            );
            assert!(
                items.len().abs_diff(distinct) * 100 < distinct,
                "{method:?} {split:?} {} distinct vs {distinct}",
                items.len()
            );
        }
    }

    #[test]
    fn leave_one_out_removes_the_users_own_counts() {
        let data = [seq(1, &[1, 2, 0, 0]), seq(2, &[1, 3, 0, 0]), seq(3, &[1, 3, 0, 0])];
        let all = ItemCounts::fit(&data, CountParams::default());
        let own = ItemCounts::fit_parts([training_items(&data[0])], CountParams::default());
        let d = all.leave_one_out_distribution(&own, CountMethod::LastItemTransitions, &[1], 1.0);
        // user 1's own 1 -> 2 is gone; the others' 1 -> 3 (twice) is all that is left
        assert_eq!(d, vec![(3, 1.0)]);
        let d = all.leave_one_out_distribution(
            &ItemCounts::fit_parts([], CountParams::default()),
            CountMethod::LastItemTransitions,
            &[1],
            1.0,
        );
        assert_eq!(d, vec![(2, 1.0 / 3.0), (3, 2.0 / 3.0)]);
        // squared: counts 1 and 2 become 1 and 4, over 5
        let d = all.leave_one_out_distribution(
            &ItemCounts::fit_parts([], CountParams::default()),
            CountMethod::LastItemTransitions,
            &[1],
            2.0,
        );
        assert_eq!(d, vec![(2, 1.0 / 5.0), (3, 4.0 / 5.0)]);
    }
}

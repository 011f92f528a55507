//! Ranking metrics: HR@k and NDCG@k per user with binary relevance, ties broken by a seeded
//! shuffle before a stable sort by descending score (the notebooks' `evaluate_all`), the
//! evaluation notebook's way of turning generated beams into scores, and [`RankingMetrics`], the
//! average over users.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use rand::Rng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::error::{Result, Vip5Error};

/// One user's scored items, `(item, score)`.
pub type ScoredList = Vec<(u32, f64)>;
/// One user's scored items and true targets, as [`RankingMetrics::evaluate`] reads them.
pub type ScoredUser<'a> = (&'a [(u32, f64)], &'a [u32]);

/// Orders the scored items best first.
///
/// As in `evaluate_all`: the pairs are shuffled first and then stably sorted by descending score,
/// so tied items come out in a random order that `rng` fixes. Scores equal as numbers are tied
/// (`-0.0 == 0.0`, as in Python). NaN scores and repeated items are rejected: the original held
/// the scores in a dict, so an item cannot appear twice.
pub fn rank_by_score<R: Rng + ?Sized>(scored: &[(u32, f64)], rng: &mut R) -> Result<Vec<u32>> {
    check_distinct(scored.iter().map(|&(item, _)| item), "scored list")?;
    if let Some(&(item, _)) = scored.iter().find(|(_, score)| score.is_nan()) {
        return Err(Vip5Error::Input(format!("the score of item {item} is NaN")));
    }
    let mut shuffled = scored.to_vec();
    shuffled.shuffle(rng);
    // NaN was rejected above, so `partial_cmp` always answers; `sort_by` is stable.
    shuffled.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal));
    Ok(shuffled.into_iter().map(|(item, _)| item).collect())
}

/// HR@k of one user: 1 if any of the first `k` ranked items is in `truth`, else 0.
///
/// `ranked` is best first, without repeats; `truth` is a non-empty set (repeats are ignored).
pub fn hit_rate_of_ranking(ranked: &[u32], truth: &[u32], k: usize) -> Result<f64> {
    check_ranking_input(ranked, truth, k)?;
    let hit = ranked.iter().take(k).any(|item| truth.contains(item));
    Ok(if hit { 1.0 } else { 0.0 })
}

/// NDCG@k of one user with binary relevance: the DCG of the first `k` ranked items, each hit at
/// 1-based rank r counting 1/log2(r+1), over the ideal DCG of min(|truth|, k) hits at the top.
///
/// The original (`metrics4rec.ndcg_at_k`) took the ideal DCG from the retrieved hits re-sorted,
/// which is the same for one relevant item, the only case VIP5 evaluates; with several relevant
/// items it would over-rate a list that misses some of them, so the ideal here comes from the
/// ground truth.
pub fn ndcg_of_ranking(ranked: &[u32], truth: &[u32], k: usize) -> Result<f64> {
    check_ranking_input(ranked, truth, k)?;
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, item)| truth.contains(item))
        .map(|(position, _)| rank_discount(position))
        .sum();
    let relevant = truth.iter().collect::<HashSet<_>>().len();
    let ideal_dcg: f64 = (0..relevant.min(k)).map(rank_discount).sum();
    Ok(dcg / ideal_dcg)
}

/// HR@k of one user from scores: [`rank_by_score`] then [`hit_rate_of_ranking`].
pub fn hit_rate_at_k<R: Rng + ?Sized>(
    scored: &[(u32, f64)],
    truth: &[u32],
    k: usize,
    rng: &mut R,
) -> Result<f64> {
    hit_rate_of_ranking(&rank_by_score(scored, rng)?, truth, k)
}

/// NDCG@k of one user from scores: [`rank_by_score`] then [`ndcg_of_ranking`].
pub fn ndcg_at_k<R: Rng + ?Sized>(
    scored: &[(u32, f64)],
    truth: &[u32],
    k: usize,
    rng: &mut R,
) -> Result<f64> {
    ndcg_of_ranking(&rank_by_score(scored, rng)?, truth, k)
}

/// 1/log2(rank+1) for a 0-based position (rank = position + 1).
fn rank_discount(position: usize) -> f64 {
    1.0 / ((position + 2) as f64).log2()
}

fn check_ranking_input(ranked: &[u32], truth: &[u32], k: usize) -> Result<()> {
    if k == 0 {
        return Err(Vip5Error::Input("a cut-off k of 0 ranks nothing; use k >= 1".into()));
    }
    if truth.is_empty() {
        return Err(Vip5Error::Input("the ground truth is empty".into()));
    }
    check_distinct(ranked.iter().copied(), "ranked list")
}

fn check_distinct(items: impl Iterator<Item = u32>, what: &str) -> Result<()> {
    let mut seen = HashSet::new();
    for item in items {
        if !seen.insert(item) {
            return Err(Vip5Error::Input(format!("item {item} appears twice in the {what}")));
        }
    }
    Ok(())
}

/// Scores for the beams of one generation, as the evaluation notebook builds them
/// (docs/vip5.md §5.1): the beam at 0-based rank j gets score -(j+1), strings that do not parse
/// as an integer are dropped, and when an item comes back, the later (worse) rank overwrites the
/// earlier one. The items keep the order of their first appearance (a Python dict's order).
///
/// Parsing follows Python's `int(str)` for ASCII text: surrounding whitespace, an optional sign,
/// and `_` between digits are accepted (`" 7 "`, `"+7"`, `"0_7"` are item 7). Two deliberate
/// differences: integers that are no valid `u32` item (negative, or above `u32::MAX`) are dropped
/// here, whereas the original kept them in its dict, where they took a place in the ranking;
/// and non-ASCII decimal digits, which Python also accepts, are not parsed.
pub fn scores_from_beams<S: AsRef<str>>(beams: &[S]) -> Vec<(u32, f64)> {
    scores_from_beam_items(beams.iter().map(|b| parse_item_like_python_int(b.as_ref())))
}

/// [`scores_from_beams`] for beams already read as items (`None`: the beam names no item), for
/// item tokenizations other than numbers.
pub fn scores_from_beam_items(beams: impl IntoIterator<Item = Option<u32>>) -> Vec<(u32, f64)> {
    let mut scored: Vec<(u32, f64)> = Vec::new();
    let mut position_of_item: HashMap<u32, usize> = HashMap::new();
    for (rank, item) in beams.into_iter().enumerate() {
        let Some(item) = item else {
            continue;
        };
        let score = -((rank + 1) as f64);
        match position_of_item.get(&item) {
            Some(&position) => scored[position].1 = score,
            None => {
                position_of_item.insert(item, scored.len());
                scored.push((item, score));
            }
        }
    }
    scored
}

/// Scores for an already ranked list (best first): the item at 0-based rank j gets -(j+1), the
/// beam convention, so that [`rank_by_score`] gives the list back unchanged.
pub fn scores_from_ranking(ranked: &[u32]) -> ScoredList {
    ranked.iter().enumerate().map(|(rank, &item)| (item, -((rank + 1) as f64))).collect()
}

/// `int(text)` of Python restricted to ASCII digits, and only when the value fits a `u32`.
fn parse_item_like_python_int(text: &str) -> Option<u32> {
    // Python's str.isspace also counts the separators U+001C..U+001F.
    let trimmed =
        text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c));
    let (negative, digits) = match trimmed.as_bytes().first()? {
        b'+' => (false, &trimmed[1..]),
        b'-' => (true, &trimmed[1..]),
        _ => (false, trimmed),
    };
    // Python allows single underscores between digits only.
    let bytes = digits.as_bytes();
    if bytes.is_empty() || bytes[0] == b'_' || bytes[bytes.len() - 1] == b'_' {
        return None;
    }
    let mut value: u64 = 0;
    let mut previous_was_underscore = false;
    for &byte in bytes {
        match byte {
            b'0'..=b'9' => {
                // Saturate: anything above u32::MAX is dropped below anyway.
                value = value.saturating_mul(10).saturating_add(u64::from(byte - b'0'));
                previous_was_underscore = false;
            }
            b'_' if !previous_was_underscore => previous_was_underscore = true,
            _ => return None,
        }
    }
    if negative && value != 0 {
        return None;
    }
    u32::try_from(value).ok()
}

/// HR and NDCG at the cut-offs VIP5 reports, averaged over users (HR@1 = NDCG@1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RankingMetrics {
    pub hr1: f64,
    pub hr5: f64,
    pub ndcg5: f64,
    pub hr10: f64,
    pub ndcg10: f64,
    /// How many users were averaged.
    pub users: usize,
}

impl RankingMetrics {
    /// Averages the metrics over users, each given as (scored items, ground truth).
    ///
    /// Each user's list is ranked once with [`rank_by_score`] and all cut-offs are read from that
    /// ranking. (The notebook re-shuffled for every k; that only matters for tied scores, and the
    /// beam convention has none.)
    pub fn evaluate<'a, I, R>(users: I, rng: &mut R) -> Result<Self>
    where
        I: IntoIterator<Item = (&'a [(u32, f64)], &'a [u32])>,
        R: Rng + ?Sized,
    {
        let mut sums = [0.0f64; 5];
        let mut count = 0usize;
        for (scored, truth) in users {
            let ranked = rank_by_score(scored, rng)?;
            let per_user = [
                hit_rate_of_ranking(&ranked, truth, 1)?,
                hit_rate_of_ranking(&ranked, truth, 5)?,
                ndcg_of_ranking(&ranked, truth, 5)?,
                hit_rate_of_ranking(&ranked, truth, 10)?,
                ndcg_of_ranking(&ranked, truth, 10)?,
            ];
            for (sum, value) in sums.iter_mut().zip(per_user) {
                *sum += value;
            }
            count += 1;
        }
        if count == 0 {
            return Err(Vip5Error::Input("no users to average the ranking metrics over".into()));
        }
        let mean = |sum: f64| sum / count as f64;
        Ok(Self {
            hr1: mean(sums[0]),
            hr5: mean(sums[1]),
            ndcg5: mean(sums[2]),
            hr10: mean(sums[3]),
            ndcg10: mean(sums[4]),
            users: count,
        })
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::metrics::fixture::*;

    // --- ranking, by hand ---------------------------------------------------------------------

    /// Scores 10:0.9, 20:0.5, 30:0.7, 40:0.1 rank as [10, 30, 20, 40].
    fn four_scored() -> Vec<(u32, f64)> {
        vec![(10, 0.9), (20, 0.5), (30, 0.7), (40, 0.1)]
    }

    #[test]
    fn ranking_metrics_by_hand() {
        let mut rng = StdRng::seed_from_u64(1);
        let scored = four_scored();
        assert_eq!(rank_by_score(&scored, &mut rng).unwrap(), vec![10, 30, 20, 40]);
        // Truth {20}, at rank 3: HR@1 = HR@2 = 0, HR@3 = HR@5 = 1; NDCG@5 = (1/log2 4) / 1 = 0.5.
        for (k, hit) in [(1, 0.0), (2, 0.0), (3, 1.0), (5, 1.0)] {
            assert_eq!(hit_rate_at_k(&scored, &[20], k, &mut rng).unwrap(), hit, "HR@{k}");
        }
        assert_close(ndcg_at_k(&scored, &[20], 5, &mut rng).unwrap(), 0.5, "NDCG@5");
        assert_eq!(ndcg_at_k(&scored, &[20], 2, &mut rng).unwrap(), 0.0);
        // Truth {20, 10}, hits at ranks 1 and 3: DCG = 1 + 1/log2 4 = 1.5; ideal for two hits
        // = 1 + 1/log2 3 = 1.6309297535714575; NDCG@5 = 1.5 / 1.6309297535714575.
        assert_close(
            ndcg_at_k(&scored, &[20, 10], 5, &mut rng).unwrap(),
            1.5 / 1.630_929_753_571_457_5,
            "NDCG@5",
        );
        // At k = 1 the ideal holds one hit only: 1 / 1 = 1.
        assert_eq!(ndcg_at_k(&scored, &[20, 10], 1, &mut rng).unwrap(), 1.0);
        // A truth item absent from the list is simply never hit.
        assert_eq!(hit_rate_at_k(&scored, &[99], 10, &mut rng).unwrap(), 0.0);
        assert_eq!(ndcg_at_k(&scored, &[99], 10, &mut rng).unwrap(), 0.0);
    }

    #[test]
    fn aggregate_by_hand() {
        let mut rng = StdRng::seed_from_u64(2);
        let first = four_scored();
        // User 2: ranked [7, 8], truth 7 at rank 1.
        let second = vec![(7, -1.0), (8, -2.0)];
        let users: Vec<ScoredUser> =
            vec![(first.as_slice(), [20].as_slice()), (second.as_slice(), [7].as_slice())];
        let metrics = RankingMetrics::evaluate(users, &mut rng).unwrap();
        // HR@1: (0 + 1) / 2; HR@5, HR@10: (1 + 1) / 2; NDCG@5, NDCG@10: (0.5 + 1) / 2.
        assert_eq!(metrics.users, 2);
        assert_eq!(metrics.hr1, 0.5);
        assert_eq!(metrics.hr5, 1.0);
        assert_eq!(metrics.hr10, 1.0);
        assert_close(metrics.ndcg5, 0.75, "NDCG@5");
        assert_close(metrics.ndcg10, 0.75, "NDCG@10");
    }

    #[test]
    fn ties_are_broken_by_the_seeded_shuffle() {
        // Two items tied at the top, truth is one of them: HR@1 is 0 or 1 depending on the shuffle.
        let scored = vec![(1, 0.0), (2, -0.0), (3, -5.0)];
        let hr1 =
            |seed: u64| hit_rate_at_k(&scored, &[2], 1, &mut StdRng::seed_from_u64(seed)).unwrap();
        for seed in 0..20 {
            assert_eq!(hr1(seed), hr1(seed), "the same seed must give the same order");
        }
        let hits: f64 = (0..2000).map(hr1).sum();
        // About half the seeds put item 2 first (binomial sd ~ 22); both outcomes occur.
        assert!((900.0..=1100.0).contains(&hits), "item 2 first for {hits} of 2000 seeds");
        // The untied item 3 is always last.
        for seed in 0..50 {
            let ranked = rank_by_score(&scored, &mut StdRng::seed_from_u64(seed)).unwrap();
            assert_eq!(ranked[2], 3);
        }
    }

    #[test]
    fn ranking_rejects_bad_input() {
        let mut rng = StdRng::seed_from_u64(3);
        assert!(rank_by_score(&[(1, 0.5), (1, 0.2)], &mut rng).is_err());
        assert!(rank_by_score(&[(1, f64::NAN)], &mut rng).is_err());
        assert!(hit_rate_of_ranking(&[1, 2], &[1], 0).is_err());
        assert!(ndcg_of_ranking(&[1, 2], &[], 5).is_err());
        assert!(ndcg_of_ranking(&[1, 1], &[1], 5).is_err());
        let none: Vec<ScoredUser> = Vec::new();
        assert!(RankingMetrics::evaluate(none, &mut rng).is_err());
    }

    #[test]
    fn beams_by_hand() {
        let beams = [
            "12",
            "abc",
            " 7 ",
            "12",
            "+3",
            "-4",
            "1_0",
            "",
            "007",
            "3",
            "1__0",
            "4294967296",
            "-0",
        ];
        // j=0 "12" -> 12:-1; j=1 dropped; j=2 " 7 " -> 7:-3; j=3 "12" -> 12:-4 (overwrites, keeps
        // its place); j=4 "+3" -> 3:-5; j=5 "-4" is no item; j=6 "1_0" -> 10:-7; j=7 dropped;
        // j=8 "007" -> 7:-9; j=9 "3" -> 3:-10; j=10 "1__0" is no int; j=11 is above u32::MAX;
        // j=12 "-0" -> 0:-13.
        assert_eq!(
            scores_from_beams(&beams),
            vec![(12, -4.0), (7, -9.0), (3, -10.0), (10, -7.0), (0, -13.0)]
        );
        assert!(scores_from_beams::<&str>(&[]).is_empty());
        assert_eq!(scores_from_ranking(&[5, 9]), vec![(5, -1.0), (9, -2.0)]);
    }

    // --- ranking and beams, against the Python fixture -----------------------------------------

    #[test]
    fn ranking_matches_python_fixture() {
        let fixture = fixture();
        let cases = fixture["ranking"].as_array().unwrap();
        assert_eq!(cases.len(), 40);
        let mut rng = StdRng::seed_from_u64(4);
        for (index, case) in cases.iter().enumerate() {
            let scored = scored_list(&case["scored"]);
            let truth = u32_list(&case["truth"]);
            for k in [1usize, 3, 5, 10] {
                let key = k.to_string();
                let hr = hit_rate_at_k(&scored, &truth, k, &mut rng).unwrap();
                assert_close(hr, as_f64(&case["hr"][&key]), &format!("case {index} HR@{k}"));
                let ndcg = ndcg_at_k(&scored, &truth, k, &mut rng).unwrap();
                assert_close(ndcg, as_f64(&case["ndcg"][&key]), &format!("case {index} NDCG@{k}"));
            }
        }
        let inputs: Vec<(ScoredList, Vec<u32>)> = cases
            .iter()
            .map(|case| (scored_list(&case["scored"]), u32_list(&case["truth"])))
            .collect();
        let metrics = RankingMetrics::evaluate(
            inputs.iter().map(|(s, t)| (s.as_slice(), t.as_slice())),
            &mut rng,
        )
        .unwrap();
        let expected = &fixture["ranking_aggregate"];
        assert_eq!(metrics.users, 40);
        assert_close(metrics.hr1, as_f64(&expected["hr1"]), "aggregate HR@1");
        assert_close(metrics.hr5, as_f64(&expected["hr5"]), "aggregate HR@5");
        assert_close(metrics.ndcg5, as_f64(&expected["ndcg5"]), "aggregate NDCG@5");
        assert_close(metrics.hr10, as_f64(&expected["hr10"]), "aggregate HR@10");
        assert_close(metrics.ndcg10, as_f64(&expected["ndcg10"]), "aggregate NDCG@10");
    }

    #[test]
    fn beams_match_python_fixture() {
        let fixture = fixture();
        let cases = fixture["beams"].as_array().unwrap();
        assert_eq!(cases.len(), 20);
        for (index, case) in cases.iter().enumerate() {
            let beams = string_list(&case["beams"]);
            assert_eq!(
                scores_from_beams(&beams),
                scored_list(&case["scored"]),
                "beam case {index}: {beams:?}"
            );
        }
    }
}

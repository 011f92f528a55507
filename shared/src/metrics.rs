//! Evaluation metrics of VIP5 (docs/vip5.md §5.1 and §5.3), as pure functions.
//!
//! - Ranking: HR@k and NDCG@k per user with binary relevance, ties broken by a seeded shuffle
//!   before a stable sort by descending score (the notebooks' `evaluate_all`), and
//!   [`RankingMetrics`], the average over users.
//! - [`scores_from_beams`]: the evaluation notebook's way of turning 20 generated beams into
//!   scores.
//! - Text: corpus BLEU as TF-NMT `compute_bleu` ([`bleu`]) and ROUGE-1/2/L F-scores as the
//!   TF-seq2seq port ([`rouge`]), both x100 like the notebooks.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use rand::Rng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::error::{Result, Vip5Error};

/// One user's scored items, `(item, score)`.
pub type ScoredList = Vec<(u32, f64)>;
/// One user's scored items and true targets, as [`RankingMetrics::evaluate`] reads them.
pub type ScoredUser<'a> = (&'a [(u32, f64)], &'a [u32]);

// ---------------------------------------------------------------------------------------------
// Ranking metrics

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

// ---------------------------------------------------------------------------------------------
// Comparing two models on the same users (e.g. a q8_0 bundle against its f32 original)

/// The share of the items in the first `k` of each list of `a` that are also in the first `k` of
/// the matching list of `b` (1.0 when every top-k list holds the same items, in any order).
pub fn top_k_agreement(a: &[Vec<u32>], b: &[Vec<u32>], k: usize) -> Result<f64> {
    if a.len() != b.len() {
        return Err(Vip5Error::Input(format!(
            "{} lists against {}: compare the same users",
            a.len(),
            b.len()
        )));
    }
    let (mut shared, mut total) = (0usize, 0usize);
    for (x, y) in a.iter().zip(b) {
        let y: HashSet<u32> = y.iter().take(k).copied().collect();
        for item in x.iter().take(k) {
            total += 1;
            shared += usize::from(y.contains(item));
        }
    }
    if total == 0 {
        return Err(Vip5Error::Input("no items to compare".into()));
    }
    Ok(shared as f64 / total as f64)
}

/// A paired bootstrap of the difference of two per-user metrics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairedBootstrap {
    /// mean(b) - mean(a) on the users as given.
    pub difference: f64,
    /// The 2.5 % and 97.5 % quantiles of the resampled differences.
    pub low: f64,
    pub high: f64,
    pub resamples: usize,
}

impl PairedBootstrap {
    /// True when the 95 % interval holds 0: the difference is within the noise of these users.
    pub fn is_noise(&self) -> bool {
        self.low <= 0.0 && 0.0 <= self.high
    }
}

/// Resamples users with replacement `resamples` times and returns the observed difference of
/// means (b - a) with its 95 % percentile interval. Users stay paired: each draw takes both
/// models' values of the same user.
pub fn paired_bootstrap<R: Rng + ?Sized>(
    a: &[f64],
    b: &[f64],
    resamples: usize,
    rng: &mut R,
) -> Result<PairedBootstrap> {
    if a.len() != b.len() || a.is_empty() {
        return Err(Vip5Error::Input(format!(
            "paired bootstrap needs two equal, non-empty lists ({} and {})",
            a.len(),
            b.len()
        )));
    }
    if resamples == 0 {
        return Err(Vip5Error::Input("paired bootstrap needs at least one resample".into()));
    }
    let n = a.len();
    let diffs: Vec<f64> = b.iter().zip(a).map(|(y, x)| y - x).collect();
    let difference = diffs.iter().sum::<f64>() / n as f64;
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| diffs[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(|x, y| x.total_cmp(y));
    let quantile = |q: f64| means[((q * resamples as f64).floor() as usize).min(resamples - 1)];
    Ok(PairedBootstrap { difference, low: quantile(0.025), high: quantile(0.975), resamples })
}

// ---------------------------------------------------------------------------------------------
// BLEU

/// What BLEU counts n-grams over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BleuTokens {
    /// Words: the text split on whitespace (Python `str.split()`), as the P5 notebooks do and the
    /// VIP5 paper's numbers suggest.
    #[default]
    Words,
    /// Characters (Unicode scalar values, spaces included): the VIP5 notebook passed the raw
    /// strings to `compute_bleu`, so its n-grams were over characters.
    Chars,
}

/// The parts of a corpus BLEU score, as TF-NMT `compute_bleu` returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct BleuScore {
    /// BLEU in [0, 1] (not x100).
    pub bleu: f64,
    /// Clipped n-gram precision for the orders 1..=max_order.
    pub precisions: Vec<f64>,
    pub brevity_penalty: f64,
    /// Hypothesis length over reference length, summed over the corpus.
    pub length_ratio: f64,
    pub hypothesis_length: usize,
    pub reference_length: usize,
}

/// Corpus BLEU x100 with one reference per hypothesis, as the notebooks' `bleu_score`
/// (TF-NMT `compute_bleu`, no smoothing). BLEU-4 is `max_order` = 4.
pub fn bleu<S: AsRef<str>, T: AsRef<str>>(
    references: &[S],
    hypotheses: &[T],
    max_order: usize,
    tokens: BleuTokens,
) -> Result<f64> {
    let references: Vec<Vec<&str>> =
        references.iter().map(|r| tokenize(r.as_ref(), tokens)).collect();
    let hypotheses: Vec<Vec<&str>> =
        hypotheses.iter().map(|h| tokenize(h.as_ref(), tokens)).collect();
    Ok(100.0 * compute_bleu(&references, &hypotheses, max_order)?.bleu)
}

/// Word-level BLEU-4 x100, the default the VIP5 paper's numbers suggest.
pub fn bleu4<S: AsRef<str>, T: AsRef<str>>(references: &[S], hypotheses: &[T]) -> Result<f64> {
    bleu(references, hypotheses, 4, BleuTokens::Words)
}

fn tokenize(text: &str, tokens: BleuTokens) -> Vec<&str> {
    match tokens {
        BleuTokens::Words => split_like_python(text),
        BleuTokens::Chars => {
            text.char_indices().map(|(start, c)| &text[start..start + c.len_utf8()]).collect()
        }
    }
}

/// Python's `str.split()`: runs of whitespace separate words, none are empty.
fn split_like_python(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
        .filter(|word| !word.is_empty())
        .collect()
}

/// TF-NMT `compute_bleu` with one reference per hypothesis and no smoothing: n-gram counts of
/// each hypothesis clipped by its reference, summed over the corpus; the geometric mean of the
/// precisions of orders 1..=max_order (0 when any is 0); brevity penalty exp(1 - r/c) when the
/// corpus hypothesis length c is at most the reference length r.
///
/// Where the original divided by zero, this answers instead: all hypotheses empty gives BLEU 0;
/// all references empty is an error.
pub fn compute_bleu<T: Eq + Hash>(
    references: &[Vec<T>],
    hypotheses: &[Vec<T>],
    max_order: usize,
) -> Result<BleuScore> {
    if max_order == 0 {
        return Err(Vip5Error::Input("BLEU needs a max n-gram order of at least 1".into()));
    }
    check_corpus(references.len(), hypotheses.len())?;
    let mut matches_by_order = vec![0usize; max_order];
    let mut possible_by_order = vec![0usize; max_order];
    let mut reference_length = 0usize;
    let mut hypothesis_length = 0usize;
    for (reference, hypothesis) in references.iter().zip(hypotheses) {
        reference_length += reference.len();
        hypothesis_length += hypothesis.len();
        let reference_counts = ngram_counts(reference, max_order);
        for (ngram, count) in ngram_counts(hypothesis, max_order) {
            let in_reference = reference_counts.get(ngram).copied().unwrap_or(0);
            matches_by_order[ngram.len() - 1] += count.min(in_reference);
        }
        for order in 1..=max_order {
            possible_by_order[order - 1] += (hypothesis.len() + 1).saturating_sub(order);
        }
    }
    if reference_length == 0 {
        return Err(Vip5Error::Input("BLEU: every reference is empty".into()));
    }
    let precisions: Vec<f64> = matches_by_order
        .iter()
        .zip(&possible_by_order)
        .map(
            |(&matches, &possible)| {
                if possible > 0 { matches as f64 / possible as f64 } else { 0.0 }
            },
        )
        .collect();
    let geometric_mean = if precisions.iter().all(|&p| p > 0.0) {
        // Same order of operations as the original: sum of (1/max_order) * log(p).
        let weight = 1.0 / max_order as f64;
        precisions.iter().fold(0.0, |sum, p| sum + weight * p.ln()).exp()
    } else {
        0.0
    };
    let length_ratio = hypothesis_length as f64 / reference_length as f64;
    let brevity_penalty = if length_ratio > 1.0 {
        1.0
    } else if hypothesis_length == 0 {
        0.0
    } else {
        (1.0 - 1.0 / length_ratio).exp()
    };
    Ok(BleuScore {
        bleu: geometric_mean * brevity_penalty,
        precisions,
        brevity_penalty,
        length_ratio,
        hypothesis_length,
        reference_length,
    })
}

/// Counts of all n-grams of orders 1..=max_order.
fn ngram_counts<T: Eq + Hash>(tokens: &[T], max_order: usize) -> HashMap<&[T], usize> {
    let mut counts = HashMap::new();
    for order in 1..=max_order.min(tokens.len()) {
        for ngram in tokens.windows(order) {
            *counts.entry(ngram).or_insert(0) += 1;
        }
    }
    counts
}

fn check_corpus(references: usize, hypotheses: usize) -> Result<()> {
    if references != hypotheses {
        return Err(Vip5Error::Input(format!(
            "{references} references but {hypotheses} hypotheses; they must pair up"
        )));
    }
    if references == 0 {
        return Err(Vip5Error::Input("the corpus is empty".into()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ROUGE

/// Precision, recall and F-score of one hypothesis against its reference, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrecisionRecallF {
    pub precision: f64,
    pub recall: f64,
    pub f_score: f64,
}

/// The ROUGE F-scores the notebooks report (`rouge_1/f_score`, ...), averaged over pairs, x100.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RougeScores {
    pub rouge1: f64,
    pub rouge2: f64,
    pub rouge_l: f64,
}

/// ROUGE-1, ROUGE-2 and ROUGE-L F-scores x100 averaged over (reference, hypothesis) pairs, as the
/// notebooks' `rouge_score` (TF-seq2seq port): tokens come from splitting on single spaces
/// (Python `str.split(" ")`, so a double space yields an empty token and "" is one empty token).
pub fn rouge<S: AsRef<str>, T: AsRef<str>>(
    references: &[S],
    hypotheses: &[T],
) -> Result<RougeScores> {
    check_corpus(references.len(), hypotheses.len())?;
    let mut sums = [0.0f64; 3];
    for (reference, hypothesis) in references.iter().zip(hypotheses) {
        let (reference, hypothesis) = (reference.as_ref(), hypothesis.as_ref());
        sums[0] += rouge_n(hypothesis, reference, 1)?.f_score;
        sums[1] += rouge_n(hypothesis, reference, 2)?.f_score;
        sums[2] += rouge_l(hypothesis, reference).f_score;
    }
    let mean_x100 = |sum: f64| 100.0 * sum / references.len() as f64;
    Ok(RougeScores {
        rouge1: mean_x100(sums[0]),
        rouge2: mean_x100(sums[1]),
        rouge_l: mean_x100(sums[2]),
    })
}

/// ROUGE-N of one pair on n-gram *sets*: P = |overlap| / |hypothesis set|,
/// R = |overlap| / |reference set| (0 for an empty set), F = 2PR / (P + R + 1e-8).
pub fn rouge_n(hypothesis: &str, reference: &str, n: usize) -> Result<PrecisionRecallF> {
    if n == 0 {
        return Err(Vip5Error::Input("ROUGE-N needs n >= 1".into()));
    }
    let hypothesis_words: Vec<&str> = hypothesis.split(' ').collect();
    let reference_words: Vec<&str> = reference.split(' ').collect();
    let hypothesis_ngrams: HashSet<&[&str]> = hypothesis_words.windows(n).collect();
    let reference_ngrams: HashSet<&[&str]> = reference_words.windows(n).collect();
    let overlap = hypothesis_ngrams.intersection(&reference_ngrams).count() as f64;
    let ratio_or_zero = |size: usize| {
        if size == 0 { 0.0 } else { overlap / size as f64 }
    };
    let precision = ratio_or_zero(hypothesis_ngrams.len());
    let recall = ratio_or_zero(reference_ngrams.len());
    let f_score = 2.0 * ((precision * recall) / (precision + recall + 1e-8));
    Ok(PrecisionRecallF { precision, recall, f_score })
}

/// ROUGE-L of one pair from the longest common subsequence of words: R = LCS / |reference|,
/// P = LCS / |hypothesis|, beta = P / R, F = (1 + beta^2) R P / (R + beta^2 P), with the
/// original's zero guards (beta = P / (R + 1e-12), F = num / (denom + 1e-12)).
pub fn rouge_l(hypothesis: &str, reference: &str) -> PrecisionRecallF {
    // split(' ') never yields an empty list, so both lengths are at least 1.
    let hypothesis_words: Vec<&str> = hypothesis.split(' ').collect();
    let reference_words: Vec<&str> = reference.split(' ').collect();
    let lcs = longest_common_subsequence(&hypothesis_words, &reference_words) as f64;
    let recall = lcs / reference_words.len() as f64;
    let precision = lcs / hypothesis_words.len() as f64;
    let beta = precision / (recall + 1e-12);
    let numerator = (1.0 + beta.powi(2)) * recall * precision;
    let denominator = recall + beta.powi(2) * precision;
    PrecisionRecallF { precision, recall, f_score: numerator / (denominator + 1e-12) }
}

/// Length of the longest common subsequence, with one row of the usual table at a time.
fn longest_common_subsequence<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut previous = vec![0usize; b.len() + 1];
    let mut current = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            current[j + 1] = if x == y { previous[j] + 1 } else { previous[j + 1].max(current[j]) };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_agreement_by_hand() {
        let a = vec![vec![1, 2, 3, 9], vec![4, 5, 6]];
        let b = vec![vec![3, 2, 7], vec![6, 5, 4]];
        // k = 3: {1,2,3} vs {3,2,7} share 2; {4,5,6} vs {6,5,4} share 3 -> 5 / 6.
        assert!((top_k_agreement(&a, &b, 3).unwrap() - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(top_k_agreement(&a, &a, 10).unwrap(), 1.0);
        assert!(top_k_agreement(&a, &b[..1], 3).is_err());
    }

    #[test]
    fn paired_bootstrap_separates_noise_from_a_shift() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        // Identical models: every difference is 0.
        let a: Vec<f64> = (0..200).map(|i| (i % 3) as f64).collect();
        let same = paired_bootstrap(&a, &a, 500, &mut rng).unwrap();
        assert_eq!((same.difference, same.low, same.high), (0.0, 0.0, 0.0));
        assert!(same.is_noise());
        // b wins on 150 of 200 users by 1: a clear shift of 0.75, interval away from 0.
        let b: Vec<f64> = a.iter().enumerate().map(|(i, x)| x + f64::from(i % 4 != 0)).collect();
        let shift = paired_bootstrap(&a, &b, 500, &mut rng).unwrap();
        assert!((shift.difference - 0.75).abs() < 1e-12);
        assert!(shift.low > 0.6 && shift.high < 0.9 && !shift.is_noise(), "{shift:?}");
        // Symmetric +-1 swaps: mean 0, interval around it.
        let c: Vec<f64> =
            a.iter().enumerate().map(|(i, x)| x + if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let noise = paired_bootstrap(&a, &c, 500, &mut rng).unwrap();
        assert!(noise.is_noise() && noise.low < -0.05 && noise.high > 0.05, "{noise:?}");
    }
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use serde_json::Value;

    const TOLERANCE: f64 = 1e-9;
    const FIXTURE: &str = include_str!("testdata/metrics_cases.json");

    fn assert_close(actual: f64, expected: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= TOLERANCE,
            "{what}: got {actual}, expected {expected}"
        );
    }

    fn fixture() -> Value {
        serde_json::from_str(FIXTURE).expect("metrics_cases.json is valid JSON")
    }

    fn as_f64(value: &Value) -> f64 {
        value.as_f64().expect("a number")
    }

    fn as_u32(value: &Value) -> u32 {
        u32::try_from(value.as_u64().expect("an unsigned integer")).expect("fits u32")
    }

    fn scored_list(value: &Value) -> Vec<(u32, f64)> {
        value
            .as_array()
            .expect("an array of pairs")
            .iter()
            .map(|pair| (as_u32(&pair[0]), as_f64(&pair[1])))
            .collect()
    }

    fn u32_list(value: &Value) -> Vec<u32> {
        value.as_array().expect("an array").iter().map(as_u32).collect()
    }

    fn string_list(value: &Value) -> Vec<String> {
        value
            .as_array()
            .expect("an array")
            .iter()
            .map(|s| s.as_str().expect("a string").to_owned())
            .collect()
    }

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

    // --- BLEU ----------------------------------------------------------------------------------

    #[test]
    fn bleu_by_hand() {
        // Pair 1 identical "a b c d": n-gram matches/possible 4/4, 3/3, 2/2, 1/1.
        // Pair 2 ref "a b c d e", hyp "a b x d e": 1-grams 4/5, 2-grams {ab, de} 2/4, 3-grams 0/3,
        // 4-grams 0/2. Corpus: p1 = 8/9, p2 = 5/7, p3 = 2/5, p4 = 1/3; lengths 9 = 9, so BP = 1.
        // BLEU-4 = (8/9 * 5/7 * 2/5 * 1/3)^(1/4) = (16/189)^(1/4).
        let references = ["a b c d", "a b c d e"];
        let hypotheses = ["a b c d", "a b x d e"];
        let expected = 100.0 * (16.0f64 / 189.0).powf(0.25);
        assert_close(bleu4(&references, &hypotheses).unwrap(), expected, "BLEU-4");
        // BLEU-1 = 8/9.
        assert_close(
            bleu(&references, &hypotheses, 1, BleuTokens::Words).unwrap(),
            800.0 / 9.0,
            "BLEU-1",
        );

        // A prefix of the reference: every precision is 1, the ratio 6/7 gives
        // BP = exp(1 - 7/6) = exp(-1/6).
        let short = bleu4(&["the cat sat on the mat today"], &["the cat sat on the mat"]).unwrap();
        assert_close(short, 100.0 * (-1.0f64 / 6.0).exp(), "BLEU-4 with brevity penalty");
        // A longer hypothesis has no brevity penalty.
        let score = compute_bleu(&[vec![1, 2, 3, 4]], &[vec![1, 2, 3, 4, 5]], 4).unwrap();
        assert_eq!(score.brevity_penalty, 1.0);
        assert_eq!(score.precisions, vec![4.0 / 5.0, 3.0 / 4.0, 2.0 / 3.0, 1.0 / 2.0]);
    }

    #[test]
    fn bleu_words_versus_characters() {
        // Characters of "the ca" are a prefix of "the cat": precisions 6/6, 5/5, 4/4, 3/3,
        // lengths 6 and 7, so BLEU = exp(1 - 7/6). As words, "ca" != "cat" and the only bigram
        // misses, so p2 = 0 and BLEU = 0.
        let chars = bleu(&["the cat"], &["the ca"], 4, BleuTokens::Chars).unwrap();
        assert_close(chars, 100.0 * (-1.0f64 / 6.0).exp(), "character BLEU-4");
        assert_eq!(bleu(&["the cat"], &["the ca"], 4, BleuTokens::Words).unwrap(), 0.0);
        // "aaa" has no 4-gram at all, so p4 has nothing to count and is 0 (no smoothing).
        assert_eq!(bleu(&["aaaa"], &["aaa"], 4, BleuTokens::Chars).unwrap(), 0.0);
        // Words split on any whitespace run, as Python's str.split().
        assert_close(bleu4(&["a b c d"], &["  a\tb  c\nd "]).unwrap(), 100.0, "whitespace");
    }

    #[test]
    fn bleu_edge_cases() {
        assert!(bleu4(&["a"], &["a", "b"]).is_err());
        assert!(bleu4::<&str, &str>(&[], &[]).is_err());
        assert!(bleu4(&["", " "], &["a", "b"]).is_err());
        assert_eq!(bleu4(&["a b c d"], &[""]).unwrap(), 0.0);
        assert!(bleu(&["a"], &["a"], 0, BleuTokens::Words).is_err());
    }

    // --- ROUGE ---------------------------------------------------------------------------------

    #[test]
    fn rouge_by_hand() {
        // hyp "the cat sat", ref "the cat sat on the mat".
        // Unigram sets: hyp {the, cat, sat} (3), ref {the, cat, sat, on, mat} (5), overlap 3:
        // P = 1, R = 0.6, F = 2 * 0.6 / (1.6 + 1e-8).
        // Bigram sets: hyp {the cat, cat sat} (2), ref 5 bigrams, overlap 2: P = 1, R = 0.4,
        // F = 2 * 0.4 / (1.4 + 1e-8).
        // LCS "the cat sat" = 3, |ref| = 6, |hyp| = 3: R = 0.5, P = 1, beta = 2,
        // F = (1 + 4) * 0.5 * 1 / (0.5 + 4 * 1) = 5/9 (the 1e-12 guards move it by < 1e-11).
        let scores = rouge(&["the cat sat on the mat"], &["the cat sat"]).unwrap();
        assert_close(scores.rouge1, 100.0 * 1.2 / 1.600_000_01, "ROUGE-1");
        assert_close(scores.rouge2, 100.0 * 0.8 / 1.400_000_01, "ROUGE-2");
        assert_close(scores.rouge_l, 100.0 * 5.0 / 9.0, "ROUGE-L");
        let pair = rouge_n("the cat sat", "the cat sat on the mat", 1).unwrap();
        assert_eq!((pair.precision, pair.recall), (1.0, 0.6));
    }

    #[test]
    fn rouge_splits_on_single_spaces() {
        // "a  b" is ["a", "", "b"]: unigram set of 3 against {a, b}, overlap 2, P = 2/3, R = 1,
        // F = 2 * (2/3) / (5/3 + 1e-8) ~ 0.8 (a whitespace split would give 1).
        let pair = rouge_n("a  b", "a b", 1).unwrap();
        assert_close(pair.f_score, 2.0 * (2.0 / 3.0) / (5.0 / 3.0 + 1e-8), "ROUGE-1 F");
        // An empty hypothesis is one empty token: no overlap, all three F-scores 0.
        let empty = rouge(&["a b"], &[""]).unwrap();
        assert_eq!((empty.rouge1, empty.rouge2, empty.rouge_l), (0.0, 0.0, 0.0));
        // Averaging over pairs: an exact match (100 each) and the empty one give 50.
        let mixed = rouge(&["a b", "a b"], &["a b", ""]).unwrap();
        assert_close(mixed.rouge1, 50.0 * 2.0 / (2.0 + 1e-8), "mean ROUGE-1");
        assert_close(mixed.rouge_l, 50.0, "mean ROUGE-L");
        assert!(rouge(&["a"], &["a", "b"]).is_err());
        assert!(rouge_n("a", "a", 0).is_err());
    }

    #[test]
    fn lcs_by_hand() {
        // "a b c b d a b" vs "b d c a b a": the LCS "b c a b" (or "b d a b") has length 4.
        let x: Vec<&str> = "a b c b d a b".split(' ').collect();
        let y: Vec<&str> = "b d c a b a".split(' ').collect();
        assert_eq!(longest_common_subsequence(&x, &y), 4);
        assert_eq!(longest_common_subsequence::<u8>(&[], &[1, 2]), 0);
    }

    // --- BLEU and ROUGE, against the Python fixture --------------------------------------------

    #[test]
    fn text_metrics_match_python_fixture() {
        let fixture = fixture();
        let cases = fixture["text"].as_array().unwrap();
        assert_eq!(cases.len(), 24);
        let mut nonzero_bleu4 = 0;
        for (index, case) in cases.iter().enumerate() {
            let references = string_list(&case["references"]);
            let hypotheses = string_list(&case["hypotheses"]);
            let what = |metric: &str| format!("text case {index} {metric}");
            let word4 = bleu(&references, &hypotheses, 4, BleuTokens::Words).unwrap();
            assert_close(word4, as_f64(&case["word_bleu4"]), &what("word BLEU-4"));
            let word1 = bleu(&references, &hypotheses, 1, BleuTokens::Words).unwrap();
            assert_close(word1, as_f64(&case["word_bleu1"]), &what("word BLEU-1"));
            let char4 = bleu(&references, &hypotheses, 4, BleuTokens::Chars).unwrap();
            assert_close(char4, as_f64(&case["char_bleu4"]), &what("char BLEU-4"));
            let scores = rouge(&references, &hypotheses).unwrap();
            assert_close(scores.rouge1, as_f64(&case["rouge1"]), &what("ROUGE-1"));
            assert_close(scores.rouge2, as_f64(&case["rouge2"]), &what("ROUGE-2"));
            assert_close(scores.rouge_l, as_f64(&case["rougeL"]), &what("ROUGE-L"));
            if word4 > 0.0 {
                nonzero_bleu4 += 1;
            }
        }
        // The cases must exercise the non-zero path of BLEU-4, not only the zero one.
        assert!(nonzero_bleu4 >= 10, "only {nonzero_bleu4} cases have a non-zero BLEU-4");
    }
}

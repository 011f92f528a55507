//! The explanation task's text metrics: corpus BLEU as TF-NMT `compute_bleu` ([`bleu`]) and
//! ROUGE-1/2/L F-scores as the TF-seq2seq port ([`rouge`]), both x100 like the notebooks.
//!
//! Nothing outside the tests calls them yet: the explanation task needs review data that
//! `trainer prepare` cannot read yet, so no model here is trained or evaluated on it. They are
//! kept, checked against the Python reference, for the day it is.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use serde::Serialize;

use crate::error::{Result, Vip5Error};

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
    use crate::metrics::fixture::*;

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

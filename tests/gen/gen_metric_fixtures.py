#!/usr/bin/env python3
"""Generate shared/src/testdata/metrics_cases.json, the parity cases for `vip5::metrics`.

Run from the repository root:  python3 tests/gen/gen_metric_fixtures.py
Needs only the Python standard library. The output is deterministic (seeded).

Each metric is written here again, straightforwardly, from its definition in docs/vip5.md §5.1
and §5.3 (not from the Rust code):
  ranking  HR@k / NDCG@k with binary relevance, 1/log2(rank+1) discounts and the ideal DCG of
           min(|truth|, k) hits; scores are distinct, so the tie-breaking shuffle plays no part
  beams    the evaluation notebook's `pred_dict[int(s)] = -(j+1)`, keeping keys that fit a u32
  bleu     TF-NMT compute_bleu: corpus level, clipped n-gram counts, no smoothing, brevity
           penalty, x100; word level (str.split()) and character level (the raw string)
  rouge    TF-seq2seq ROUGE-1/2 on n-gram sets and ROUGE-L from the LCS, tokens from
           str.split(" "), F-scores averaged over pairs, x100
"""
import json
import math
import os
import random
from collections import Counter

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "shared", "src", "testdata", "metrics_cases.json")

U32_MAX = 2**32 - 1
WORDS = ["the", "a", "cat", "dog", "sat", "on", "mat", "good", "quality", "price",
         "nice", "smell", "and", "is", "very", "soft", "skin"]


# ---------------------------------------------------------------------------------------------
# Ranking metrics


def rank_items(scored):
    """Items by descending score (scores are distinct in these cases)."""
    return [item for item, _ in sorted(scored, key=lambda pair: -pair[1])]


def hit_rate(ranked, truth, k):
    return 1.0 if any(item in truth for item in ranked[:k]) else 0.0


def ndcg(ranked, truth, k):
    dcg = 0.0
    for position, item in enumerate(ranked[:k]):
        if item in truth:
            dcg += 1.0 / math.log2(position + 2)
    ideal = 0.0
    for position in range(min(len(set(truth)), k)):
        ideal += 1.0 / math.log2(position + 2)
    return dcg / ideal


def ranking_cases(rng, count):
    cases = []
    for _ in range(count):
        length = rng.randint(0, 25)
        items = rng.sample(range(1, 60), length)
        # Distinct scores on a 1/1000 grid: exact in JSON and never tied.
        scores = rng.sample(range(-5000, 5000), length)
        scored = [[item, score / 1000.0] for item, score in zip(items, scores)]
        truth_size = rng.randint(1, 3)
        pool = items + list(range(60, 70))
        truth = rng.sample(pool, min(truth_size, len(pool)))
        ranked = rank_items(scored)
        cases.append({
            "scored": scored,
            "truth": truth,
            "hr": {str(k): hit_rate(ranked, truth, k) for k in (1, 3, 5, 10)},
            "ndcg": {str(k): ndcg(ranked, truth, k) for k in (1, 3, 5, 10)},
        })
    return cases


def ranking_aggregate(cases):
    total = {"hr1": 0.0, "hr5": 0.0, "ndcg5": 0.0, "hr10": 0.0, "ndcg10": 0.0}
    for case in cases:
        ranked = rank_items(case["scored"])
        truth = case["truth"]
        total["hr1"] += hit_rate(ranked, truth, 1)
        total["hr5"] += hit_rate(ranked, truth, 5)
        total["ndcg5"] += ndcg(ranked, truth, 5)
        total["hr10"] += hit_rate(ranked, truth, 10)
        total["ndcg10"] += ndcg(ranked, truth, 10)
    result = {name: value / len(cases) for name, value in total.items()}
    result["users"] = len(cases)
    return result


# ---------------------------------------------------------------------------------------------
# Generated beams -> scores


def beam_string(rng):
    choice = rng.randrange(12)
    number = rng.randint(0, 40)
    if choice == 0:
        return "item_%d" % number
    if choice == 1:
        return ""
    if choice == 2:
        return " %d " % number
    if choice == 3:
        return "+%d" % number
    if choice == 4:
        return "-%d" % number
    if choice == 5:
        return "%d %d" % (number, rng.randint(0, 9))
    if choice == 6:
        return "00%d" % number
    if choice == 7:
        return "%d.5" % number
    if choice == 8:
        return str(rng.choice([U32_MAX, U32_MAX + 1, 10**12]))
    return str(number)


def scores_from_beams(beams):
    scores = {}
    for rank, text in enumerate(beams):
        try:
            value = int(text)
        except ValueError:
            continue
        scores[value] = -(rank + 1)
    # Item ids are u32: other integers cannot be items (the Rust side drops them).
    return [[item, float(score)] for item, score in scores.items() if 0 <= item <= U32_MAX]


def beam_cases(rng, count):
    cases = []
    for _ in range(count):
        beams = [beam_string(rng) for _ in range(rng.randint(0, 20))]
        cases.append({"beams": beams, "scored": scores_from_beams(beams)})
    return cases


# ---------------------------------------------------------------------------------------------
# BLEU


def ngram_counts(tokens, max_order):
    counts = Counter()
    for order in range(1, max_order + 1):
        for start in range(len(tokens) - order + 1):
            counts[tuple(tokens[start:start + order])] += 1
    return counts


def corpus_bleu(references, hypotheses, max_order):
    matches = [0] * max_order
    possible = [0] * max_order
    reference_length = 0
    hypothesis_length = 0
    for reference, hypothesis in zip(references, hypotheses):
        reference_length += len(reference)
        hypothesis_length += len(hypothesis)
        reference_counts = ngram_counts(reference, max_order)
        for ngram, count in ngram_counts(hypothesis, max_order).items():
            matches[len(ngram) - 1] += min(count, reference_counts[ngram])
        for order in range(1, max_order + 1):
            if len(hypothesis) - order + 1 > 0:
                possible[order - 1] += len(hypothesis) - order + 1
    precisions = [m / p if p > 0 else 0.0 for m, p in zip(matches, possible)]
    if min(precisions) > 0:
        geometric_mean = math.exp(sum(math.log(p) / max_order for p in precisions))
    else:
        geometric_mean = 0.0
    ratio = hypothesis_length / reference_length
    brevity_penalty = 1.0 if ratio > 1.0 else math.exp(1.0 - 1.0 / ratio)
    return 100.0 * geometric_mean * brevity_penalty


# ---------------------------------------------------------------------------------------------
# ROUGE


def ngram_set(tokens, n):
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def rouge_n_f(hypothesis, reference, n):
    hyp = ngram_set(hypothesis.split(" "), n)
    ref = ngram_set(reference.split(" "), n)
    overlap = len(hyp & ref)
    precision = overlap / len(hyp) if hyp else 0.0
    recall = overlap / len(ref) if ref else 0.0
    return 2.0 * precision * recall / (precision + recall + 1e-8)


def lcs_length(a, b):
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l_f(hypothesis, reference):
    hyp = hypothesis.split(" ")
    ref = reference.split(" ")
    lcs = lcs_length(hyp, ref)
    recall = lcs / len(ref)
    precision = lcs / len(hyp)
    # The TF-seq2seq guards: beta = P / (R + 1e-12), F = num / (denom + 1e-12).
    beta = precision / (recall + 1e-12)
    numerator = (1 + beta**2) * recall * precision
    denominator = recall + beta**2 * precision
    return numerator / (denominator + 1e-12)


def corpus_rouge(references, hypotheses):
    pairs = list(zip(hypotheses, references))
    mean = lambda values: sum(values) / len(values)
    return {
        "rouge1": 100.0 * mean([rouge_n_f(h, r, 1) for h, r in pairs]),
        "rouge2": 100.0 * mean([rouge_n_f(h, r, 2) for h, r in pairs]),
        "rougeL": 100.0 * mean([rouge_l_f(h, r) for h, r in pairs]),
    }


# ---------------------------------------------------------------------------------------------
# Text corpora


def sentence(rng):
    return [rng.choice(WORDS) for _ in range(rng.randint(1, 12))]


def mutate(rng, words):
    """A hypothesis near the reference, so that higher-order n-grams match too."""
    out = []
    for word in words:
        roll = rng.random()
        if roll < 0.12:
            continue
        if roll < 0.24:
            out.append(rng.choice(WORDS))
        else:
            out.append(word)
        if rng.random() < 0.08:
            out.append(rng.choice(WORDS))
    return out


def join_with_noise(rng, words):
    """Mostly single spaces; sometimes a double, leading or trailing space."""
    text = ""
    for index, word in enumerate(words):
        if index > 0:
            text += "  " if rng.random() < 0.1 else " "
        text += word
    if rng.random() < 0.05:
        text = " " + text
    if rng.random() < 0.05:
        text = text + " "
    return text


def text_cases(rng, count):
    cases = []
    for _ in range(count):
        references, hypotheses = [], []
        for _ in range(rng.randint(1, 8)):
            reference = sentence(rng)
            hypothesis = [] if rng.random() < 0.05 else mutate(rng, reference)
            references.append(join_with_noise(rng, reference))
            hypotheses.append(join_with_noise(rng, hypothesis))
        word_refs = [r.split() for r in references]
        word_hyps = [h.split() for h in hypotheses]
        char_refs = [list(r) for r in references]
        char_hyps = [list(h) for h in hypotheses]
        case = {
            "references": references,
            "hypotheses": hypotheses,
            "word_bleu1": corpus_bleu(word_refs, word_hyps, 1),
            "word_bleu4": corpus_bleu(word_refs, word_hyps, 4),
            "char_bleu4": corpus_bleu(char_refs, char_hyps, 4),
        }
        case.update(corpus_rouge(references, hypotheses))
        cases.append(case)
    return cases


def main():
    rng = random.Random(20230519)
    ranking = ranking_cases(rng, 40)
    fixture = {
        "generator": "tests/gen/gen_metric_fixtures.py",
        "ranking": ranking,
        "ranking_aggregate": ranking_aggregate(ranking),
        "beams": beam_cases(rng, 20),
        "text": text_cases(rng, 24),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()

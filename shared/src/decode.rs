//! Decoding: greedy and beam search with Hugging Face `generate` semantics (transformers 5),
//! item-id constraints through a prefix trie, and yes/no scoring.
//!
//! Everything is `async` and reads tensors back with `into_data_async`, so the same code runs in a
//! browser (where a synchronous read panics) and natively (drive it with any `block_on`).

use burn::tensor::{Int, Tensor, TensorData};

use crate::adapter::Task;
use crate::batch::EncoderTensors;
use crate::error::{Result, Vip5Error};
use crate::model::Vip5Model;
use crate::nn::activation::log_softmax_rows;
use crate::t5::attention::DecoderCache;

/// Score HF gives a slot that holds no hypothesis (and adds to rule a candidate out).
const NEG_INF_SCORE: f32 = -1.0e9;

/// Beam search settings, named as in HF `generate`. `max_length` counts the decoder start token.
#[derive(Debug, Clone, PartialEq)]
pub struct BeamConfig {
    pub num_beams: usize,
    pub num_return_sequences: usize,
    pub max_length: usize,
    pub length_penalty: f32,
    pub early_stopping: bool,
}

impl Default for BeamConfig {
    /// VIP5's evaluation setting: 20 beams, 20 returned sequences, max length 50, early stopping.
    fn default() -> Self {
        Self {
            num_beams: 20,
            num_return_sequences: 20,
            max_length: 50,
            length_penalty: 1.0,
            early_stopping: true,
        }
    }
}

impl BeamConfig {
    /// `beams` beams, every one of them returned; the rest as [`BeamConfig::default`].
    pub fn returning(beams: usize) -> Self {
        Self { num_beams: beams, num_return_sequences: beams, ..Self::default() }
    }
}

/// A finished sequence: generated tokens (no start token; `</s>` included when it was produced)
/// and its length-normalised log-probability (HF's `sequences_scores`).
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    pub tokens: Vec<u32>,
    pub score: f32,
}

/// Restricts which tokens may follow a prefix of generated tokens. `None`: any token.
pub trait TokenConstraint {
    /// Allowed next tokens for batch row `row` after `prefix` (generated tokens, no start token).
    fn allowed(&self, row: usize, prefix: &[u32]) -> Option<Vec<u32>>;
}

/// Device-to-host reads decoding has made in this process (thread), for the read-back budget:
/// one per decoding step, and one per yes/no batch.
pub fn readback_count() -> usize {
    READBACKS.with(|c| c.get())
}

thread_local! {
    static READBACKS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

async fn read_f32(t: Tensor<2>) -> Result<Vec<f32>> {
    READBACKS.with(|c| c.set(c.get() + 1));
    let data = t
        .into_data_async()
        .await
        .map_err(|e| Vip5Error::Backend(format!("reading logits: {e:?}")))?;
    data.convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| Vip5Error::Backend(format!("reading logits: {e:?}")))
}

/// Log-probabilities of the next token for every cache row, after feeding `tokens` (one per row).
async fn next_log_probs(
    model: &Vip5Model,
    cache: &mut DecoderCache,
    tokens: &[u32],
    task: Task,
) -> Result<Vec<f32>> {
    let device = cache.encoder_mask_bias.device();
    let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [tokens.len(), 1]), &device);
    let logits = model.decode(ids, cache, task);
    let [rows, _, vocab] = logits.dims();
    let lp = read_f32(log_softmax_rows(logits.reshape([rows, vocab]))).await?;
    finite_or_error(&lp, "log-probabilities", cache.len)?;
    Ok(lp)
}

/// A device that computes NaN or infinity is broken for this model: say so instead of letting
/// the comparisons of the search silently drop every hypothesis.
fn finite_or_error(values: &[f32], what: &str, step: usize) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Vip5Error::Backend(format!(
            "the device computed a non-finite value ({}) among the {what} of decoding step \
             {step} (index {i}, {} of {} values are not finite)",
            values[i],
            values.iter().filter(|v| !v.is_finite()).count(),
            values.len()
        ))),
    }
}

/// Greedy decoding (HF `num_beams = 1`): returns the generated tokens of each batch row, `</s>`
/// included when produced within `max_length` (start token counted).
pub async fn greedy(
    model: &Vip5Model,
    x: &EncoderTensors,
    task: Task,
    max_length: usize,
    eos: u32,
    start: u32,
) -> Result<Vec<Vec<u32>>> {
    let enc = model.encode(x, task);
    let [batch, _, _] = enc.dims();
    let mut cache = model.start_decoding(enc, x.attention_mask.clone());
    let mut out = vec![Vec::new(); batch];
    let mut last = vec![start; batch];
    let mut done = vec![false; batch];
    for _ in 1..max_length {
        let lp = next_log_probs(model, &mut cache, &last, task).await?;
        let vocab = lp.len() / batch;
        for b in 0..batch {
            if done[b] {
                continue;
            }
            let row = &lp[b * vocab..(b + 1) * vocab];
            let best = argmax(row);
            out[b].push(best);
            last[b] = best;
            done[b] = best == eos;
        }
        if done.iter().all(|&d| d) {
            break;
        }
    }
    Ok(out)
}

fn argmax(row: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

/// Indices of the `k` largest values, in descending order; ties keep the lower index first.
///
/// One pass over `values` (a beam step's scores: beams x vocabulary, a quarter to two thirds of a
/// million values) that keeps only values above the current k-th best: a handful of candidates
/// are ever sorted. Indices arrive in increasing order, so a value equal to the k-th best ranks
/// after it and is skipped too.
fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    let k = k.min(values.len());
    if k == 0 {
        return Vec::new();
    }
    let cmp = |a: &usize, b: &usize| values[*b].total_cmp(&values[*a]).then(a.cmp(b));
    let room = 8 * k.max(8);
    let mut kept: Vec<usize> = Vec::with_capacity(room);
    let mut kth: Option<f32> = None;
    for (i, &v) in values.iter().enumerate() {
        if kth.is_some_and(|t| v.total_cmp(&t).is_le()) {
            continue;
        }
        kept.push(i);
        if kept.len() == room {
            kept.select_nth_unstable_by(k - 1, cmp);
            kept.truncate(k);
            kth = Some(values[kept[k - 1]]);
        }
    }
    if kept.len() > k {
        kept.select_nth_unstable_by(k - 1, cmp);
        kept.truncate(k);
    }
    kept.sort_by(cmp);
    kept
}

/// Beam search as transformers 5 implements it (`_beam_search`): 2 x num_beams candidates per
/// step, finished hypotheses scored `sum_logprobs / generated_len^length_penalty`, the early-stop
/// heuristic, and `num_return_sequences` best finished hypotheses per batch row. The decoder's
/// key/value cache is reordered to follow the surviving beams, and all beams run as one batch.
pub async fn beam_search(
    model: &Vip5Model,
    x: &EncoderTensors,
    task: Task,
    cfg: &BeamConfig,
    eos: u32,
    start: u32,
    constraint: Option<&dyn TokenConstraint>,
) -> Result<Vec<Vec<Hypothesis>>> {
    let nb = cfg.num_beams;
    if nb == 0 || cfg.num_return_sequences == 0 || cfg.num_return_sequences > nb {
        return Err(Vip5Error::Input(format!(
            "beam search needs 1 <= num_return_sequences ({}) <= num_beams ({nb})",
            cfg.num_return_sequences
        )));
    }
    if cfg.max_length < 2 {
        return Err(Vip5Error::Input(
            "max_length must leave room for at least one generated token".into(),
        ));
    }
    let enc = model.encode(x, task);
    let [batch, _, _] = enc.dims();
    let mut cache = model.start_decoding(enc, x.attention_mask.clone());
    // Every encoder row becomes `nb` beams.
    let expand: Vec<usize> = (0..batch * nb).map(|r| r / nb).collect();
    cache.select_rows(&expand);

    let keep = 2 * nb;
    let mut running: Vec<Vec<Vec<u32>>> = vec![vec![Vec::new(); nb]; batch];
    let mut running_scores: Vec<Vec<f32>> =
        vec![(0..nb).map(|b| if b == 0 { 0.0 } else { NEG_INF_SCORE }).collect(); batch];
    let mut finished: Vec<Vec<Hypothesis>> =
        vec![vec![Hypothesis { tokens: vec![], score: NEG_INF_SCORE }; nb]; batch];
    let mut finished_flag = vec![vec![false; nb]; batch];
    let mut improvable = vec![true; batch];
    let mut cur_len = 1usize; // the start token

    loop {
        let last: Vec<u32> =
            running.iter().flatten().map(|s| s.last().copied().unwrap_or(start)).collect();
        let mut lp = next_log_probs(model, &mut cache, &last, task).await?;
        let vocab = lp.len() / (batch * nb);
        if let Some(c) = constraint {
            for n in 0..batch {
                for b in 0..nb {
                    if let Some(allowed) = c.allowed(n, &running[n][b]) {
                        let row = &mut lp[(n * nb + b) * vocab..(n * nb + b + 1) * vocab];
                        let kept: Vec<(usize, f32)> = allowed
                            .into_iter()
                            .filter_map(|t| row.get(t as usize).map(|&v| (t as usize, v)))
                            .collect();
                        row.fill(f32::NEG_INFINITY);
                        for (t, v) in kept {
                            row[t] = v;
                        }
                    }
                }
            }
        }
        let mut reorder = Vec::with_capacity(batch * nb);
        let mut all_hit_stop = true;
        let generated_len = (cur_len + 1 - 1) as f32; // tokens generated once this step is added
        for n in 0..batch {
            // accumulated scores of every (beam, token) continuation of this batch row
            let mut acc = lp[n * nb * vocab..(n + 1) * nb * vocab].to_vec();
            for b in 0..nb {
                for v in &mut acc[b * vocab..(b + 1) * vocab] {
                    *v += running_scores[n][b];
                }
            }
            let top = top_k(&acc, keep);
            let cands: Vec<(usize, u32, f32, bool)> = top
                .iter()
                .map(|&i| {
                    let (beam, token) = (i / vocab, (i % vocab) as u32);
                    let hits_stop = token == eos || cur_len + 1 >= cfg.max_length;
                    (beam, token, acc[i], hits_stop)
                })
                .collect();
            all_hit_stop &= cands.iter().all(|c| c.3);

            // Next running beams: the best `nb` candidates that did not stop.
            let run_scores: Vec<f32> =
                cands.iter().map(|c| c.2 + if c.3 { NEG_INF_SCORE } else { 0.0 }).collect();
            let next = top_k(&run_scores, nb);
            let prev = std::mem::take(&mut running[n]);
            running[n] = next
                .iter()
                .map(|&j| {
                    let mut s = prev[cands[j].0].clone();
                    s.push(cands[j].1);
                    s
                })
                .collect();
            running_scores[n] = next.iter().map(|&j| run_scores[j]).collect();
            reorder.extend(next.iter().map(|&j| n * nb + cands[j].0));

            // Finished hypotheses: only candidates among the top `nb` may finish.
            let full = finished_flag[n].iter().all(|&f| f) && cfg.early_stopping;
            let mut merged: Vec<(Hypothesis, bool)> =
                finished[n].drain(..).zip(finished_flag[n].iter().copied()).collect();
            for (j, &(beam, token, score, hit)) in cands.iter().enumerate() {
                let just_finished = hit && j < nb;
                let mut s = score / generated_len.powf(cfg.length_penalty);
                if full {
                    s += NEG_INF_SCORE;
                }
                if !improvable[n] {
                    s += NEG_INF_SCORE;
                }
                if !just_finished {
                    s += NEG_INF_SCORE;
                }
                let mut tokens = prev[beam].clone();
                tokens.push(token);
                merged.push((Hypothesis { tokens, score: s }, just_finished));
            }
            let scores: Vec<f32> = merged.iter().map(|m| m.0.score).collect();
            let best = top_k(&scores, nb);
            finished[n] = best.iter().map(|&i| merged[i].0.clone()).collect();
            finished_flag[n] = best.iter().map(|&i| merged[i].1).collect();
        }
        cache.reorder_beams(&reorder, nb);
        cur_len += 1;

        for n in 0..batch {
            let best_possible =
                running_scores[n][0] / ((cur_len - 1) as f32).powf(cfg.length_penalty);
            let worst_finished = if finished_flag[n].iter().all(|&f| f) {
                finished[n].iter().map(|h| h.score).fold(f32::INFINITY, f32::min)
            } else {
                NEG_INF_SCORE
            };
            improvable[n] &= best_possible > worst_finished;
        }
        let improvement_possible = improvable.iter().any(|&i| i);
        let open = !(cfg.early_stopping && finished_flag.iter().flatten().all(|&f| f));
        if !(improvement_possible && open && !all_hit_stop) {
            break;
        }
    }
    Ok(finished
        .into_iter()
        .zip(finished_flag)
        .map(|(hyps, flags)| {
            hyps.into_iter()
                .zip(flags)
                .take(cfg.num_return_sequences)
                .filter(|(_, f)| *f)
                .map(|(h, _)| h)
                .collect()
        })
        .collect())
}

/// P(yes) / (P(yes) + P(no)) at the first decoder step, per batch row (the A-7/A-8/B-1..B-4
/// templates' answer as a probability).
pub async fn yes_probability(
    model: &Vip5Model,
    x: &EncoderTensors,
    task: Task,
    start: u32,
    yes: u32,
    no: u32,
) -> Result<Vec<f32>> {
    let enc = model.encode(x, task);
    let [batch, _, _] = enc.dims();
    let mut cache = model.start_decoding(enc, x.attention_mask.clone());
    let device = cache.encoder_mask_bias.device();
    let ids = Tensor::<2, Int>::from_data(
        TensorData::new(vec![start as i64; batch], [batch, 1]),
        &device,
    );
    let logits = model.decode(ids, &mut cache, task);
    let [_, _, vocab] = logits.dims();
    let logits = logits.reshape([batch, vocab]);
    let pick = |t: u32| {
        let idx = Tensor::<2, Int>::from_data(
            TensorData::new(vec![t as i64; batch], [batch, 1]),
            &device,
        );
        logits.clone().gather(1, idx)
    };
    let pair = read_f32(Tensor::cat(vec![pick(yes), pick(no)], 1)).await?;
    finite_or_error(&pair, "yes/no logits", 1)?;
    Ok(pair
        .chunks_exact(2)
        .map(|c| {
            // softmax over the two logits, computed stably
            let m = c[0].max(c[1]);
            let (y, n) = ((c[0] - m).exp(), (c[1] - m).exp());
            y / (y + n)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::top_k;

    /// The definition: every index sorted by value (descending), ties by index.
    fn reference(values: &[f32], k: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..values.len()).collect();
        idx.sort_by(|a, b| values[*b].total_cmp(&values[*a]).then(a.cmp(b)));
        idx.truncate(k);
        idx
    }

    #[test]
    fn top_k_equals_a_full_sort_with_ties_and_masked_values() {
        for (n, k) in [(0, 3), (5, 0), (5, 9), (1_000, 1), (1_000, 40), (50_000, 40), (777, 777)] {
            // few distinct values (many ties), masked runs, and an ascending tail that keeps
            // raising the k-th best
            let values: Vec<f32> = (0..n)
                .map(|i| match i % 7 {
                    0 => f32::NEG_INFINITY,
                    1 => ((i * 31) % 5) as f32,
                    _ if i > n * 9 / 10 => i as f32 * 0.001,
                    _ => -(((i * 17) % 13) as f32),
                })
                .collect();
            assert_eq!(top_k(&values, k), reference(&values, k), "n {n}, k {k}");
        }
    }
}

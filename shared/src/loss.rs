//! The training objective (docs/vip5.md §4.3): teacher-forced cross-entropy, averaged over each
//! sample's target tokens, weighted by 1/target_length (faithful) or not, averaged over the batch.

use burn::tensor::{Int, Tensor, TensorData};

use crate::batch::TargetBatch;
use crate::error::{Result, Vip5Error};
use crate::nn::cross_entropy::{SoftMix, cross_entropy_rows, nll_rows};
use crate::nn::linear::matmul;

/// Batch loss from logits `[B, T, V]`. Errors when a label is not a column of the logits.
pub fn seq2seq_loss(logits: Tensor<3>, targets: &TargetBatch) -> Result<Tensor<1>> {
    let device = logits.device();
    let [b, t, v] = logits.dims();
    let labels = label_ids(&targets.labels)?;
    let mask = Tensor::<2>::from_data(TensorData::new(targets.mask.clone(), [b, t]), &device);
    let weights = Tensor::<1>::from_data(TensorData::new(targets.weights.clone(), [b]), &device);
    let nll = nll_rows(logits.reshape([b * t, v]), &labels)?.reshape([b, t]) * mask.clone();
    // mean over each row's real tokens, then the row weight, then the batch mean
    let per_row = nll.sum_dim(1).reshape([b]) / mask.sum_dim(1).reshape([b]).clamp_min(1.0);
    Ok((per_row * weights).mean())
}

/// Token ids as the cross-entropy's labels (padding is 0, masked out by the caller).
fn label_ids(labels: &[i64]) -> Result<Vec<u32>> {
    labels
        .iter()
        .map(|&l| u32::try_from(l).map_err(|_| Vip5Error::Input(format!("a target label of {l}"))))
        .collect()
}

/// The first target step scored over a small vocabulary: the item tokens plus a few others
/// (`yes`/`no` for ), as constrained decoding only ever chooses among those. The
/// softmax over 12 k items instead of 44 k tokens costs a third of the head and spends no
/// probability on words that can never be an answer; the ranking among the allowed tokens at
/// inference is unchanged (a full softmax differs by one normaliser per row). Later steps
/// (`</s>` after the item) keep the full vocabulary, as decoding scores them.
#[derive(Debug, Clone)]
pub struct FirstStepVocab {
    /// Tokens before the item block (`yes`, `no`).
    extra: Vec<u32>,
    /// The item tokens' ids: `item_start .. item_start + items`.
    item_start: u32,
    items: usize,
}

impl FirstStepVocab {
    pub fn new(extra: Vec<u32>, item_start: u32, items: usize) -> Self {
        Self { extra, item_start, items }
    }

    /// This vocabulary with one more token before the item block.
    pub fn with_extra(&self, token: u32) -> Self {
        let mut extra = self.extra.clone();
        extra.push(token);
        Self { extra, ..self.clone() }
    }

    pub fn len(&self) -> usize {
        self.extra.len() + self.items
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_item_token(&self, token: u32) -> bool {
        token >= self.item_start && ((token - self.item_start) as usize) < self.items
    }

    /// Position of `token` in this vocabulary.
    pub fn index_of(&self, token: u32) -> Option<usize> {
        if self.is_item_token(token) {
            return Some(self.extra.len() + (token - self.item_start) as usize);
        }
        self.extra.iter().position(|&t| t == token)
    }

    /// Position of item number `item` (1-based, `<item_N>`).
    pub fn index_of_item(&self, item: u32) -> Option<usize> {
        (item >= 1 && (item as usize) <= self.items).then(|| self.extra.len() + item as usize - 1)
    }

    fn rows(&self, table: Tensor<2>) -> Tensor<2> {
        let device = table.device();
        let items = table.clone().narrow(0, self.item_start as usize, self.items);
        if self.extra.is_empty() {
            return items;
        }
        let ids: Vec<i64> = self.extra.iter().map(|&t| t as i64).collect();
        let extra = table.select(
            0,
            Tensor::<1, Int>::from_data(TensorData::new(ids, [self.extra.len()]), &device),
        );
        Tensor::cat(vec![extra, items], 0)
    }
}

/// Soft targets for the first step: per row, a distribution over [`FirstStepVocab`] (dense,
/// rows summing to 1) mixed into the one-hot target with weight `weight`; rows without one
/// (all zeros) keep the plain target.
pub struct SoftTargets {
    pub weight: f64,
    /// `[B * vocab.len()]`, row-major.
    pub probs: Vec<f32>,
    /// 1 where a row has a distribution.
    pub has: Vec<f32>,
}

impl SoftTargets {
    /// The rows of one data-parallel shard.
    pub fn rows(&self, range: std::ops::Range<usize>, v: usize) -> SoftTargets {
        SoftTargets {
            weight: self.weight,
            probs: self.probs[range.start * v..range.end * v].to_vec(),
            has: self.has[range].to_vec(),
        }
    }
}

/// [`seq2seq_loss`] with the first step over `vocab` (and optional soft targets there), from
/// the decoder states `[B, T, d]` and the model's output rows and factor
/// ([`crate::Vip5Model::output_rows`]); later steps over `later` when given (`vocab` plus
/// `</s>`: after an item token only `</s>` follows), else the full vocabulary. Errors when a
/// row's first label is outside `vocab`, or a later one outside `later`.
pub fn first_step_loss(
    hidden: Tensor<3>,
    output: (Tensor<2>, f64),
    targets: &TargetBatch,
    vocab: &FirstStepVocab,
    soft: Option<&SoftTargets>,
    bias: Option<&[f32]>,
    later: Option<&FirstStepVocab>,
) -> Result<Tensor<1>> {
    let device = hidden.device();
    let [b, t, d] = hidden.dims();
    let (table, factor) = output;
    let mut first = Vec::with_capacity(b);
    for row in 0..b {
        let label = targets.labels[row * t] as u32;
        let idx = vocab.index_of(label).ok_or_else(|| {
            Vip5Error::Input(format!(
                "--item-softmax: a target starts with token {label}, which is neither an item \
                 token nor yes/no"
            ))
        })?;
        first.push(idx as u32);
    }
    let h1 = hidden.clone().narrow(1, 0, 1).reshape([b, d]).mul_scalar(factor);
    let mut logits1 = matmul(h1, vocab.rows(table.clone()).transpose());
    if let Some(bias) = bias {
        if bias.len() != vocab.len() {
            return Err(Vip5Error::Input(format!(
                "a first-step bias of {} values for {} tokens",
                bias.len(),
                vocab.len()
            )));
        }
        let bias = Tensor::<1>::from_data(TensorData::new(bias.to_vec(), [bias.len()]), &device);
        logits1 = logits1 + bias.reshape([1, vocab.len()]);
    }
    let step1 = match soft.filter(|s| s.weight > 0.0) {
        Some(soft) => {
            let weight: Vec<f32> = soft.has.iter().map(|&h| h * soft.weight as f32).collect();
            let mix = SoftMix { probs: &soft.probs, weight: &weight };
            cross_entropy_rows(logits1, &first, Some(mix))?
        }
        None => nll_rows(logits1, &first)?,
    };
    let mask = Tensor::<2>::from_data(TensorData::new(targets.mask.clone(), [b, t]), &device);
    let weights = Tensor::<1>::from_data(TensorData::new(targets.weights.clone(), [b]), &device);
    let mut per_row_sum = step1 * mask.clone().narrow(1, 0, 1).reshape([b]);
    if t > 1 {
        let rest = hidden.narrow(1, 1, t - 1).reshape([b * (t - 1), d]).mul_scalar(factor);
        let mut labels: Vec<i64> =
            (0..b).flat_map(|r| targets.labels[r * t + 1..(r + 1) * t].to_vec()).collect();
        let rows = match later {
            Some(later) => {
                for (i, label) in labels.iter_mut().enumerate() {
                    // padding (masked out) maps to position 0
                    let (r, step) = (i / (t - 1), i % (t - 1) + 1);
                    if targets.mask[r * t + step] == 0.0 {
                        *label = 0;
                        continue;
                    }
                    let token = *label as u32;
                    *label = later.index_of(token).ok_or_else(|| {
                        Vip5Error::Input(format!(
                            "--item-softmax-rest: a later target token {token} is outside the \
                             small vocabulary"
                        ))
                    })? as i64;
                }
                later.rows(table)
            }
            None => table,
        };
        let nll = nll_rows(matmul(rest, rows.transpose()), &label_ids(&labels)?)?
            .reshape([b, t - 1])
            * mask.clone().narrow(1, 1, t - 1);
        per_row_sum = per_row_sum + nll.sum_dim(1).reshape([b]);
    }
    let per_row = per_row_sum / mask.sum_dim(1).reshape([b]).clamp_min(1.0);
    Ok((per_row * weights).mean())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use burn::tensor::activation::softmax;

    fn device() -> Device {
        Device::flex()
    }

    fn values(t: Tensor<1>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Two rows, two steps, d = 3, five tokens; tokens 2..5 are the items.
    fn setup() -> (Tensor<3>, Tensor<2>, TargetBatch) {
        let d = device();
        let h = Tensor::<1>::from_floats(
            [0.3, -1.2, 0.5, 0.9, 0.1, -0.4, -0.7, 0.8, 0.2, 0.05, 0.6, -0.3],
            &d,
        )
        .reshape([2, 2, 3]);
        let table = Tensor::<1>::from_floats(
            [0.1, 0.2, -0.3, 1.0, -0.5, 0.4, 0.7, 0.7, -0.2, -0.6, 0.3, 0.9, 0.2, -1.1, 0.5],
            &d,
        )
        .reshape([5, 3]);
        (h, table, TargetBatch::new(&[vec![3, 1], vec![4, 1]], 0, true))
    }

    #[test]
    fn a_first_step_vocabulary_of_every_token_is_the_plain_loss() {
        let (h, table, tb) = setup();
        let factor = 0.5;
        let logits = h
            .clone()
            .mul_scalar(factor)
            .reshape([4, 3])
            .matmul(table.clone().transpose())
            .reshape([2, 2, 5]);
        let plain = values(seq2seq_loss(logits, &tb).unwrap())[0];
        let vocab = FirstStepVocab::new(vec![0, 1], 2, 3);
        let ours =
            values(first_step_loss(h, (table, factor), &tb, &vocab, None, None, None).unwrap())[0];
        assert!((plain - ours).abs() < 1e-6, "{plain} vs {ours}");
    }

    #[test]
    fn the_first_step_normalises_over_its_vocabulary_and_mixes_soft_targets() {
        let (h, table, tb) = setup();
        let d = device();
        // first step over {1, 2, 3, 4}; token 0 is out
        let vocab = FirstStepVocab::new(vec![1], 2, 3);
        let hs = h.clone().reshape([4, 3]).matmul(table.clone().transpose()).reshape([2, 2, 5]);
        let p = softmax(hs, 2).into_data().try_to_vec::<f32>().unwrap();
        let at = |b: usize, t: usize, v: usize| p[(b * 2 + t) * 5 + v] as f64;
        let first = |b: usize, v: usize| at(b, 0, v) / (1.0 - at(b, 0, 0));
        // row 0: soft target half on item token 2, half on 4 (vocabulary positions 1 and 3);
        // row 1 has none
        let soft = SoftTargets {
            weight: 0.25,
            probs: vec![0.0, 0.5, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0],
            has: vec![1.0, 0.0],
        };
        let got =
            values(first_step_loss(h, (table, 1.0), &tb, &vocab, Some(&soft), None, None).unwrap())
                [0] as f64;
        let soft0 = -(0.5 * first(0, 2).ln() + 0.5 * first(0, 4).ln());
        let row0 = (0.75 * -first(0, 3).ln() + 0.25 * soft0 - at(0, 1, 1).ln()) / 2.0;
        let row1 = (-first(1, 4).ln() - at(1, 1, 1).ln()) / 2.0;
        let want = (row0 * 0.5 + row1 * 0.5) / 2.0; // faithful weights 1/2, then the batch mean
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        let _ = d;
        // a target outside the vocabulary is an error, not a silent 0
        let bad = TargetBatch::new(&[vec![0, 1], vec![4, 1]], 0, true);
        let (h, table, _) = setup();
        assert!(first_step_loss(h, (table, 1.0), &bad, &vocab, None, None, None).is_err());
    }

    #[test]
    fn a_first_step_bias_shifts_the_logits_that_the_loss_sees() {
        let (h, table, tb) = setup();
        // first step over {1, 2, 3, 4}, shifted by a bias per position; step 2 over all tokens
        let vocab = FirstStepVocab::new(vec![1], 2, 3);
        let bias = [0.0f32, 0.4, -0.2, 0.9];
        let hv = h.clone().into_data().try_to_vec::<f32>().unwrap();
        let tv = table.clone().into_data().try_to_vec::<f32>().unwrap();
        let logit = |b: usize, t: usize, v: usize| -> f64 {
            (0..3).map(|k| hv[(b * 2 + t) * 3 + k] as f64 * tv[v * 3 + k] as f64).sum()
        };
        let nll = |scores: &[f64], at: usize| -> f64 {
            let lse = scores.iter().map(|x| x.exp()).sum::<f64>().ln();
            lse - scores[at]
        };
        let row = |b: usize, label: usize| {
            let first: Vec<f64> = (1..5).map(|v| logit(b, 0, v) + bias[v - 1] as f64).collect();
            let second: Vec<f64> = (0..5).map(|v| logit(b, 1, v)).collect();
            (nll(&first, label - 1) + nll(&second, 1)) / 2.0
        };
        let want = (row(0, 3) * 0.5 + row(1, 4) * 0.5) / 2.0;
        let got =
            values(first_step_loss(h, (table, 1.0), &tb, &vocab, None, Some(&bias), None).unwrap())
                [0] as f64;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        // a bias of the wrong length is an error
        let (h, table, tb) = setup();
        assert!(
            first_step_loss(h, (table, 1.0), &tb, &vocab, None, Some(&bias[..3]), None).is_err()
        );
    }

    #[test]
    fn later_steps_over_a_small_vocabulary_normalise_over_it() {
        let (h, table, tb) = setup();
        // first step over {1, 2, 3, 4}; later steps over {1 (</s>), 2, 3, 4} too: token 0 is out
        let vocab = FirstStepVocab::new(vec![1], 2, 3);
        let hs = h.clone().reshape([4, 3]).matmul(table.clone().transpose()).reshape([2, 2, 5]);
        let p = softmax(hs, 2).into_data().try_to_vec::<f32>().unwrap();
        let at = |b: usize, t: usize, v: usize| p[(b * 2 + t) * 5 + v] as f64;
        let without0 = |b: usize, t: usize, v: usize| at(b, t, v) / (1.0 - at(b, t, 0));
        let got = values(
            first_step_loss(h, (table, 1.0), &tb, &vocab, None, None, Some(&vocab)).unwrap(),
        )[0] as f64;
        let row =
            |b: usize, first: usize| (-without0(b, 0, first).ln() - without0(b, 1, 1).ln()) / 2.0;
        let want = (row(0, 3) * 0.5 + row(1, 4) * 0.5) / 2.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        // a later label outside the small vocabulary is an error
        let bad = TargetBatch::new(&[vec![3, 0], vec![4, 1]], 0, true);
        let (h, table, _) = setup();
        assert!(first_step_loss(h, (table, 1.0), &bad, &vocab, None, None, Some(&vocab)).is_err());
    }
}

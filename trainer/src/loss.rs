//! The training objective (VIP5-SPEC 4.3): teacher-forced cross-entropy, averaged over each
//! sample's target tokens, weighted by 1/target_length (faithful) or not, averaged over the batch.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

/// Decoder inputs and labels of a batch, padded.
#[derive(Debug, Clone)]
pub struct TargetBatch {
    pub batch: usize,
    pub len: usize,
    /// `[0, t0, .., t_{n-2}]` per row (start token 0), padded with 0.
    pub decoder_input_ids: Vec<i64>,
    /// `t0 .. t_{n-1}` (ending in `</s>`), padded with 0 (masked out by `mask`).
    pub labels: Vec<i64>,
    /// 1 on real target tokens.
    pub mask: Vec<f32>,
    /// Per-row loss weight.
    pub weights: Vec<f32>,
}

impl TargetBatch {
    /// `faithful`: weight 1/len(target) as the original; otherwise 1.
    pub fn new(targets: &[Vec<u32>], start: u32, faithful: bool) -> Self {
        let batch = targets.len();
        let len = targets.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let mut out = Self {
            batch,
            len,
            decoder_input_ids: vec![0; batch * len],
            labels: vec![0; batch * len],
            mask: vec![0.0; batch * len],
            weights: vec![1.0; batch],
        };
        for (b, t) in targets.iter().enumerate() {
            for (i, &tok) in t.iter().enumerate() {
                out.labels[b * len + i] = tok as i64;
                out.mask[b * len + i] = 1.0;
                out.decoder_input_ids[b * len + i] = if i == 0 { start as i64 } else { t[i - 1] as i64 };
            }
            if faithful && !t.is_empty() {
                out.weights[b] = 1.0 / t.len() as f32;
            }
        }
        out
    }

    pub fn decoder_inputs(&self, device: &Device) -> Tensor<2, Int> {
        Tensor::from_data(TensorData::new(self.decoder_input_ids.clone(), [self.batch, self.len]), device)
    }
}

/// Batch loss from logits `[B, T, V]`.
pub fn seq2seq_loss(logits: Tensor<3>, targets: &TargetBatch) -> Tensor<1> {
    let device = logits.device();
    let [b, t, _] = logits.dims();
    let labels = Tensor::<3, Int>::from_data(TensorData::new(targets.labels.clone(), [b, t, 1]), &device);
    let mask = Tensor::<2>::from_data(TensorData::new(targets.mask.clone(), [b, t]), &device);
    let weights = Tensor::<1>::from_data(TensorData::new(targets.weights.clone(), [b]), &device);
    let nll = log_softmax(logits, 2).gather(2, labels).reshape([b, t]).neg() * mask.clone();
    // mean over each row's real tokens, then the row weight, then the batch mean
    let per_row = nll.sum_dim(1).reshape([b]) / mask.sum_dim(1).reshape([b]).clamp_min(1.0);
    (per_row * weights).mean()
}

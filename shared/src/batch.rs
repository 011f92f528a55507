//! Host-side batches: the encoder's token ids, whole-word ids and image features of several
//! prompts, padded into rectangular buffers, plus the indices that route visual tokens to
//! placeholders; and the decoder's teacher-forced inputs and labels ([`TargetBatch`]).

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use crate::config::Vip5Config;
use crate::error::{Result, Vip5Error};

/// One encoder input: the prompt's token ids (ending in `</s>`), its whole-word ids (same
/// length, 0 for `</s>`) and one CLIP feature vector per item image, in prompt order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncoderSample {
    pub input_ids: Vec<u32>,
    pub whole_word_ids: Vec<u32>,
    pub vis_feats: Vec<Vec<f32>>,
}

/// Rectangular, padded encoder inputs (row-major buffers).
#[derive(Debug, Clone)]
pub struct EncoderBatch {
    pub batch: usize,
    pub len: usize,
    /// Image rows per sample after padding (V).
    pub vis_rows: usize,
    pub feat_dim: usize,
    pub input_ids: Vec<i64>,
    pub attention_mask: Vec<f32>,
    pub whole_word_ids: Vec<i64>,
    /// 1 where the token is the visual placeholder, else 0 (docs/vip5.md §1.2).
    pub category_ids: Vec<i64>,
    pub vis_feats: Vec<f32>,
    /// For each position: which of the sample's V*k visual tokens replaces it.
    pub vis_index: Vec<i64>,
    pub vis_mask: Vec<bool>,
}

/// The same batch as device tensors.
#[derive(Debug, Clone)]
pub struct EncoderTensors {
    pub input_ids: Tensor<2, Int>,
    pub attention_mask: Tensor<2>,
    pub whole_word_ids: Tensor<2, Int>,
    pub category_ids: Tensor<2, Int>,
    /// `[B, V, feat_dim]`; `None` when no prompt in the batch has an image.
    pub vis_feats: Option<Tensor<3>>,
    pub vis_index: Tensor<2, Int>,
    pub vis_mask: Tensor<2, Bool>,
}

impl EncoderBatch {
    /// Pads the samples (token id 0 = pad, whole-word id 0, zero image rows) and routes the
    /// j-th placeholder of each prompt to its j-th visual token. Placeholders beyond the images'
    /// tokens are an error; surplus image rows (a truncated prompt) are ignored, as in VIP5.
    pub fn new(samples: &[EncoderSample], cfg: &Vip5Config) -> Result<Self> {
        if samples.is_empty() {
            return Err(Vip5Error::Input("an encoder batch needs at least one prompt".into()));
        }
        let batch = samples.len();
        let len = samples.iter().map(|s| s.input_ids.len()).max().unwrap_or(0);
        if len == 0 {
            return Err(Vip5Error::Input("empty prompt (no token ids)".into()));
        }
        let vis_rows = samples.iter().map(|s| s.vis_feats.len()).max().unwrap_or(0);
        let feat_dim = cfg.feat_dim;
        let k = cfg.n_vis_tokens;
        let mut out = Self {
            batch,
            len,
            vis_rows,
            feat_dim,
            input_ids: vec![cfg.pad_token_id as i64; batch * len],
            attention_mask: vec![0.0; batch * len],
            whole_word_ids: vec![0; batch * len],
            category_ids: vec![0; batch * len],
            vis_feats: vec![0.0; batch * vis_rows * feat_dim],
            vis_index: vec![0; batch * len],
            vis_mask: vec![false; batch * len],
        };
        for (b, s) in samples.iter().enumerate() {
            if s.whole_word_ids.len() != s.input_ids.len() {
                return Err(Vip5Error::Input(format!(
                    "prompt {b}: {} token ids but {} whole-word ids",
                    s.input_ids.len(),
                    s.whole_word_ids.len()
                )));
            }
            let mut placeholder = 0usize;
            for (i, (&id, &ww)) in s.input_ids.iter().zip(&s.whole_word_ids).enumerate() {
                if id as usize >= cfg.vocab_size {
                    return Err(Vip5Error::Input(format!(
                        "prompt {b}: token id {id} is outside the vocabulary ({})",
                        cfg.vocab_size
                    )));
                }
                if ww as usize >= cfg.whole_word_vocab {
                    return Err(Vip5Error::Input(format!(
                        "prompt {b}: whole-word id {ww} exceeds the table ({} rows); the prompt \
                         is too long",
                        cfg.whole_word_vocab
                    )));
                }
                let at = b * len + i;
                out.input_ids[at] = id as i64;
                out.attention_mask[at] = if id == cfg.pad_token_id { 0.0 } else { 1.0 };
                out.whole_word_ids[at] = ww as i64;
                if id == cfg.visual_token_id {
                    if placeholder >= s.vis_feats.len() * k {
                        return Err(Vip5Error::Input(format!(
                            "prompt {b}: more visual placeholders than image tokens \
                             ({} images x {k})",
                            s.vis_feats.len()
                        )));
                    }
                    out.category_ids[at] = 1;
                    out.vis_index[at] = placeholder as i64;
                    out.vis_mask[at] = true;
                    placeholder += 1;
                }
            }
            for (j, feat) in s.vis_feats.iter().enumerate() {
                if feat.len() != feat_dim {
                    return Err(Vip5Error::Input(format!(
                        "prompt {b}: image {j} has a feature of length {} (expected {feat_dim})",
                        feat.len()
                    )));
                }
                let at = (b * vis_rows + j) * feat_dim;
                out.vis_feats[at..at + feat_dim].copy_from_slice(feat);
            }
        }
        Ok(out)
    }

    /// Uploads the buffers to `device`.
    pub fn to_tensors(&self, device: &Device) -> EncoderTensors {
        let shape = [self.batch, self.len];
        let int =
            |v: &Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v.clone(), shape), device);
        EncoderTensors {
            input_ids: int(&self.input_ids),
            attention_mask: Tensor::from_data(
                TensorData::new(self.attention_mask.clone(), shape),
                device,
            ),
            whole_word_ids: int(&self.whole_word_ids),
            category_ids: int(&self.category_ids),
            vis_feats: (self.vis_rows > 0).then(|| {
                Tensor::from_data(
                    TensorData::new(
                        self.vis_feats.clone(),
                        [self.batch, self.vis_rows, self.feat_dim],
                    ),
                    device,
                )
            }),
            vis_index: int(&self.vis_index),
            vis_mask: Tensor::from_data(TensorData::new(self.vis_mask.clone(), shape), device),
        }
    }
}

/// Additive attention mask `[B, 1, 1, L]` from a 1/0 padding mask.
pub fn mask_bias(attention_mask: Tensor<2>) -> Tensor<4> {
    let [b, l] = attention_mask.dims();
    attention_mask.neg().add_scalar(1.0).mul_scalar(crate::nn::MASK_VALUE).reshape([b, 1, 1, l])
}
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
                out.decoder_input_ids[b * len + i] =
                    if i == 0 { start as i64 } else { t[i - 1] as i64 };
            }
            if faithful && !t.is_empty() {
                out.weights[b] = 1.0 / t.len() as f32;
            }
        }
        out
    }

    pub fn decoder_inputs(&self, device: &Device) -> Tensor<2, Int> {
        Tensor::from_data(
            TensorData::new(self.decoder_input_ids.clone(), [self.batch, self.len]),
            device,
        )
    }
}

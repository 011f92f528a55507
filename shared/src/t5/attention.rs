//! T5 multi-head attention with relative position bias and a key/value cache.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::config::Vip5Config;
use crate::nn::activation::softmax_last;
use crate::nn::linear::{linear, matmul};
use crate::t5::dropout::Dropout;

/// T5's bucketing of a relative position (`memory - query`), as in Mesh TensorFlow / HF:
/// half the buckets are exact small distances, the rest logarithmic up to `max_distance`.
/// Bidirectional buckets also encode the sign; causal buckets clamp future positions to 0.
pub fn relative_position_bucket(
    relative_position: i64,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
) -> i64 {
    let mut num_buckets = num_buckets as i64;
    let mut bucket = 0i64;
    let n = if bidirectional {
        num_buckets /= 2;
        if relative_position > 0 {
            bucket += num_buckets;
        }
        relative_position.abs()
    } else {
        (-relative_position).max(0)
    };
    let max_exact = num_buckets / 2;
    if n < max_exact {
        return bucket + n;
    }
    // f32 arithmetic as in HF (float32 tensor log, divided by a Python float), truncated toward 0.
    let log_ratio = (n as f32 / max_exact as f32).ln();
    let scale = (max_distance as f64 / max_exact as f64).ln() as f32;
    let large = max_exact + (log_ratio / scale * (num_buckets - max_exact) as f32) as i64;
    bucket + large.min(num_buckets - 1)
}

/// One attention module (`SelfAttention` or `EncDecAttention` in HF's names).
#[derive(Module, Debug)]
pub struct T5Attention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    /// Only block 0 owns the table; the other blocks reuse the bias it computes.
    pub relative_attention_bias: Option<Embedding>,
    dropout: Dropout,
    n_heads: usize,
    d_kv: usize,
    num_buckets: usize,
    max_distance: usize,
}

impl T5Attention {
    pub fn new(cfg: &Vip5Config, has_relative_bias: bool, device: &Device) -> Self {
        let inner = cfg.inner_dim();
        // HF's Mesh-TF style init (no 1/sqrt(d) in attention, so q is scaled down instead).
        let std_q = ((cfg.d_model * cfg.d_kv) as f64).powf(-0.5);
        let std_kv = (cfg.d_model as f64).powf(-0.5);
        let std_o = (inner as f64).powf(-0.5);
        let linear = |d_in, d_out, std: f64| {
            LinearConfig::new(d_in, d_out)
                .with_bias(false)
                .with_initializer(burn::nn::Initializer::Normal { mean: 0.0, std })
                .init(device)
        };
        Self {
            q: linear(cfg.d_model, inner, std_q),
            k: linear(cfg.d_model, inner, std_kv),
            v: linear(cfg.d_model, inner, std_kv),
            o: linear(inner, cfg.d_model, std_o),
            relative_attention_bias: has_relative_bias.then(|| {
                EmbeddingConfig::new(cfg.relative_attention_num_buckets, cfg.num_heads)
                    .with_initializer(burn::nn::Initializer::Normal { mean: 0.0, std: std_kv })
                    .init(device)
            }),
            dropout: Dropout::new(cfg.dropout_rate),
            n_heads: cfg.num_heads,
            d_kv: cfg.d_kv,
            num_buckets: cfg.relative_attention_num_buckets,
            max_distance: cfg.relative_attention_max_distance,
        }
    }

    /// Relative position bias `[1, heads, q_len, k_len]` for queries at positions
    /// `query_offset..query_offset + q_len` against keys `0..k_len`.
    ///
    /// Buckets are computed on the host (cheap integer work) so no backend reads a tensor back.
    pub fn compute_bias(
        &self,
        query_offset: usize,
        q_len: usize,
        k_len: usize,
        bidirectional: bool,
        device: &Device,
    ) -> Tensor<4> {
        let table = self
            .relative_attention_bias
            .as_ref()
            .expect("compute_bias is only called on the block that owns the relative bias table");
        let mut buckets = Vec::with_capacity(q_len * k_len);
        for qi in 0..q_len {
            for ki in 0..k_len {
                let rel = ki as i64 - (query_offset + qi) as i64;
                buckets.push(relative_position_bucket(
                    rel,
                    bidirectional,
                    self.num_buckets,
                    self.max_distance,
                ));
            }
        }
        let idx = Tensor::<2, Int>::from_data(TensorData::new(buckets, [q_len, k_len]), device);
        // [q, k, heads] -> [1, heads, q, k]
        table.forward(idx).permute([2, 0, 1]).unsqueeze::<4>()
    }

    /// Projects `x` `[B, L, d]` to keys and values `[B, heads, L, d_kv]`.
    pub fn project_kv(&self, x: Tensor<3>) -> (Tensor<4>, Tensor<4>) {
        (self.split_heads(linear(&self.k, x.clone())), self.split_heads(linear(&self.v, x)))
    }

    /// Attention of `x` (the queries) over the given keys and values. `bias` already holds the
    /// relative position bias and the additive masks, broadcastable to `[B, heads, q, k]`.
    pub fn attend(
        &self,
        x: Tensor<3>,
        keys: Tensor<4>,
        values: Tensor<4>,
        bias: Tensor<4>,
    ) -> Tensor<3> {
        let q = self.split_heads(linear(&self.q, x));
        // No 1/sqrt(d_kv): T5 folds that scale into the initialisation of `q`.
        let scores = matmul(q, keys.swap_dims(2, 3)) + bias;
        let weights = self.dropout.forward(softmax_last(scores));
        let out = matmul(weights, values);
        let [b, h, l, dk] = out.dims();
        linear(&self.o, out.swap_dims(1, 2).reshape([b, l, h * dk]))
    }

    pub(crate) fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [b, l, _] = x.dims();
        x.reshape([b, l, self.n_heads, self.d_kv]).swap_dims(1, 2)
    }
}

/// Key/value cache of one decoder block: self-attention grows by one step per token, the
/// cross-attention keys/values are computed once from the encoder output.
#[derive(Debug, Clone)]
pub struct LayerCache {
    pub self_keys: Option<Tensor<4>>,
    pub self_values: Option<Tensor<4>>,
    pub cross_keys: Tensor<4>,
    pub cross_values: Tensor<4>,
}

impl LayerCache {
    /// Appends this step's keys/values; returns the full keys/values to attend over.
    pub fn append(&mut self, keys: Tensor<4>, values: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let keys = match self.self_keys.take() {
            Some(past) => Tensor::cat(vec![past, keys], 2),
            None => keys,
        };
        let values = match self.self_values.take() {
            Some(past) => Tensor::cat(vec![past, values], 2),
            None => values,
        };
        self.self_keys = Some(keys.clone());
        self.self_values = Some(values.clone());
        (keys, values)
    }

    fn select_rows(&mut self, rows: &Tensor<1, Int>, cross_too: bool) {
        let pick = |t: Tensor<4>| t.select(0, rows.clone());
        self.self_keys = self.self_keys.take().map(pick);
        self.self_values = self.self_values.take().map(pick);
        if cross_too {
            self.cross_keys = pick(self.cross_keys.clone());
            self.cross_values = pick(self.cross_values.clone());
        }
    }
}

/// The decoder's key/value cache: with it, decoding step t attends over t cached keys (O(t))
/// instead of re-running the whole prefix (O(t^2)).
#[derive(Debug, Clone)]
pub struct DecoderCache {
    pub layers: Vec<LayerCache>,
    /// Additive encoder padding mask `[B, 1, 1, S]`.
    pub encoder_mask_bias: Tensor<4>,
    /// Tokens already fed through the decoder.
    pub len: usize,
    /// Query length of every call that used this cache (a test asserts they are all 1 when
    /// decoding token by token).
    pub step_query_lengths: Vec<usize>,
}

impl DecoderCache {
    /// Keeps (and repeats) batch rows: `rows[i]` is the old row that becomes row `i`. Used by beam
    /// search to follow the surviving beams and to expand one encoder output into several beams.
    pub fn select_rows(&mut self, rows: &[usize]) {
        let idx = self.row_index(rows);
        for layer in &mut self.layers {
            layer.select_rows(&idx, true);
        }
        self.encoder_mask_bias = self.encoder_mask_bias.clone().select(0, idx);
    }

    /// [`Self::select_rows`] for a beam search step, where every row stays within its group of
    /// `beams` rows (the beams of one encoder row). The rows of a group share one encoder output,
    /// so their cross-attention keys/values and mask are equal and stay where they are: only the
    /// self-attention cache moves (the cross-attention part was most of the copying per step).
    pub fn reorder_beams(&mut self, rows: &[usize], beams: usize) {
        if beams == 0 || rows.iter().enumerate().any(|(i, &r)| r / beams != i / beams) {
            return self.select_rows(rows);
        }
        let idx = self.row_index(rows);
        for layer in &mut self.layers {
            layer.select_rows(&idx, false);
        }
    }

    fn row_index(&self, rows: &[usize]) -> Tensor<1, Int> {
        let device = self.encoder_mask_bias.device();
        let idx: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        Tensor::<1, Int>::from_data(TensorData::new(idx, [rows.len()]), &device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(values: &[f32], device: &Device) -> Tensor<4> {
        Tensor::<1>::from_floats(values, device).reshape([values.len(), 1, 1, 1])
    }

    fn read(t: &Tensor<4>) -> Vec<f32> {
        t.clone().into_data().try_to_vec::<f32>().expect("f32")
    }

    /// Two prompts of two beams: self-attention rows 0..4, cross-attention rows equal per prompt.
    fn cache(device: &Device) -> DecoderCache {
        DecoderCache {
            layers: vec![LayerCache {
                self_keys: Some(column(&[0.0, 1.0, 2.0, 3.0], device)),
                self_values: Some(column(&[10.0, 11.0, 12.0, 13.0], device)),
                cross_keys: column(&[5.0, 5.0, 7.0, 7.0], device),
                cross_values: column(&[6.0, 6.0, 8.0, 8.0], device),
            }],
            encoder_mask_bias: column(&[0.0, 0.0, -1.0, -1.0], device),
            len: 1,
            step_query_lengths: vec![1],
        }
    }

    #[test]
    fn reordering_beams_moves_the_self_attention_cache_as_selecting_rows_does() {
        let device = Device::flex();
        for rows in [[1, 0, 3, 2], [1, 1, 2, 2], [0, 1, 2, 3]] {
            let (mut beams, mut all) = (cache(&device), cache(&device));
            beams.reorder_beams(&rows, 2);
            all.select_rows(&rows);
            let (b, a) = (&beams.layers[0], &all.layers[0]);
            assert_eq!(read(b.self_keys.as_ref().unwrap()), read(a.self_keys.as_ref().unwrap()));
            assert_eq!(
                read(b.self_values.as_ref().unwrap()),
                read(a.self_values.as_ref().unwrap())
            );
            // equal within each prompt's group, so the result is the same without the copy
            assert_eq!(read(&b.cross_keys), read(&a.cross_keys));
            assert_eq!(read(&b.cross_values), read(&a.cross_values));
            assert_eq!(read(&beams.encoder_mask_bias), read(&all.encoder_mask_bias));
        }
        // a row taken from the other prompt's group: everything moves, as select_rows does
        let mut crossing = cache(&device);
        crossing.reorder_beams(&[2, 0, 1, 3], 2);
        assert_eq!(read(&crossing.layers[0].cross_keys), vec![7.0, 5.0, 5.0, 7.0]);
        assert_eq!(read(&crossing.encoder_mask_bias), vec![-1.0, 0.0, 0.0, -1.0]);
        assert_eq!(read(crossing.layers[0].self_keys.as_ref().unwrap()), vec![2.0, 0.0, 1.0, 3.0]);
    }
}

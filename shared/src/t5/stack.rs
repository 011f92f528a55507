//! The encoder (VIP5's "JointEncoder": T5 encoder + visual tokens + whole-word/category tables)
//! and the decoder stack.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig};
use burn::tensor::{Device, Tensor, TensorData};

use crate::adapter::Task;
use crate::batch::{EncoderTensors, mask_bias};
use crate::config::Vip5Config;
use crate::nn::MASK_VALUE;
use crate::nn::norm::T5LayerNorm;
use crate::t5::attention::{DecoderCache, LayerCache};
use crate::t5::dropout::Dropout;
use crate::t5::layers::{T5LayerCrossAttention, T5LayerFF, T5LayerSelfAttention};
use crate::visual::VisualEmbedding;

/// `encoder.block.N`: self-attention (`layer.0`) and FFN (`layer.1`).
#[derive(Module, Debug)]
pub struct T5EncoderBlock {
    pub layer: (T5LayerSelfAttention, T5LayerFF),
}

/// `decoder.block.N`: causal self-attention, cross-attention, FFN.
#[derive(Module, Debug)]
pub struct T5DecoderBlock {
    pub layer: (T5LayerSelfAttention, T5LayerCrossAttention, T5LayerFF),
}

/// The encoder with VIP5's input pipeline (docs/vip5.md §1.2).
#[derive(Module, Debug)]
pub struct T5Encoder {
    pub block: Vec<T5EncoderBlock>,
    pub final_layer_norm: T5LayerNorm,
    /// VIP5 inputs; `None` in a plain T5.
    pub whole_word_embeddings: Option<Embedding>,
    pub category_embeddings: Option<Embedding>,
    pub visual_embedding: Option<VisualEmbedding>,
    dropout: Dropout,
}

impl T5Encoder {
    pub fn new(cfg: &Vip5Config, device: &Device) -> Self {
        Self {
            block: (0..cfg.num_encoder_layers)
                .map(|i| T5EncoderBlock {
                    layer: (
                        T5LayerSelfAttention::new(cfg, i == 0, device),
                        T5LayerFF::new(cfg, device),
                    ),
                })
                .collect(),
            final_layer_norm: T5LayerNorm::new(cfg.d_model, cfg.layer_norm_epsilon, device),
            // PyTorch's nn.Embedding default, N(0, 1), as in the original (frozen unless asked).
            whole_word_embeddings: cfg
                .vip5_inputs
                .then(|| EmbeddingConfig::new(cfg.whole_word_vocab, cfg.d_model).init(device)),
            category_embeddings: cfg
                .vip5_inputs
                .then(|| EmbeddingConfig::new(cfg.category_vocab, cfg.d_model).init(device)),
            visual_embedding: cfg.vip5_inputs.then(|| VisualEmbedding::new(cfg, device)),
            dropout: Dropout::new(cfg.dropout_rate),
        }
    }

    /// Token embeddings with the visual tokens substituted at the placeholders, plus the
    /// whole-word and category embeddings: `[B, L, d]`.
    pub fn embed(&self, shared: &Embedding, x: &EncoderTensors) -> Tensor<3> {
        let mut emb = shared.forward(x.input_ids.clone());
        if let (Some(visual), Some(feats)) = (&self.visual_embedding, &x.vis_feats) {
            let [b, l, d] = emb.dims();
            let vis = visual.forward(feats.clone());
            let index = x.vis_index.clone().unsqueeze_dim::<3>(2).expand([b, l, d]);
            let mask = x.vis_mask.clone().unsqueeze_dim::<3>(2).expand([b, l, d]);
            emb = emb.mask_where(mask, vis.gather(1, index));
        }
        if let Some(table) = &self.whole_word_embeddings {
            emb = emb + table.forward(x.whole_word_ids.clone());
        }
        if let Some(table) = &self.category_embeddings {
            emb = emb + table.forward(x.category_ids.clone());
        }
        emb
    }

    /// Encoder hidden states `[B, L, d]` (after the final norm).
    pub fn forward(&self, shared: &Embedding, x: &EncoderTensors, task: Task) -> Tensor<3> {
        let mut h = self.dropout.forward(self.embed(shared, x));
        let [_, l, _] = h.dims();
        // Block 0 owns the bias table; the bias (with the padding mask) is shared by all blocks.
        let bias = self.block[0].layer.0.SelfAttention.compute_bias(0, l, l, true, &h.device())
            + mask_bias(x.attention_mask.clone());
        for block in &self.block {
            h = block.layer.0.forward(h, bias.clone(), None, task);
            h = block.layer.1.forward(h, task);
        }
        self.dropout.forward(self.final_layer_norm.forward(h))
    }
}

/// The decoder stack.
#[derive(Module, Debug)]
pub struct T5Decoder {
    pub block: Vec<T5DecoderBlock>,
    pub final_layer_norm: T5LayerNorm,
    dropout: Dropout,
}

impl T5Decoder {
    pub fn new(cfg: &Vip5Config, device: &Device) -> Self {
        Self {
            block: (0..cfg.num_decoder_layers)
                .map(|i| T5DecoderBlock {
                    layer: (
                        T5LayerSelfAttention::new(cfg, i == 0, device),
                        T5LayerCrossAttention::new(cfg, device),
                        T5LayerFF::new(cfg, device),
                    ),
                })
                .collect(),
            final_layer_norm: T5LayerNorm::new(cfg.d_model, cfg.layer_norm_epsilon, device),
            dropout: Dropout::new(cfg.dropout_rate),
        }
    }

    /// An empty cache for this encoder output: every block's cross-attention keys/values are
    /// projected here, once.
    pub fn start_cache(
        &self,
        encoder_hidden: Tensor<3>,
        encoder_attention_mask: Tensor<2>,
    ) -> DecoderCache {
        let layers = self
            .block
            .iter()
            .map(|b| {
                let (cross_keys, cross_values) =
                    b.layer.1.EncDecAttention.project_kv(encoder_hidden.clone());
                LayerCache { self_keys: None, self_values: None, cross_keys, cross_values }
            })
            .collect();
        DecoderCache {
            layers,
            encoder_mask_bias: mask_bias(encoder_attention_mask),
            len: 0,
            step_query_lengths: vec![],
        }
    }

    /// Runs `embeddings` (`[B, q, d]`, the next q tokens) through the stack, appending to the
    /// cache. Returns the final hidden states `[B, q, d]`.
    pub fn forward(
        &self,
        embeddings: Tensor<3>,
        cache: &mut DecoderCache,
        task: Task,
    ) -> Tensor<3> {
        let device = embeddings.device();
        let [_, q_len, _] = embeddings.dims();
        let offset = cache.len;
        let k_len = offset + q_len;
        let mut bias =
            self.block[0].layer.0.SelfAttention.compute_bias(offset, q_len, k_len, false, &device);
        if q_len > 1 {
            bias = bias + causal_mask(offset, q_len, k_len, &device);
        }
        let mut h = self.dropout.forward(embeddings);
        for (block, layer_cache) in self.block.iter().zip(cache.layers.iter_mut()) {
            h = block.layer.0.forward(h, bias.clone(), Some(layer_cache), task);
            h = block.layer.1.forward(
                h,
                layer_cache.cross_keys.clone(),
                layer_cache.cross_values.clone(),
                cache.encoder_mask_bias.clone(),
                task,
            );
            h = block.layer.2.forward(h, task);
        }
        cache.len = k_len;
        cache.step_query_lengths.push(q_len);
        self.dropout.forward(self.final_layer_norm.forward(h))
    }
}

/// `[1, 1, q, k]`: 0 where key position <= query position, `MASK_VALUE` after it.
fn causal_mask(offset: usize, q_len: usize, k_len: usize, device: &Device) -> Tensor<4> {
    let mut m = vec![0.0f32; q_len * k_len];
    for qi in 0..q_len {
        for ki in (offset + qi + 1)..k_len {
            m[qi * k_len + ki] = MASK_VALUE;
        }
    }
    Tensor::from_data(TensorData::new(m, [1, 1, q_len, k_len]), device)
}

//! Model configuration: the T5 backbone, the VIP5 additions, and the presets.

use serde::{Deserialize, Serialize};

use crate::error::{Result, Vip5Error};

/// Feed-forward variant of a T5 block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedForward {
    /// T5 v1.0 (`t5-small`): `wo(relu(wi(x)))`.
    Relu,
    /// T5 v1.1 / FLAN-T5: `wo(gelu_tanh(wi_0(x)) * wi_1(x))`.
    GatedGelu,
}

/// Which parameters a training run updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainMode {
    /// VIP5: adapters, the visual mapping network and every RMS norm gain; the backbone is frozen.
    Adapters,
    /// P5-style full fine-tuning: every parameter.
    Full,
}

/// Everything needed to build a VIP5 model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vip5Config {
    pub vocab_size: usize,
    pub d_model: usize,
    pub d_kv: usize,
    pub d_ff: usize,
    pub num_heads: usize,
    pub num_encoder_layers: usize,
    pub num_decoder_layers: usize,
    pub relative_attention_num_buckets: usize,
    pub relative_attention_max_distance: usize,
    pub layer_norm_epsilon: f64,
    pub dropout_rate: f64,
    pub feed_forward: FeedForward,
    /// Tied LM head (T5 v1.0): logits = (h * d_model^-0.5) @ shared^T. Untied: a separate
    /// `lm_head`.
    pub tie_word_embeddings: bool,
    pub pad_token_id: u32,
    pub eos_token_id: u32,
    pub decoder_start_token_id: u32,

    /// VIP5's encoder inputs: visual mapping network, whole-word and category tables. `false`
    /// gives a plain T5 (what a bare Hugging Face T5 `config.json` describes).
    pub vip5_inputs: bool,
    /// Token id whose positions receive the visual tokens (`<extra_id_0>` = 32099 in t5-small).
    pub visual_token_id: u32,
    /// Dimension of one CLIP image embedding (ViT-B/32: 512).
    pub feat_dim: usize,
    /// Visual tokens per image (k).
    pub n_vis_tokens: usize,
    /// RMS norm over the d*k visual vector (the original's `use_vis_layer_norm`, on by default).
    pub use_vis_layer_norm: bool,
    /// Rows of the whole-word table (1024 in VIP5).
    pub whole_word_vocab: usize,
    /// Rows of the category table (16 in VIP5; 0 = text, 1 = visual).
    pub category_vocab: usize,

    /// Adapters after the attention and FFN sublayers; `false` gives plain T5 (+ VIP5 input
    /// tables).
    pub use_adapter: bool,
    /// Bottleneck = d_model / reduction_factor.
    pub reduction_factor: usize,
    /// Adapters after the decoder's cross-attention too (VIP5 default).
    pub add_adapter_cross_attn: bool,
    /// One adapter per position shared by all tasks (VIP5 default); `false` = one per task family.
    pub use_single_adapter: bool,
    /// Train the whole-word and category tables (frozen at their seeded N(0,1) init in the
    /// original).
    pub train_input_tables: bool,
    /// Items written as one token each (`<item_N>`, N in 1..=item_tokens, ids after the
    /// tokenizer's vocabulary; `vocab_size` must cover them); 0 = P5/VIP5's numbers.
    #[serde(default)]
    pub item_tokens: usize,
    /// The newest history items a prompt held in training (`train --max-history-items`); the
    /// recommender and `trainer eval` put at most this many in a prompt by default, so a model
    /// meets the history lengths it learned from. `None`: all, as the original.
    #[serde(default)]
    pub max_history_items: Option<usize>,
}

impl Vip5Config {
    /// The paper's model: t5-small + ViT-B/32 features, k = 2, r = 8, cross-attention adapters.
    pub fn t5_small() -> Self {
        Self {
            vocab_size: 32_100,
            d_model: 512,
            d_kv: 64,
            d_ff: 2048,
            num_heads: 8,
            num_encoder_layers: 6,
            num_decoder_layers: 6,
            relative_attention_num_buckets: 32,
            relative_attention_max_distance: 128,
            layer_norm_epsilon: 1e-6,
            dropout_rate: 0.1,
            feed_forward: FeedForward::Relu,
            tie_word_embeddings: true,
            pad_token_id: 0,
            eos_token_id: 1,
            decoder_start_token_id: 0,
            vip5_inputs: true,
            visual_token_id: 32_099,
            feat_dim: 512,
            n_vis_tokens: 2,
            use_vis_layer_norm: true,
            whole_word_vocab: 1024,
            category_vocab: 16,
            use_adapter: true,
            reduction_factor: 8,
            add_adapter_cross_attn: true,
            use_single_adapter: true,
            train_input_tables: false,
            item_tokens: 0,
            max_history_items: None,
        }
    }

    /// Small enough to train on two CPU cores within the hour; same vocabulary as t5-small so it
    /// uses the real tokenizer. Its q8_0 bundle stays far under 25 MB (about 5.6 M parameters).
    pub fn demo() -> Self {
        Self {
            d_model: 128,
            d_kv: 32,
            d_ff: 512,
            num_heads: 4,
            num_encoder_layers: 2,
            num_decoder_layers: 2,
            reduction_factor: 4,
            ..Self::t5_small()
        }
    }

    /// For tests: tiny dims, the real vocabulary (so prompts and item-id tries work end to end).
    pub fn tiny() -> Self {
        Self {
            d_model: 16,
            d_kv: 4,
            d_ff: 32,
            num_heads: 4,
            num_encoder_layers: 2,
            num_decoder_layers: 2,
            reduction_factor: 4,
            feat_dim: 8,
            ..Self::t5_small()
        }
    }

    /// A named preset: `tiny`, `demo` or `t5-small`.
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "tiny" => Ok(Self::tiny()),
            "demo" => Ok(Self::demo()),
            "t5-small" | "t5_small" => Ok(Self::t5_small()),
            other => Err(Vip5Error::Config(format!(
                "unknown preset `{other}` (expected tiny, demo or t5-small)"
            ))),
        }
    }

    /// Reads a Hugging Face T5 `config.json` (t5-small, T5 v1.1, FLAN-T5). Without a `"vip5"`
    /// object it describes a plain T5 (no adapters, no VIP5 inputs); with one, VIP5's defaults
    /// apply and the object's fields override them.
    pub fn from_hf_json(json: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| Vip5Error::Config(format!("config.json: {e}")))?;
        let get = |key: &str| -> Result<usize> {
            v.get(key)
                .and_then(|x| x.as_u64())
                .map(|x| x as usize)
                .ok_or_else(|| Vip5Error::Config(format!("config.json: missing integer `{key}`")))
        };
        let mut cfg = Self::t5_small();
        cfg.vocab_size = get("vocab_size")?;
        cfg.d_model = get("d_model")?;
        cfg.d_kv = get("d_kv")?;
        cfg.d_ff = get("d_ff")?;
        cfg.num_heads = get("num_heads")?;
        cfg.num_encoder_layers = get("num_layers")?;
        cfg.num_decoder_layers = get("num_decoder_layers").unwrap_or(cfg.num_encoder_layers);
        cfg.relative_attention_num_buckets = get("relative_attention_num_buckets")?;
        cfg.relative_attention_max_distance = get("relative_attention_max_distance").unwrap_or(128);
        if let Some(eps) = v.get("layer_norm_epsilon").and_then(|x| x.as_f64()) {
            cfg.layer_norm_epsilon = eps;
        }
        if let Some(p) = v.get("dropout_rate").and_then(|x| x.as_f64()) {
            cfg.dropout_rate = p;
        }
        cfg.feed_forward = match v
            .get("feed_forward_proj")
            .and_then(|x| x.as_str())
            .unwrap_or("relu")
        {
            "relu" => FeedForward::Relu,
            "gated-gelu" => FeedForward::GatedGelu,
            other => {
                return Err(Vip5Error::Config(format!(
                    "config.json: feed_forward_proj `{other}` is not supported (relu, gated-gelu)"
                )));
            }
        };
        cfg.tie_word_embeddings =
            v.get("tie_word_embeddings").and_then(|x| x.as_bool()).unwrap_or(true);
        for (key, slot) in [
            ("pad_token_id", &mut cfg.pad_token_id),
            ("eos_token_id", &mut cfg.eos_token_id),
            ("decoder_start_token_id", &mut cfg.decoder_start_token_id),
        ] {
            if let Some(x) = v.get(key).and_then(|x| x.as_u64()) {
                *slot = x as u32;
            }
        }
        // Never let VIP5's visual placeholder fall outside a smaller vocabulary.
        if cfg.visual_token_id as usize >= cfg.vocab_size {
            cfg.visual_token_id = (cfg.vocab_size - 1) as u32;
        }
        cfg.use_adapter = false;
        cfg.vip5_inputs = false;
        if let Some(extra) = v.get("vip5") {
            cfg.use_adapter = true;
            cfg.vip5_inputs = true;
            let mut merged =
                serde_json::to_value(&cfg).map_err(|e| Vip5Error::Config(e.to_string()))?;
            if let (Some(m), Some(e)) = (merged.as_object_mut(), extra.as_object()) {
                for (k, val) in e {
                    m.insert(k.clone(), val.clone());
                }
            }
            cfg = serde_json::from_value(merged)
                .map_err(|e| Vip5Error::Config(format!("config.json `vip5`: {e}")))?;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the invariants the model relies on.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Vip5Error::Config(m));
        if self.d_model == 0 || self.num_heads == 0 || self.d_kv == 0 || self.vocab_size == 0 {
            return bad("d_model, num_heads, d_kv and vocab_size must be positive".into());
        }
        if self.visual_token_id as usize >= self.vocab_size {
            return bad(format!(
                "visual_token_id {} is outside the vocabulary ({})",
                self.visual_token_id, self.vocab_size
            ));
        }
        if self.use_adapter
            && (self.reduction_factor == 0 || !self.d_model.is_multiple_of(self.reduction_factor))
        {
            return bad(format!(
                "reduction_factor {} must divide d_model {}",
                self.reduction_factor, self.d_model
            ));
        }
        if !(self.d_model * self.n_vis_tokens).is_multiple_of(2) {
            return bad(
                "d_model * n_vis_tokens must be even (the mapping network halves it)".into()
            );
        }
        if self.n_vis_tokens == 0 || self.feat_dim == 0 {
            return bad("n_vis_tokens and feat_dim must be positive".into());
        }
        if self.category_vocab < 2 || self.whole_word_vocab < 2 {
            return bad("the category and whole-word tables need at least 2 rows".into());
        }
        Ok(())
    }

    /// Adapter bottleneck width.
    pub fn adapter_dim(&self) -> usize {
        self.d_model / self.reduction_factor
    }

    /// Inner attention width (heads x d_kv).
    pub fn inner_dim(&self) -> usize {
        self.num_heads * self.d_kv
    }
}

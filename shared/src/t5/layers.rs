//! The residual sublayers of a T5 block, each with its optional VIP5 adapter.
//! Field names are HF's (`SelfAttention`, `EncDecAttention`, `DenseReluDense`, `layer_norm`) and
//! the original VIP5's (`attn_adapter`, `enc_attn_adapter`, `ff_adapter`).
#![allow(non_snake_case)]

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::adapter::{AdapterController, Task, apply_adapter};
use crate::config::{FeedForward, Vip5Config};
use crate::nn::activation::gelu_tanh;
use crate::nn::linear::linear;
use crate::nn::norm::T5LayerNorm;
use crate::t5::attention::{LayerCache, T5Attention};
use crate::t5::dropout::Dropout;

fn adapter_if(enabled: bool, cfg: &Vip5Config, device: &Device) -> Option<AdapterController> {
    (cfg.use_adapter && enabled).then(|| AdapterController::new(cfg, device))
}

/// `h + dropout(adapter(SelfAttention(layer_norm(h))))`.
#[derive(Module, Debug)]
pub struct T5LayerSelfAttention {
    pub SelfAttention: T5Attention,
    pub layer_norm: T5LayerNorm,
    pub attn_adapter: Option<AdapterController>,
    dropout: Dropout,
}

impl T5LayerSelfAttention {
    pub fn new(cfg: &Vip5Config, has_relative_bias: bool, device: &Device) -> Self {
        Self {
            SelfAttention: T5Attention::new(cfg, has_relative_bias, device),
            layer_norm: T5LayerNorm::new(cfg.d_model, cfg.layer_norm_epsilon, device),
            attn_adapter: adapter_if(true, cfg, device),
            dropout: Dropout::new(cfg.dropout_rate),
        }
    }

    /// `bias`: relative position bias plus masks. With a cache, this step's keys/values are
    /// appended and the queries attend over everything cached so far.
    pub fn forward(
        &self,
        h: Tensor<3>,
        bias: Tensor<4>,
        cache: Option<&mut LayerCache>,
        task: Task,
    ) -> Tensor<3> {
        let x = self.layer_norm.forward(h.clone());
        let (keys, values) = self.SelfAttention.project_kv(x.clone());
        let (keys, values) = match cache {
            Some(c) => c.append(keys, values),
            None => (keys, values),
        };
        let y = self.SelfAttention.attend(x, keys, values, bias);
        h + self.dropout.forward(apply_adapter(&self.attn_adapter, y, task))
    }
}

/// `h + dropout(adapter(EncDecAttention(layer_norm(h), encoder_out)))`.
#[derive(Module, Debug)]
pub struct T5LayerCrossAttention {
    pub EncDecAttention: T5Attention,
    pub layer_norm: T5LayerNorm,
    pub enc_attn_adapter: Option<AdapterController>,
    dropout: Dropout,
}

impl T5LayerCrossAttention {
    pub fn new(cfg: &Vip5Config, device: &Device) -> Self {
        Self {
            EncDecAttention: T5Attention::new(cfg, false, device),
            layer_norm: T5LayerNorm::new(cfg.d_model, cfg.layer_norm_epsilon, device),
            enc_attn_adapter: adapter_if(cfg.add_adapter_cross_attn, cfg, device),
            dropout: Dropout::new(cfg.dropout_rate),
        }
    }

    /// `keys`/`values`: the encoder output projected by this layer (cached across decoding steps);
    /// `mask_bias`: the encoder padding mask (cross-attention has no position bias in T5).
    pub fn forward(
        &self,
        h: Tensor<3>,
        keys: Tensor<4>,
        values: Tensor<4>,
        mask_bias: Tensor<4>,
        task: Task,
    ) -> Tensor<3> {
        let x = self.layer_norm.forward(h.clone());
        let y = self.EncDecAttention.attend(x, keys, values, mask_bias);
        h + self.dropout.forward(apply_adapter(&self.enc_attn_adapter, y, task))
    }
}

/// The FFN: `wo(relu(wi(x)))` (T5 v1.0) or `wo(gelu_tanh(wi_0(x)) * wi_1(x))` (T5 v1.1).
#[derive(Module, Debug)]
pub struct T5DenseActDense {
    pub wi: Option<Linear>,
    pub wi_0: Option<Linear>,
    pub wi_1: Option<Linear>,
    pub wo: Linear,
    dropout: Dropout,
}

impl T5DenseActDense {
    pub fn new(cfg: &Vip5Config, device: &Device) -> Self {
        let linear = |d_in: usize, d_out: usize| {
            LinearConfig::new(d_in, d_out)
                .with_bias(false)
                .with_initializer(Initializer::Normal { mean: 0.0, std: (d_in as f64).powf(-0.5) })
                .init(device)
        };
        let gated = cfg.feed_forward == FeedForward::GatedGelu;
        Self {
            wi: (!gated).then(|| linear(cfg.d_model, cfg.d_ff)),
            wi_0: gated.then(|| linear(cfg.d_model, cfg.d_ff)),
            wi_1: gated.then(|| linear(cfg.d_model, cfg.d_ff)),
            wo: linear(cfg.d_ff, cfg.d_model),
            dropout: Dropout::new(cfg.dropout_rate),
        }
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let hidden = match (&self.wi, &self.wi_0, &self.wi_1) {
            (Some(wi), _, _) => relu(linear(wi, x)),
            (None, Some(w0), Some(w1)) => gelu_tanh(linear(w0, x.clone())) * linear(w1, x),
            _ => unreachable!("T5DenseActDense is built with either `wi` or `wi_0` + `wi_1`"),
        };
        linear(&self.wo, self.dropout.forward(hidden))
    }
}

/// `h + dropout(adapter(DenseReluDense(layer_norm(h))))`.
#[derive(Module, Debug)]
pub struct T5LayerFF {
    pub DenseReluDense: T5DenseActDense,
    pub layer_norm: T5LayerNorm,
    pub ff_adapter: Option<AdapterController>,
    dropout: Dropout,
}

impl T5LayerFF {
    pub fn new(cfg: &Vip5Config, device: &Device) -> Self {
        Self {
            DenseReluDense: T5DenseActDense::new(cfg, device),
            layer_norm: T5LayerNorm::new(cfg.d_model, cfg.layer_norm_epsilon, device),
            ff_adapter: adapter_if(true, cfg, device),
            dropout: Dropout::new(cfg.dropout_rate),
        }
    }

    pub fn forward(&self, h: Tensor<3>, task: Task) -> Tensor<3> {
        let y = self.DenseReluDense.forward(self.layer_norm.forward(h.clone()));
        h + self.dropout.forward(apply_adapter(&self.ff_adapter, y, task))
    }
}

//! The visual mapping network (docs/vip5.md §1.3): one CLIP image embedding -> k visual tokens.
//! Names follow the original (`visual_embedding.feat_embedding.0.model.{0,2}`,
//! `.feat_embedding.1`).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig, Tanh};
use burn::tensor::{Device, Tensor};

use crate::config::Vip5Config;
use crate::nn::activation::bounded_tanh;
use crate::nn::linear::linear;
use crate::nn::norm::T5LayerNorm;

/// `Linear(feat -> d*k/2) -> Tanh -> Linear(d*k/2 -> d*k)`, PyTorch-default init, with biases.
#[derive(Module, Debug)]
pub struct VisualMlp {
    pub model: (Linear, Tanh, Linear),
}

#[derive(Module, Debug)]
pub struct VisualEmbedding {
    /// The MLP, then an RMS norm over the whole d*k vector (switchable, on by default).
    pub feat_embedding: (VisualMlp, Option<T5LayerNorm>),
    n_vis_tokens: usize,
    d_model: usize,
}

impl VisualEmbedding {
    pub fn new(cfg: &Vip5Config, device: &Device) -> Self {
        let dk = cfg.d_model * cfg.n_vis_tokens;
        let mlp = VisualMlp {
            model: (
                LinearConfig::new(cfg.feat_dim, dk / 2).init(device),
                Tanh,
                LinearConfig::new(dk / 2, dk).init(device),
            ),
        };
        let norm =
            cfg.use_vis_layer_norm.then(|| T5LayerNorm::new(dk, cfg.layer_norm_epsilon, device));
        Self { feat_embedding: (mlp, norm), n_vis_tokens: cfg.n_vis_tokens, d_model: cfg.d_model }
    }

    /// `[B, V, feat_dim]` -> `[B, V*k, d_model]`; item j's k tokens are rows j*k..(j+1)*k.
    pub fn forward(&self, feats: Tensor<3>) -> Tensor<3> {
        let [b, v, _] = feats.dims();
        let (mlp, norm) = &self.feat_embedding;
        // The `Tanh` module is kept for the checkpoint's layout (`feat_embedding.0.model.1`); the
        // bounded form is what runs (see `bounded_tanh`).
        let (l1, _tanh, l2) = &mlp.model;
        let mut x = linear(l2, bounded_tanh(linear(l1, feats)));
        if let Some(norm) = norm {
            x = norm.forward(x);
        }
        x.reshape([b, v * self.n_vis_tokens, self.d_model])
    }
}

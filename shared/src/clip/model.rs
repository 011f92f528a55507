//! CLIP's ViT vision tower with its projection (`openai/clip-vit-*` / HF
//! `CLIPVisionModelWithProjection`), named as in Hugging Face so a full CLIP `model.safetensors`
//! loads by name. Output: OpenAI's `encode_image` vector (not normalised), VIP5's image feature.

#![allow(non_snake_case)]

use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::nn::activation::{quick_gelu, softmax_last};
use crate::nn::linear::{linear, matmul};

/// Shape of a CLIP vision tower.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipVisionConfig {
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Size of the image feature (VIP5's `feat_dim`).
    pub projection_dim: usize,
    pub layer_norm_eps: f64,
}

impl ClipVisionConfig {
    /// ViT-B/32 (`openai/clip-vit-base-patch32`), VIP5's default: 512-d features.
    pub fn vit_b_32() -> Self {
        Self {
            image_size: 224,
            patch_size: 32,
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            projection_dim: 512,
            layer_norm_eps: 1e-5,
        }
    }

    /// ViT-B/16: 512-d features.
    pub fn vit_b_16() -> Self {
        Self { patch_size: 16, ..Self::vit_b_32() }
    }

    /// ViT-L/14: 768-d features.
    pub fn vit_l_14() -> Self {
        Self {
            patch_size: 14,
            hidden_size: 1024,
            intermediate_size: 4096,
            num_hidden_layers: 24,
            num_attention_heads: 16,
            projection_dim: 768,
            ..Self::vit_b_32()
        }
    }

    /// `vitb32`, `vitb16` or `vitl14` (the original's feature-type names).
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "vitb32" | "ViT-B/32" => Some(Self::vit_b_32()),
            "vitb16" | "ViT-B/16" => Some(Self::vit_b_16()),
            "vitl14" | "ViT-L/14" => Some(Self::vit_l_14()),
            _ => None,
        }
    }

    /// From a HF CLIP `config.json` (its `vision_config` and `projection_dim`) or a bare
    /// `CLIPVisionConfig` JSON.
    pub fn from_hf_json(json: &str) -> crate::Result<Self> {
        let v: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| crate::Vip5Error::Config(format!("CLIP config.json: {e}")))?;
        let vc = v.get("vision_config").unwrap_or(&v);
        let get = |key: &str, default: usize| {
            vc.get(key).and_then(|x| x.as_u64()).map(|x| x as usize).unwrap_or(default)
        };
        let base = Self::vit_b_32();
        Self {
            image_size: get("image_size", base.image_size),
            patch_size: get("patch_size", base.patch_size),
            hidden_size: get("hidden_size", base.hidden_size),
            intermediate_size: get("intermediate_size", base.intermediate_size),
            num_hidden_layers: get("num_hidden_layers", base.num_hidden_layers),
            num_attention_heads: get("num_attention_heads", base.num_attention_heads),
            projection_dim: v
                .get("projection_dim")
                .or_else(|| vc.get("projection_dim"))
                .and_then(|x| x.as_u64())
                .map(|x| x as usize)
                .unwrap_or(base.projection_dim),
            layer_norm_eps: vc
                .get("layer_norm_eps")
                .and_then(|x| x.as_f64())
                .unwrap_or(base.layer_norm_eps),
        }
        .validated()
    }

    /// Checks the shape describes a tower that can be built and run (a page may pass its own
    /// `config.json`, so nothing here may divide by zero or build a zero-size layer).
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |m: String| Err(crate::Vip5Error::Config(format!("CLIP config: {m}")));
        let positive = [
            ("image_size", self.image_size),
            ("patch_size", self.patch_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_attention_heads", self.num_attention_heads),
            ("projection_dim", self.projection_dim),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return bad(format!("{name} must be positive"));
        }
        if self.patch_size > self.image_size {
            return bad(format!(
                "patch_size {} is larger than image_size {}",
                self.patch_size, self.image_size
            ));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(format!(
                "num_attention_heads {} must divide hidden_size {}",
                self.num_attention_heads, self.hidden_size
            ));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return bad(format!(
                "layer_norm_eps {} must be a positive number",
                self.layer_norm_eps
            ));
        }
        Ok(())
    }

    fn validated(self) -> crate::Result<Self> {
        self.validate().map(|()| self)
    }

    pub fn num_patches(&self) -> usize {
        (self.image_size / self.patch_size).pow(2)
    }
}

/// The patch embedding: a stride-`patch` convolution without bias, computed as one matmul over
/// flattened patches. Kept as HF's 4-D `[hidden, 3, patch, patch]` weight.
#[derive(Module, Debug)]
pub struct PatchEmbedding {
    pub weight: Param<Tensor<4>>,
}

#[derive(Module, Debug)]
pub struct ClipVisionEmbeddings {
    pub class_embedding: Param<Tensor<1>>,
    pub patch_embedding: PatchEmbedding,
    pub position_embedding: Embedding,
    patch_size: usize,
}

#[derive(Module, Debug)]
pub struct ClipAttention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub out_proj: Linear,
    heads: usize,
}

#[derive(Module, Debug)]
pub struct ClipMlp {
    pub fc1: Linear,
    pub fc2: Linear,
}

#[derive(Module, Debug)]
pub struct ClipEncoderLayer {
    pub self_attn: ClipAttention,
    pub layer_norm1: LayerNorm,
    pub mlp: ClipMlp,
    pub layer_norm2: LayerNorm,
}

#[derive(Module, Debug)]
pub struct ClipEncoder {
    pub layers: Vec<ClipEncoderLayer>,
}

#[derive(Module, Debug)]
pub struct ClipVisionTransformer {
    pub embeddings: ClipVisionEmbeddings,
    /// HF's spelling.
    pub pre_layrnorm: LayerNorm,
    pub encoder: ClipEncoder,
    pub post_layernorm: LayerNorm,
}

/// `vision_model` + `visual_projection`.
#[derive(Module, Debug)]
pub struct ClipVision {
    pub vision_model: ClipVisionTransformer,
    pub visual_projection: Linear,
}

impl ClipVision {
    pub fn new(cfg: &ClipVisionConfig, device: &Device) -> Self {
        let h = cfg.hidden_size;
        let ln = || LayerNormConfig::new(h).with_epsilon(cfg.layer_norm_eps).init(device);
        let lin = |i: usize, o: usize| LinearConfig::new(i, o).init(device);
        let layers = (0..cfg.num_hidden_layers)
            .map(|_| ClipEncoderLayer {
                self_attn: ClipAttention {
                    q_proj: lin(h, h),
                    k_proj: lin(h, h),
                    v_proj: lin(h, h),
                    out_proj: lin(h, h),
                    heads: cfg.num_attention_heads,
                },
                layer_norm1: ln(),
                mlp: ClipMlp {
                    fc1: lin(h, cfg.intermediate_size),
                    fc2: lin(cfg.intermediate_size, h),
                },
                layer_norm2: ln(),
            })
            .collect();
        let p = cfg.patch_size;
        Self {
            vision_model: ClipVisionTransformer {
                embeddings: ClipVisionEmbeddings {
                    class_embedding: Param::from_tensor(Tensor::random(
                        [h],
                        burn::tensor::Distribution::Normal(0.0, 0.02),
                        device,
                    )),
                    patch_embedding: PatchEmbedding {
                        weight: Param::from_tensor(Tensor::random(
                            [h, 3, p, p],
                            burn::tensor::Distribution::Normal(0.0, 0.02),
                            device,
                        )),
                    },
                    position_embedding: EmbeddingConfig::new(cfg.num_patches() + 1, h).init(device),
                    patch_size: p,
                },
                pre_layrnorm: ln(),
                encoder: ClipEncoder { layers },
                post_layernorm: ln(),
            },
            visual_projection: LinearConfig::new(h, cfg.projection_dim)
                .with_bias(false)
                .init(device),
        }
    }

    /// Image features `[B, projection_dim]` from normalised pixels `[B, 3, S, S]`.
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<2> {
        let vm = &self.vision_model;
        let emb = &vm.embeddings;
        let [b, c, s, _] = pixels.dims();
        let p = emb.patch_size;
        let g = s / p;
        let weight = emb.patch_embedding.weight.val();
        let [hidden, _, _, _] = weight.dims();
        // [B, C, g, p, g, p] -> [B, g, g, C, p, p] -> [B, g*g, C*p*p], in the conv weight's order
        let patches = pixels.reshape([b, c, g, p, g, p]).permute([0, 2, 4, 1, 3, 5]).reshape([
            b,
            g * g,
            c * p * p,
        ]);
        // one 2-D matmul (a broadcast 3-D one would copy the weight per image)
        let w = weight.reshape([hidden, c * p * p]).transpose();
        let patches = patches.reshape([b * g * g, c * p * p]);
        let patches = matmul(patches, w).reshape([b, g * g, hidden]);
        let class = emb.class_embedding.val().reshape([1, 1, hidden]).expand([b, 1, hidden]);
        let tokens = Tensor::cat(vec![class, patches], 1);
        let positions: Vec<i64> = (0..(g * g + 1) as i64).collect();
        let pos_ids = Tensor::<2, Int>::from_data(
            TensorData::new(positions, [1, g * g + 1]),
            &tokens.device(),
        );
        let mut h = vm.pre_layrnorm.forward(tokens + emb.position_embedding.forward(pos_ids));
        for layer in &vm.encoder.layers {
            h = h.clone() + layer.self_attn.forward(layer.layer_norm1.forward(h));
            h = h.clone()
                + linear(
                    &layer.mlp.fc2,
                    quick_gelu(linear(&layer.mlp.fc1, layer.layer_norm2.forward(h))),
                );
        }
        let pooled =
            vm.post_layernorm.forward(h.slice([0..b, 0..1, 0..hidden]).reshape([b, hidden]));
        linear(&self.visual_projection, pooled)
    }
}

impl ClipAttention {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, l, d] = x.dims();
        let dh = d / self.heads;
        let split = |t: Tensor<3>| t.reshape([b, l, self.heads, dh]).swap_dims(1, 2);
        let q = split(linear(&self.q_proj, x.clone()).mul_scalar((dh as f64).powf(-0.5)));
        let k = split(linear(&self.k_proj, x.clone()));
        let v = split(linear(&self.v_proj, x));
        let w = softmax_last(matmul(q, k.swap_dims(2, 3)));
        linear(&self.out_proj, matmul(w, v).swap_dims(1, 2).reshape([b, l, d]))
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn the_presets_are_valid() {
        for cfg in [
            ClipVisionConfig::vit_b_32(),
            ClipVisionConfig::vit_b_16(),
            ClipVisionConfig::vit_l_14(),
        ] {
            cfg.validate().expect("a preset");
        }
    }

    #[test]
    fn a_config_that_would_divide_by_zero_or_build_nothing_is_refused() {
        let cases = [
            (r#"{"vision_config": {"patch_size": 0}}"#, "patch_size must be positive"),
            (r#"{"image_size": 0}"#, "image_size must be positive"),
            (r#"{"patch_size": 300}"#, "patch_size 300 is larger than image_size 224"),
            (r#"{"num_attention_heads": 0}"#, "num_attention_heads must be positive"),
            (r#"{"num_attention_heads": 7}"#, "num_attention_heads 7 must divide hidden_size 768"),
            (r#"{"projection_dim": 0}"#, "projection_dim must be positive"),
            (r#"{"layer_norm_eps": -1.0}"#, "layer_norm_eps -1 must be a positive number"),
        ];
        for (json, message) in cases {
            let err = ClipVisionConfig::from_hf_json(json).expect_err(json).to_string();
            assert!(err.contains(message), "{json}: {err}");
        }
        // a valid bare CLIPVisionConfig still reads
        let small = ClipVisionConfig::from_hf_json(
            r#"{"image_size": 32, "patch_size": 8, "hidden_size": 16, "num_attention_heads": 4}"#,
        )
        .expect("valid");
        assert_eq!(small.num_patches(), 16);
    }
}

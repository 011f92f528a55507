//! VIP5's bottleneck adapters (docs/vip5.md §1.4), named as in the original code so its
//! checkpoints load by name:
//! `<sublayer>.<attn|enc_attn|ff>_adapter.adapters.<task>.{down,up}_sampler`.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::Vip5Config;
use crate::nn::activation::gelu_tanh;
use crate::nn::linear::linear;

/// The three task families of VIP5 (prompt families A, B, C).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Sequential,
    Direct,
    Explanation,
}

/// `Up(gelu_tanh(Down(y)))`: PyTorch-default (Kaiming-uniform) init, no zero-init of `Up`, so an
/// adapter is not the identity at step 0, as in the original.
#[derive(Module, Debug)]
pub struct Adapter {
    pub down_sampler: Linear,
    pub up_sampler: Linear,
}

impl Adapter {
    pub fn new(cfg: &Vip5Config, device: &Device) -> Self {
        Self {
            down_sampler: LinearConfig::new(cfg.d_model, cfg.adapter_dim()).init(device),
            up_sampler: LinearConfig::new(cfg.adapter_dim(), cfg.d_model).init(device),
        }
    }

    pub fn forward(&self, y: Tensor<3>) -> Tensor<3> {
        linear(&self.up_sampler, gelu_tanh(linear(&self.down_sampler, y)))
    }
}

/// Per-task adapters. With one shared adapter (VIP5's default) only `sequential` exists and
/// serves every task, which is also how the original's state dict names a shared adapter.
#[derive(Module, Debug)]
pub struct TaskAdapters {
    pub sequential: Adapter,
    pub direct: Option<Adapter>,
    pub explanation: Option<Adapter>,
}

/// An adapter position: `y + adapter_task(y)` on a sublayer's output, before dropout and the
/// residual add.
#[derive(Module, Debug)]
pub struct AdapterController {
    pub adapters: TaskAdapters,
}

impl AdapterController {
    pub fn new(cfg: &Vip5Config, device: &Device) -> Self {
        let per_task = !cfg.use_single_adapter;
        Self {
            adapters: TaskAdapters {
                sequential: Adapter::new(cfg, device),
                direct: per_task.then(|| Adapter::new(cfg, device)),
                explanation: per_task.then(|| Adapter::new(cfg, device)),
            },
        }
    }

    pub fn forward(&self, y: Tensor<3>, task: Task) -> Tensor<3> {
        let a = &self.adapters;
        let adapter = match task {
            Task::Sequential => &a.sequential,
            Task::Direct => a.direct.as_ref().unwrap_or(&a.sequential),
            Task::Explanation => a.explanation.as_ref().unwrap_or(&a.sequential),
        };
        y.clone() + adapter.forward(y)
    }
}

/// Applies an optional adapter position.
pub fn apply_adapter(adapter: &Option<AdapterController>, y: Tensor<3>, task: Task) -> Tensor<3> {
    match adapter {
        Some(a) => a.forward(y, task),
        None => y,
    }
}

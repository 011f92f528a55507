//! T5's layer norm: an RMS norm with a gain, no bias and no mean subtraction.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

/// `weight * x / sqrt(mean(x^2) + eps)` over the last dimension (HF `T5LayerNorm`).
#[derive(Module, Debug)]
pub struct T5LayerNorm {
    pub weight: Param<Tensor<1>>,
    eps: f64,
}

impl T5LayerNorm {
    pub fn new(size: usize, eps: f64, device: &Device) -> Self {
        Self { weight: Param::from_tensor(Tensor::ones([size], device)), eps }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let variance = x.clone().square().mean_dim(D - 1);
        let normed = x * variance.add_scalar(self.eps).sqrt().recip();
        normed * self.weight.val().unsqueeze::<D>()
    }
}

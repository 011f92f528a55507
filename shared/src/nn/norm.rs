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

    /// On the CPU backend one fused pass forward and one backward (`nn::host_ops`); elsewhere
    /// burn's operations.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        #[cfg(feature = "flex")]
        let x = match super::host_ops::try_rms_norm(x, self.weight.val(), self.eps) {
            Ok(y) => return y,
            Err((x, _)) => x,
        };
        let variance = x.clone().square().mean_dim(D - 1);
        let normed = x * variance.add_scalar(self.eps).sqrt().recip();
        normed * self.weight.val().unsqueeze::<D>()
    }
}

//! Activations that burn does not ship in the exact form T5 and VIP5 use.

use burn::tensor::Tensor;

/// `tanh(x)`, with `x` clamped to [-15, 15] first: exact in f32 (tanh(15) rounds to 1.0, and
/// tanh is monotone), and finite where the shader's own `tanh` is not. SwiftShader (Chromium's
/// software WebGPU adapter, also a native Vulkan driver) returns NaN for tanh(-100) or
/// tanh(1e4); WGSL leaves overflow inside builtins undefined. The trained demo model's adapters
/// reach that range (README, "WebGPU").
pub fn bounded_tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clamp(-15.0, 15.0).tanh()
}

/// GELU with the tanh approximation (HF `gelu_new`), used by VIP5's adapters and by gated-GELU T5.
pub fn gelu_tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
    // x * x * x rather than powi_scalar(3): burn's CPU backend computes that with powf, element
    // by element (1 % of a training step, perf), where two multiplies vectorise.
    let cube = x.clone() * x.clone() * x.clone();
    let inner = (x.clone() + cube.mul_scalar(0.044715)).mul_scalar(SQRT_2_OVER_PI);
    x.clone().mul_scalar(0.5) * bounded_tanh(inner).add_scalar(1.0)
}

/// CLIP's `quick_gelu`, `x * sigmoid(1.702 x)`. On the CPU backend (outside training) one
/// vectorised pass in place ([`super::host_math`]); elsewhere burn's operations.
pub fn quick_gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    let x = match super::host_ops::try_quick_gelu(x) {
        Ok(y) => return y,
        Err(x) => x,
    };
    x.clone() * burn::tensor::activation::sigmoid(x.mul_scalar(1.702))
}

/// The softmax over the last dimension (attention weights). On the CPU backend one vectorised
/// pass per row each way, threaded ([`super::host_math`]; burn's takes four passes with a libm
/// `exp` per value, and as many autodiff nodes); elsewhere burn's `softmax`.
pub fn softmax_last<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    let x = match super::host_ops::try_softmax(x) {
        Ok(y) => return y,
        Err(x) => x,
    };
    burn::tensor::activation::softmax(x, D - 1)
}

/// The log-softmax over the last dimension of `[rows, width]` logits (decoding). On the CPU
/// backend outside training one vectorised pass per row in place ([`super::host_math`]; burn's
/// takes six passes with a libm `exp` per value); elsewhere burn's `log_softmax`.
pub fn log_softmax_rows(x: Tensor<2>) -> Tensor<2> {
    #[cfg(feature = "flex")]
    let x = match super::host_ops::try_log_softmax(x) {
        Ok(y) => return y,
        Err(x) => x,
    };
    burn::tensor::activation::log_softmax(x, 1)
}

//! Activations that burn does not ship in the exact form T5 and VIP5 use.

use burn::tensor::Tensor;

/// GELU with the tanh approximation (HF `gelu_new`), used by VIP5's adapters and by gated-GELU T5.
pub fn gelu_tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
    let inner = (x.clone() + x.clone().powi_scalar(3).mul_scalar(0.044715)).mul_scalar(SQRT_2_OVER_PI);
    x.clone().mul_scalar(0.5) * inner.tanh().add_scalar(1.0)
}

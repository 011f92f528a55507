//! `bounded_tanh` (and so GELU-tanh) equals tanh in f32 at every magnitude, on the CPU and on
//! wgpu. The minimal reproduction of the WebGPU NaN: on SwiftShader (Chromium's WebGPU adapter,
//! or natively `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json`) the shader's own
//! `tanh` of -1e4 and -100 and 1e4 is NaN; this test prints it and asserts the bounded
//! form, which the model uses.

use burn::tensor::{Device, Tensor, TensorData};
use vip5::nn::activation::{bounded_tanh, gelu_tanh};
use vip5_tests::{flex, to_vec, wgpu};

const XS: [f32; 11] = [-1.0e4, -100.0, -50.0, -20.0, -9.0, 0.0, 0.5, 9.0, 20.0, 50.0, 1.0e4];

fn check(device: &Device, label: &str) {
    let x = Tensor::<1>::from_data(TensorData::new(XS.to_vec(), [XS.len()]), device);
    let (_, raw) = to_vec(x.clone().tanh());
    eprintln!("{label}: the backend's own tanh of {XS:?} = {raw:?}");
    let (_, got) = to_vec(bounded_tanh(x.clone()));
    for (&xi, &g) in XS.iter().zip(&got) {
        let want = (xi as f64).tanh() as f32;
        assert!((g - want).abs() <= 1e-6, "{label}: bounded_tanh({xi}) = {g}, want {want}");
    }
    let (_, gelu) = to_vec(gelu_tanh(x));
    for (&xi, &g) in XS.iter().zip(&gelu) {
        let x64 = xi as f64;
        let want = (0.5
            * x64
            * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x64 + 0.044715 * x64.powi(3))).tanh()))
            as f32;
        assert!(
            g.is_finite() && (g - want).abs() <= 1e-5 * want.abs().max(1.0),
            "{label}: gelu_tanh({xi}) = {g}, want {want}"
        );
    }
}

#[test]
fn bounded_tanh_and_gelu_are_exact_and_finite_at_every_magnitude() {
    check(&flex(), "cpu");
    check(&wgpu(), "wgpu");
}

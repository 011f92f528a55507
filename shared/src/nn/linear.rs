//! Matrix products and linear layers. On the CPU backend they run through [`super::host_matmul`]
//! (threaded there, with its own backward pass in training); elsewhere burn's `matmul` and
//! `Linear::forward`.

use burn::nn::Linear;
use burn::tensor::Tensor;

/// `a @ b` over the last two dimensions; the leading dimensions of `a` and `b` are equal.
pub fn matmul<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    let (a, b) = match super::host_ops::try_matmul(a, b) {
        Ok(y) => return y,
        Err(operands) => operands,
    };
    a.matmul(b)
}

/// `layer.forward(x)`: `x @ weight + bias` over the last dimension of `x`.
pub fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    let x = {
        let weight = layer.weight.val();
        let [d_in, d_out] = weight.dims();
        let dims = x.dims();
        // Only the CPU backend takes the host product: elsewhere (wgpu, the page's WebGPU) the
        // reshapes below would be two more operations per layer for nothing.
        if dims[D - 1] != d_in || !super::host_ops::takes(&x, &weight) {
            x
        } else {
            // every leading dimension folded into rows: one 2-D product against the weight
            let rows = dims[..D - 1].iter().product();
            match super::host_ops::try_matmul(x.reshape([rows, d_in]), weight) {
                Ok(y) => {
                    let y = match &layer.bias {
                        Some(bias) => y + bias.val().unsqueeze::<2>(),
                        None => y,
                    };
                    let mut out = dims;
                    out[D - 1] = d_out;
                    return y.reshape(out);
                }
                Err((x, _)) => x.reshape(dims),
            }
        }
    };
    layer.forward(x)
}

#[cfg(test)]
mod tests {
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().expect("f32")
    }

    fn spread(n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 2.0 * scale).collect()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * y.abs().max(1.0), "element {i}: {x} vs {y}");
        }
    }

    /// The CPU path against burn's own `matmul` and `Linear::forward`, values and gradients, on
    /// shapes that split by batch, by column and by row, with transposed views.
    #[test]
    fn products_and_layers_agree_with_burn_values_and_gradients() {
        let device = Device::flex().autodiff();
        let layer = LinearConfig::new(70, 300).init(&device);
        let run = |host: bool| {
            let t = |data: Vec<f32>, shape: [usize; 4]| {
                Tensor::<4>::from_data(TensorData::new(data, shape), &device).require_grad()
            };
            let a = t(spread(2 * 8 * 70 * 33, 1.5), [2, 8, 70, 33]);
            let b = t(spread(2 * 8 * 70 * 33, 0.7), [2, 8, 70, 33]);
            // the CPU backend takes the host product (no fallback hides here)
            let taken = super::super::host_ops::try_matmul(a.clone(), b.clone().swap_dims(2, 3));
            assert!(taken.is_ok(), "the host product ran");
            // a @ b^T (the attention scores' shape), then a wide linear layer over it
            let scores = if host {
                matmul(a.clone(), b.clone().swap_dims(2, 3))
            } else {
                a.clone().matmul(b.clone().swap_dims(2, 3))
            };
            let y = if host { linear(&layer, scores) } else { layer.forward(scores) };
            let grads = (y.clone() * y.clone()).sum().backward();
            let ga = a.grad(&grads).expect("a gradient");
            let gb = b.grad(&grads).expect("b gradient");
            let gw = layer.weight.val().grad(&grads).expect("weight gradient");
            (values(y), values(ga), values(gb), values(gw))
        };
        let want = run(false);
        let got = run(true);
        close(&got.0, &want.0, 1e-4);
        close(&got.1, &want.1, 1e-3);
        close(&got.2, &want.2, 1e-3);
        close(&got.3, &want.3, 1e-3);
        // inference on the plain CPU device: a tall product split by rows
        let device = Device::flex();
        let a = Tensor::<2>::from_data(TensorData::new(spread(500 * 64, 1.0), [500, 64]), &device);
        let b = Tensor::<2>::from_data(TensorData::new(spread(64 * 20, 1.0), [64, 20]), &device);
        assert!(super::super::host_ops::try_matmul(a.clone(), b.clone()).is_ok());
        close(&values(matmul(a.clone(), b.clone())), &values(a.matmul(b)), 1e-4);
    }
}

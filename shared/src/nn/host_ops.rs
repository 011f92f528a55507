//! [`super::host_math`]'s kernels as tensor operations of burn's CPU backend (flex), reached
//! through burn's backend-extension API (`Tensor::try_into_primitive`), with their own backward
//! pass where they take part in training (`Autodiff<Flex>`).
//!
//! Each `try_*` function hands its input back (`Err`) when the tensor is not an f32 tensor on the
//! CPU backend, so the caller computes the same value with burn's generic operations instead (any
//! other device: wgpu, CUDA, or the CPU with gradient checkpointing).
// The `Err` of a `try_*` function is its own input handed back: boxing it would allocate on every
// call of the generic path to save a few bytes of stack.
#![allow(clippy::result_large_err)]

use burn::backend::flex::{Flex, FlexTensor, Layout};
use burn::backend::{Backend, DispatchKindConversion, DispatchTensor};
use burn::tensor::{BackendPrimitive, Bytes, DType, Device, Float, Shape, Tensor};

use super::host_math;
use super::host_matmul;

/// Where a tensor lives, as far as these kernels care.
enum Placement {
    /// On the CPU backend, no gradient tracking.
    Cpu,
    /// On the CPU backend with autodiff (no checkpointing).
    #[cfg(feature = "flex-autodiff")]
    CpuAutodiff,
    /// Anywhere else: the caller's generic path.
    Other,
}

fn placement(device: &Device, dtype: DType) -> Placement {
    if dtype != DType::F32 || device.clone().inner() != Device::flex() {
        return Placement::Other;
    }
    #[cfg(feature = "flex-autodiff")]
    {
        use burn::tensor::GradientCheckpointingStrategy;
        match device.gradient_checkpointing_strategy() {
            None => Placement::Cpu,
            Some(GradientCheckpointingStrategy::Disabled) => Placement::CpuAutodiff,
            Some(_) => Placement::Other,
        }
    }
    #[cfg(not(feature = "flex-autodiff"))]
    if device.is_autodiff() { Placement::Other } else { Placement::Cpu }
}

/// `x * sigmoid(1.702 x)` (CLIP's `quick_gelu`) on the CPU backend outside training; `Err(x)`
/// elsewhere.
pub fn try_quick_gelu<const D: usize>(x: Tensor<D>) -> Result<Tensor<D>, Tensor<D>> {
    try_map_in_place(x, host_math::quick_gelu_in_place)
}

/// The log-softmax over the last dimension of `x` `[rows, width]` on the CPU backend outside
/// training (decoding); `Err(x)` elsewhere.
pub fn try_log_softmax(x: Tensor<2>) -> Result<Tensor<2>, Tensor<2>> {
    let [_, width] = x.dims();
    try_map_in_place(x, |xs| host_math::log_softmax_rows_in_place(xs, width))
}

/// The softmax over the last dimension of `x` on the CPU backend (with its own backward pass
/// under autodiff); `Err(x)` elsewhere.
pub fn try_softmax<const D: usize>(x: Tensor<D>) -> Result<Tensor<D>, Tensor<D>> {
    let width = x.dims()[D - 1];
    match placement(&x.device(), x.dtype()) {
        Placement::Other => Err(x),
        Placement::Cpu => try_map_in_place(x, |xs| host_math::softmax_rows_in_place(xs, width)),
        #[cfg(feature = "flex-autodiff")]
        Placement::CpuAutodiff => {
            let t = primitive::<burn::backend::Autodiff<Flex>, D>(x)?;
            Ok(training::softmax(t, width))
        }
    }
}

/// Per-row cross-entropy of `logits` `[rows, vocab]` against `labels`, or against the labels
/// mixed with soft targets ([`host_math::SoftMix`]), on the CPU backend (with its own backward
/// pass under autodiff); `Err(logits)` elsewhere. `labels` (and `soft`) must be valid: one per
/// row, each below `vocab`; the caller checks.
pub fn try_cross_entropy_rows(
    logits: Tensor<2>,
    labels: &[u32],
    soft: Option<host_math::SoftMix>,
) -> Result<Tensor<1>, Tensor<2>> {
    let [rows, vocab] = logits.dims();
    match placement(&logits.device(), logits.dtype()) {
        Placement::Other => Err(logits),
        Placement::Cpu => {
            let t = primitive::<Flex, 2>(logits)?;
            let forward = with_f32(&t, |x| host_math::cross_entropy_rows(x, vocab, labels, soft));
            Ok(Tensor::from_primitive::<Flex>(vector(forward.loss, rows)))
        }
        #[cfg(feature = "flex-autodiff")]
        Placement::CpuAutodiff => {
            let t = primitive::<burn::backend::Autodiff<Flex>, 2>(logits)?;
            Ok(training::cross_entropy_rows(t, rows, vocab, labels, soft))
        }
    }
}

/// T5's RMS norm, `weight * x / sqrt(mean(x^2) + eps)` over the last dimension, on the CPU backend
/// (with its own backward pass under autodiff); `Err((x, weight))` elsewhere.
pub fn try_rms_norm<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<1>,
    eps: f64,
) -> Result<Tensor<D>, (Tensor<D>, Tensor<1>)> {
    let width = x.dims()[D - 1];
    if weight.dtype() != DType::F32 || weight.dims() != [width] {
        return Err((x, weight));
    }
    match placement(&x.device(), x.dtype()) {
        Placement::Other => Err((x, weight)),
        Placement::Cpu => {
            let (xt, wt) = both::<Flex, D, 1>(x, weight)?;
            let y = with_f32(&wt, |ws| {
                map_in_place(xt, |xs| {
                    host_math::rms_norm_rows_in_place(xs, width, ws, eps as f32);
                })
            });
            Ok(Tensor::from_primitive::<Flex>(y))
        }
        #[cfg(feature = "flex-autodiff")]
        Placement::CpuAutodiff => {
            let (xt, wt) = both::<burn::backend::Autodiff<Flex>, D, 1>(x, weight)?;
            Ok(training::rms_norm(xt, wt, width, eps as f32))
        }
    }
}

/// Whether [`try_matmul`] computes `a @ b` itself rather than handing the operands back: both
/// f32 on the CPU backend (with or without autodiff), as far as device and dtype go.
pub fn takes<const D: usize, const E: usize>(a: &Tensor<D>, b: &Tensor<E>) -> bool {
    b.dtype() == DType::F32 && !matches!(placement(&a.device(), a.dtype()), Placement::Other)
}

/// `a @ b` over the last two dimensions (the leading ones must be equal: no broadcast) on the CPU
/// backend, threaded by [`host_matmul`], with its own backward pass under autodiff;
/// `Err((a, b))` elsewhere.
pub fn try_matmul<const D: usize>(
    a: Tensor<D>,
    b: Tensor<D>,
) -> Result<Tensor<D>, (Tensor<D>, Tensor<D>)> {
    let (da, db) = (a.dims(), b.dims());
    if D < 2 || da[..D - 2] != db[..D - 2] || da[D - 1] != db[D - 2] || b.dtype() != DType::F32 {
        return Err((a, b));
    }
    match placement(&a.device(), a.dtype()) {
        Placement::Other => Err((a, b)),
        Placement::Cpu => {
            let (at, bt) = both::<Flex, D, D>(a, b)?;
            match matmul(&at, &bt) {
                Some(out) => Ok(Tensor::from_primitive::<Flex>(out)),
                None => {
                    Err((Tensor::from_primitive::<Flex>(at), Tensor::from_primitive::<Flex>(bt)))
                }
            }
        }
        #[cfg(feature = "flex-autodiff")]
        Placement::CpuAutodiff => {
            let (at, bt) = both::<burn::backend::Autodiff<Flex>, D, D>(a, b)?;
            training::matmul(at, bt)
        }
    }
}

/// `a @ b` for two flex tensors of the same rank whose leading dimensions agree, as a contiguous
/// tensor; `None` when a layout reaches outside its buffer.
fn matmul(a: &FlexTensor, b: &FlexTensor) -> Option<FlexTensor> {
    let (sa, sb) = (a.layout().shape(), b.layout().shape());
    let rank = sa.num_dims();
    let (m, k, n) = (sa[rank - 2], sa[rank - 1], sb[rank - 1]);
    let a_starts = matrix_starts(a.layout());
    let b_starts = matrix_starts(b.layout());
    fn operand<'a>(t: &'a FlexTensor, starts: &'a [usize]) -> host_matmul::Operand<'a> {
        let strides = t.layout().strides();
        let rank = strides.len();
        host_matmul::Operand {
            data: t.storage::<f32>(),
            starts,
            row_stride: strides[rank - 2],
            col_stride: strides[rank - 1],
        }
    }
    let out = host_matmul::matmul(m, k, n, operand(a, &a_starts?), operand(b, &b_starts?))?;
    let mut dims = sa.to_vec();
    dims[rank - 1] = n;
    Some(FlexTensor::new(Bytes::from_elems(out), Layout::contiguous(Shape::from(dims)), DType::F32))
}

/// Where each matrix (the last two dimensions) of a tensor starts in its buffer, batch indices in
/// row-major order; `None` for a negative offset.
fn matrix_starts(layout: &Layout) -> Option<Vec<usize>> {
    let shape = layout.shape();
    let strides = layout.strides();
    let batch_dims = shape.num_dims() - 2;
    let mut starts = vec![layout.start_offset() as isize];
    for d in 0..batch_dims {
        starts = starts
            .iter()
            .flat_map(|&s| (0..shape[d]).map(move |i| s + i as isize * strides[d]))
            .collect();
    }
    starts.into_iter().map(|s| usize::try_from(s).ok()).collect()
}

/// [`primitive`] for two tensors: both, or both back.
#[allow(clippy::type_complexity)]
fn both<B, const D: usize, const E: usize>(
    x: Tensor<D>,
    y: Tensor<E>,
) -> Result<(B::FloatTensorPrimitive, B::FloatTensorPrimitive), (Tensor<D>, Tensor<E>)>
where
    B: Backend,
    Float: BackendPrimitive<B, Primitive = B::FloatTensorPrimitive>,
    DispatchTensor: DispatchKindConversion<B>,
{
    let yt = match primitive::<B, E>(y) {
        Ok(yt) => yt,
        Err(y) => return Err((x, y)),
    };
    match primitive::<B, D>(x) {
        Ok(xt) => Ok((xt, yt)),
        Err(x) => Err((x, Tensor::from_primitive::<B>(yt))),
    }
}

/// `f` over the values of `x` on the CPU backend outside training, in place where nothing else
/// holds them; `Err(x)` elsewhere.
fn try_map_in_place<const D: usize>(
    x: Tensor<D>,
    f: impl FnOnce(&mut [f32]),
) -> Result<Tensor<D>, Tensor<D>> {
    if !matches!(placement(&x.device(), x.dtype()), Placement::Cpu) {
        return Err(x);
    }
    let t = primitive::<Flex, D>(x)?;
    Ok(Tensor::from_primitive::<Flex>(map_in_place(t, f)))
}

/// `x`'s primitive on backend `B`, or `x` back. The handle kept for that case is gone when this
/// returns, so a buffer that only `x` held can still be updated in place.
fn primitive<B, const D: usize>(x: Tensor<D>) -> Result<B::FloatTensorPrimitive, Tensor<D>>
where
    B: Backend,
    Float: BackendPrimitive<B, Primitive = B::FloatTensorPrimitive>,
    DispatchTensor: DispatchKindConversion<B>,
{
    let keep = x.clone();
    x.try_into_primitive::<B>().map_err(|_| keep)
}

/// The autodiff nodes on the CPU backend: the RMS norm, the softmax, the matrix product and the
/// cross-entropy.
#[cfg(feature = "flex-autodiff")]
mod training {
    use std::sync::Arc;

    use burn::backend::Autodiff;
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, binary, unary};
    use burn::backend::flex::{Flex, FlexTensor, Layout};
    use burn::backend::ops::FloatTensorOps;
    use burn::tensor::{Bytes, DType, Tensor};

    use super::{host_math, map_in_place, vector, with_f32};

    type AdPrimitive = <Autodiff<Flex> as burn::backend::BackendTypes>::FloatTensorPrimitive;

    pub(super) fn rms_norm<const D: usize>(
        x: AdPrimitive,
        weight: AdPrimitive,
        width: usize,
        eps: f32,
    ) -> Tensor<D> {
        let (x, x_node) = x.into_parts();
        let (weight, w_node) = weight.into_parts();
        let shape = x.layout().shape().clone();
        // x stays as it is for the backward pass: the output is a copy normalised in place
        let mut y = with_f32(&x, <[f32]>::to_vec);
        let r = with_f32(&weight, |ws| host_math::rms_norm_rows_in_place(&mut y, width, ws, eps));
        let out = FlexTensor::new(Bytes::from_elems(y), Layout::contiguous(shape), DType::F32);
        let prep = RmsNormBackward.prepare::<NoCheckpointing>([x_node, w_node]).compute_bound();
        let out = match prep.stateful() {
            OpsKind::Tracked(prep) => {
                prep.finish(RmsNormState { x, weight, width, r: Arc::new(r) }, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        Tensor::from_primitive::<Autodiff<Flex>>(out)
    }

    /// The backward pass of [`super::try_rms_norm`]: both gradients from one pass per row.
    #[derive(Debug)]
    struct RmsNormBackward;

    #[derive(Debug, Clone)]
    struct RmsNormState {
        x: FlexTensor,
        weight: FlexTensor,
        width: usize,
        r: Arc<Vec<f32>>,
    }

    impl Backward<Flex, 2> for RmsNormBackward {
        type State = RmsNormState;

        fn backward(self, ops: Ops<RmsNormState, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
            let RmsNormState { x, weight, width, r } = ops.state;
            let grad = grads.consume::<Flex>(&ops.node);
            // the output's gradient becomes the input's, in its own buffer where possible
            let mut gw = Vec::new();
            let gx = with_f32(&x, |xs| {
                with_f32(&weight, |ws| {
                    map_in_place(grad, |gy| {
                        gw = host_math::rms_norm_rows_backward_in_place(xs, width, ws, &r, gy);
                    })
                })
            });
            let [x_parent, w_parent] = ops.parents;
            if let Some(node) = x_parent {
                grads.register::<Flex>(node.id, gx);
            }
            if let Some(node) = w_parent {
                grads.register::<Flex>(node.id, vector(gw, width));
            }
        }
    }

    pub(super) fn softmax<const D: usize>(x: AdPrimitive, width: usize) -> Tensor<D> {
        let (x, node) = x.into_parts();
        let y = map_in_place(x, |xs| host_math::softmax_rows_in_place(xs, width));
        let prep = SoftmaxBackward.prepare::<NoCheckpointing>([node]).compute_bound();
        let out = match prep.stateful() {
            // the output is all the backward pass needs
            OpsKind::Tracked(prep) => prep.finish((y.clone(), width), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        Tensor::from_primitive::<Autodiff<Flex>>(out)
    }

    /// The backward pass of [`super::try_softmax`]: `y * (grad - sum(grad * y))` per row, over
    /// the gradient's own buffer where possible.
    #[derive(Debug)]
    struct SoftmaxBackward;

    impl Backward<Flex, 1> for SoftmaxBackward {
        type State = (FlexTensor, usize);

        fn backward(
            self,
            ops: Ops<(FlexTensor, usize), 1>,
            grads: &mut Gradients,
            _: &mut Checkpointer,
        ) {
            let (y, width) = ops.state;
            unary::<Flex, _>(ops.parents, ops.node, grads, |grad: FlexTensor| {
                with_f32(&y, |ys| {
                    map_in_place(grad, |g| host_math::softmax_rows_backward_in_place(ys, g, width))
                })
            });
        }
    }

    pub(super) fn matmul<const D: usize>(
        a: AdPrimitive,
        b: AdPrimitive,
    ) -> Result<Tensor<D>, (Tensor<D>, Tensor<D>)> {
        let Some(out) = super::matmul(a.primitive(), b.primitive()) else {
            let back = |t| Tensor::from_primitive::<Autodiff<Flex>>(t);
            return Err((back(a), back(b)));
        };
        let (a, a_node) = a.into_parts();
        let (b, b_node) = b.into_parts();
        let prep = MatmulBackward.prepare::<NoCheckpointing>([a_node, b_node]).compute_bound();
        let out = match prep.stateful() {
            // each gradient needs the other operand
            OpsKind::Tracked(prep) => prep.finish((a, b), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        Ok(Tensor::from_primitive::<Autodiff<Flex>>(out))
    }

    /// The backward pass of [`super::try_matmul`]: `grad @ b^T` and `a^T @ grad`, the transposes
    /// read through strides.
    #[derive(Debug)]
    struct MatmulBackward;

    impl Backward<Flex, 2> for MatmulBackward {
        type State = (FlexTensor, FlexTensor);

        fn backward(
            self,
            ops: Ops<(FlexTensor, FlexTensor), 2>,
            grads: &mut Gradients,
            _: &mut Checkpointer,
        ) {
            let (a, b) = ops.state;
            let rank = a.layout().shape().num_dims();
            let product = |x: FlexTensor, y: FlexTensor| match super::matmul(&x, &y) {
                Some(out) => out,
                None => Flex::float_matmul(x, y),
            };
            binary::<Flex, _, _>(
                ops.parents,
                ops.node,
                grads,
                |grad| product(grad, Flex::float_swap_dims(b, rank - 2, rank - 1)),
                |grad| product(Flex::float_swap_dims(a, rank - 2, rank - 1), grad),
            );
        }
    }

    pub(super) fn cross_entropy_rows(
        logits: AdPrimitive,
        rows: usize,
        vocab: usize,
        labels: &[u32],
        soft: Option<host_math::SoftMix>,
    ) -> Tensor<1> {
        let (primitive, node) = logits.into_parts();
        let forward =
            with_f32(&primitive, |x| host_math::cross_entropy_rows(x, vocab, labels, soft));
        let out = vector(forward.loss.clone(), rows);
        let prep = CrossEntropyBackward.prepare::<NoCheckpointing>([node]).compute_bound();
        let out = match prep.stateful() {
            OpsKind::Tracked(prep) => {
                let state = CrossEntropyState {
                    logits: primitive,
                    vocab,
                    labels: Arc::new(labels.to_vec()),
                    soft: soft.map(|s| Arc::new((s.probs.to_vec(), s.weight.to_vec()))),
                    forward: Arc::new(forward),
                };
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        Tensor::from_primitive::<Autodiff<Flex>>(out)
    }

    /// The backward pass of [`super::try_cross_entropy_rows`]:
    /// `grad[r] * (softmax(row r) - target(row r))`, one pass over the logits kept from the
    /// forward pass.
    #[derive(Debug)]
    struct CrossEntropyBackward;

    #[derive(Debug, Clone)]
    struct CrossEntropyState {
        logits: FlexTensor,
        vocab: usize,
        labels: Arc<Vec<u32>>,
        /// The soft targets' probabilities (rows x vocab) and mixing weights (per row).
        soft: Option<Arc<(Vec<f32>, Vec<f32>)>>,
        forward: Arc<host_math::CrossEntropyRows>,
    }

    impl Backward<Flex, 1> for CrossEntropyBackward {
        type State = CrossEntropyState;

        fn backward(
            self,
            ops: Ops<CrossEntropyState, 1>,
            grads: &mut Gradients,
            _: &mut Checkpointer,
        ) {
            let CrossEntropyState { logits, vocab, labels, soft, forward } = ops.state;
            let soft = soft.as_deref().map(|(probs, weight)| host_math::SoftMix { probs, weight });
            // The logits are only held here now: their buffer becomes the gradient.
            unary::<Flex, _>(ops.parents, ops.node, grads, |grad: FlexTensor| {
                with_f32(&grad, |g| {
                    map_in_place(logits, |x| {
                        host_math::cross_entropy_rows_backward_in_place(
                            x, vocab, &labels, soft, &forward, g,
                        )
                    })
                })
            });
        }
    }
}

fn vector(values: Vec<f32>, len: usize) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(Shape::new([len])), DType::F32)
}

/// Runs `f` on the tensor's values in row-major order (a copy only when its layout is strided).
fn with_f32<R>(t: &FlexTensor, f: impl FnOnce(&[f32]) -> R) -> R {
    if let Some(values) = t.as_slice::<f32>() {
        return f(values);
    }
    let contiguous = t.to_contiguous();
    f(contiguous.as_slice::<f32>().unwrap_or_default())
}

/// Applies `f` to the tensor's values, in its own buffer when nothing else holds it and it is
/// laid out densely, else in a new one.
fn map_in_place(mut t: FlexTensor, f: impl FnOnce(&mut [f32])) -> FlexTensor {
    let whole = t.layout().contiguous_offsets() == Some((0, t.layout().num_elements()))
        && t.bytes().len() == 4 * t.layout().num_elements();
    if whole && let Some(values) = t.try_storage_mut::<f32>() {
        f(values);
        return t;
    }
    let shape = t.layout().shape().clone();
    let mut values = with_f32(&t, <[f32]>::to_vec);
    f(&mut values);
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(shape), DType::F32)
}

#[cfg(test)]
mod tests {
    use burn::tensor::activation::{log_softmax, sigmoid};
    use burn::tensor::{Int, TensorData};

    use super::*;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().expect("f32")
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * y.abs().max(1.0), "element {i}: {x} vs {y}");
        }
    }

    fn spread(n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 2.0 * scale).collect()
    }

    #[test]
    fn quick_gelu_runs_on_the_cpu_backend_and_agrees_with_burns_operations() {
        let device = Device::flex();
        let x = Tensor::<2>::from_data(TensorData::new(spread(6 * 70, 9.0), [6, 70]), &device);
        let want = values(x.clone() * sigmoid(x.clone().mul_scalar(1.702)));
        // a second handle keeps the buffer shared: the kernel must write a new one
        let shared = x.clone();
        let got = try_quick_gelu(x).expect("the CPU backend takes the host kernel");
        close(&values(got), &want, 1e-6);
        assert_eq!(values(shared.clone()), spread(6 * 70, 9.0), "the shared input is untouched");
        // a strided (transposed) view gives the transposed answer
        let t = try_quick_gelu(shared.clone().transpose()).expect("host kernel");
        let want_t =
            values(shared.clone().transpose() * sigmoid(shared.transpose().mul_scalar(1.702)));
        close(&values(t), &want_t, 1e-6);
        // under autodiff the generic operations run (the kernel has no backward pass)
        let ad = Tensor::<1>::from_floats([1.0, -2.0], &device.autodiff());
        assert!(try_quick_gelu(ad).is_err());
    }

    /// The cross-entropy node's values and gradients against the same loss in burn's operations
    /// (log-softmax, gather, the soft targets' weighted sum), on the CPU with autodiff.
    #[cfg(feature = "flex-autodiff")]
    fn check_cross_entropy_node(soft: Option<(Vec<f32>, Vec<f32>)>) {
        let device = Device::flex().autodiff();
        let (rows, vocab) = (6, 1_003);
        let data = spread(rows * vocab, 6.0);
        let labels = [0u32, 5, 1_002, 17, 17, 900];
        let upstream = Tensor::<1>::from_floats([1.0, -0.5, 2.0, 0.0, 0.25, 3.0], &device);
        let leaf = || {
            Tensor::<2>::from_data(TensorData::new(data.clone(), [rows, vocab]), &device)
                .require_grad()
        };

        let reference = leaf();
        let ids: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [rows, 1]), &device);
        let log_probs = log_softmax(reference.clone(), 1);
        let hard = log_probs.clone().gather(1, ids).reshape([rows]).neg();
        let want = match &soft {
            None => hard,
            Some((probs, weight)) => {
                let q = TensorData::new(probs.clone(), [rows, vocab]);
                let q = Tensor::<2>::from_data(q, &device);
                let w = Tensor::<1>::from_data(TensorData::new(weight.clone(), [rows]), &device);
                let soft_ce = (log_probs * q).sum_dim(1).reshape([rows]).neg();
                hard * w.clone().neg().add_scalar(1.0) + soft_ce * w
            }
        };
        let want_grad = reference.grad(&(want.clone() * upstream.clone()).sum().backward());

        let logits = leaf();
        let mix = soft.as_ref().map(|(probs, weight)| host_math::SoftMix { probs, weight });
        // the logits through one more operation, as in training: the node passes its gradient on
        let got = try_cross_entropy_rows(logits.clone().mul_scalar(1.0), &labels, mix)
            .expect("host node");
        let got_grad = logits.grad(&(got.clone() * upstream).sum().backward());
        close(&values(got), &values(want), 1e-5);
        close(
            &values(got_grad.expect("a gradient")),
            &values(want_grad.expect("a gradient")),
            1e-5,
        );
    }

    #[cfg(feature = "flex-autodiff")]
    #[test]
    fn the_cross_entropy_node_gives_burns_values_and_gradients() {
        check_cross_entropy_node(None);
        // soft targets mixed in: rows of a distribution, one weight per row (0 and 1 included)
        let (rows, vocab) = (6, 1_003);
        let counts: Vec<f32> = (0..rows * vocab).map(|i| ((i * 31) % 7) as f32).collect();
        let probs = counts
            .chunks(vocab)
            .flat_map(|row| {
                let sum: f32 = row.iter().sum();
                row.iter().map(move |v| v / sum)
            })
            .collect();
        check_cross_entropy_node(Some((probs, vec![0.5, 0.0, 1.0, 0.25, 0.9, 0.1])));

        // logits that need no gradient: the value alone
        let frozen = Tensor::<2>::from_floats([[1.0, 2.0, 3.0]], &Device::flex().autodiff());
        let nll = values(try_cross_entropy_rows(frozen, &[2], None).expect("host node"))[0];
        let want = (1f32.exp() + 2f32.exp() + 3f32.exp()).ln() - 3.0;
        assert!((nll - want).abs() < 1e-6);
    }

    #[cfg(feature = "flex-autodiff")]
    #[test]
    fn the_rms_norm_node_gives_burns_values_and_gradients() {
        let generic = |x: Tensor<3>, w: Tensor<1>| {
            let variance = x.clone().square().mean_dim(2);
            x * variance.add_scalar(1e-6).sqrt().recip() * w.unsqueeze::<3>()
        };
        let (b, l, d) = (3, 5, 67);
        let data = spread(b * l * d, 2.5);
        let gain: Vec<f32> = spread(d, 0.5).iter().map(|v| 1.0 + v).collect();
        let upstream = Tensor::<3>::from_data(
            TensorData::new(
                spread(b * l * d, 1.0).into_iter().rev().collect::<Vec<_>>(),
                [b, l, d],
            ),
            &Device::flex().autodiff(),
        );
        let run = |fused: bool| {
            let device = Device::flex().autodiff();
            let x = Tensor::<3>::from_data(TensorData::new(data.clone(), [b, l, d]), &device)
                .require_grad();
            let w =
                Tensor::<1>::from_data(TensorData::new(gain.clone(), [d]), &device).require_grad();
            let y = if fused {
                try_rms_norm(x.clone().mul_scalar(1.0), w.clone(), 1e-6).expect("host node")
            } else {
                generic(x.clone().mul_scalar(1.0), w.clone())
            };
            let grads = (y.clone() * upstream.clone()).sum().backward();
            let gx = x.grad(&grads).expect("x gradient");
            let gw = w.grad(&grads).expect("weight gradient");
            (values(y), values(gx), values(gw))
        };
        let (want, want_gx, want_gw) = run(false);
        let (got, got_gx, got_gw) = run(true);
        close(&got, &want, 1e-5);
        close(&got_gx, &want_gx, 1e-4);
        close(&got_gw, &want_gw, 1e-4);
        // inference: the value alone, on the plain CPU device
        let device = Device::flex();
        let x = Tensor::<3>::from_data(TensorData::new(data.clone(), [b, l, d]), &device);
        let w = Tensor::<1>::from_data(TensorData::new(gain.clone(), [d]), &device);
        let fused = try_rms_norm(x.clone(), w.clone(), 1e-6).expect("host kernel");
        close(&values(fused), &values(generic(x, w)), 1e-5);
    }

    #[cfg(feature = "flex-autodiff")]
    #[test]
    fn the_softmax_node_gives_burns_values_and_gradients() {
        let (b, h, l) = (2, 3, 37);
        let data = spread(b * h * l * l, 8.0);
        let upstream: Vec<f32> = spread(b * h * l * l, 1.0).into_iter().rev().collect();
        let run = |host: bool| {
            let device = Device::flex().autodiff();
            let x = Tensor::<4>::from_data(TensorData::new(data.clone(), [b, h, l, l]), &device)
                .require_grad();
            let up =
                Tensor::<4>::from_data(TensorData::new(upstream.clone(), [b, h, l, l]), &device);
            // through one more operation on each side, as in training
            let y = if host {
                try_softmax(x.clone().mul_scalar(1.0)).expect("host node")
            } else {
                burn::tensor::activation::softmax(x.clone().mul_scalar(1.0), 3)
            };
            let grads = (y.clone() * up).sum().backward();
            (values(y), values(x.grad(&grads).expect("x gradient")))
        };
        let (want, want_g) = run(false);
        let (got, got_g) = run(true);
        close(&got, &want, 1e-5);
        close(&got_g, &want_g, 1e-4);
        // inference: in place on the plain CPU device
        let x = Tensor::<2>::from_data(
            TensorData::new(data[..5 * l].to_vec(), [5, l]),
            &Device::flex(),
        );
        let got = try_softmax(x.clone()).expect("host kernel");
        close(&values(got), &values(burn::tensor::activation::softmax(x, 1)), 1e-5);
    }
}

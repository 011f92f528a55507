//! Element-wise kernels over host memory (`&mut [f32]`), for the CPU backend's hot spots.
//!
//! burn's CPU backend (flex) computes `exp`, `sigmoid` and every element-wise op with scalar libm
//! calls on one thread. After the matrix multiplies, that was the largest cost of a CLIP forward
//! pass (`quick_gelu`) and of a training step (the log-softmax over the 32,100-token vocabulary),
//! where PyTorch's kernels are vectorised and threaded (README, "Speed log"). These loops are
//! written so that LLVM vectorises them: no branches in the inner loops, lane-wise accumulators,
//! and an `exp` from a polynomial (Cephes' `expf`) instead of a libm call. On x86-64 they are
//! compiled again for AVX-512F and AVX2 and chosen at run time; wasm32 vectorises them with
//! SIMD128.
//! Long inputs are split across [`super::host_pool`]'s threads (natively, with the `rayon`
//! feature).

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::host_pool;

/// Lanes of the explicit accumulators: one AVX-512 register, or two AVX2 chains in flight.
const LANES: usize = 16;

/// Elements below which a kernel runs on the calling thread alone: splitting costs more.
const PARALLEL_CHUNK: usize = 32 * 1024;

/// `exp(x)` for f32 within 2 ulp of the true value (Cephes' `expf` polynomial after a
/// round-to-nearest range reduction by ln 2). Like libm it gives `inf` above ln(f32::MAX) and
/// keeps NaN; below -87.33 (where the true value is below the smallest normal float) it gives 0.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // ln(f32::MAX) rounded down, and the smallest argument with a normal result.
    const HI: f32 = 88.722_83;
    const LO: f32 = -87.33;
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that `n * LN2_HI` is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding it rounds to the nearest integer, which lands in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let clamped = if x > HI { HI } else { x };
    let clamped = if clamped < LO { LO } else { clamped };
    let t = clamped * LOG2E + ROUND;
    let n = t - ROUND;
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5; // Cephes: 5.0000001201e-1, which is 0.5 in f32
    let e = p * r * r + r + 1.0;
    // 2^n from the integer in t's mantissa, n in [-126, 128]: as 2^(n - s) * 2^s with s = 1 for
    // n > 0, so that both factors are normal floats.
    let n_bits = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
    let s = if n_bits > 0 { 1 } else { 0 };
    let scale = f32::from_bits((n_bits - s + 127).wrapping_shl(23) as u32);
    let y = e * scale * (1 + s) as f32;
    // NaN fails both comparisons above and would come out as a number: keep it NaN.
    if x.is_nan() {
        x
    } else if x < LO {
        0.0
    } else if x > HI {
        f32::INFINITY
    } else {
        y
    }
}

/// CLIP's `quick_gelu`, `x * sigmoid(1.702 x)`, in place.
pub fn quick_gelu_in_place(xs: &mut [f32]) {
    for_chunks(xs, quick_gelu_any);
}

#[inline(always)]
fn quick_gelu_chunk(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        *x /= 1.0 + exp(-1.702 * *x);
    }
}

/// Soft targets mixed into the labels: row `r`'s target distribution is
/// `(1 - weight[r]) * onehot(label r) + weight[r] * probs[row r]`.
#[derive(Debug, Clone, Copy)]
pub struct SoftMix<'a> {
    /// `rows x vocab`, row-major; each row sums to 1, or is all zeros where `weight` is 0.
    pub probs: &'a [f32],
    /// One mixing weight per row.
    pub weight: &'a [f32],
}

/// What [`cross_entropy_rows`] computes: each row's loss, and what its backward pass needs.
#[derive(Debug, Clone, Default)]
pub struct CrossEntropyRows {
    /// `-sum_j target_j * log_softmax(row)_j`.
    pub loss: Vec<f32>,
    /// `logsumexp(row)`.
    pub lse: Vec<f32>,
    /// The sum of the row's target distribution (1 up to rounding): the softmax's factor in the
    /// gradient.
    pub target_mass: Vec<f32>,
}

/// The cross-entropy of each row of `logits` (`vocab` values per row) against its label, or
/// against the label mixed with soft targets. A label outside the row gives NaN (the caller
/// validates labels).
pub fn cross_entropy_rows(
    logits: &[f32],
    vocab: usize,
    targets: &[u32],
    soft: Option<SoftMix>,
) -> CrossEntropyRows {
    debug_assert_eq!(logits.len(), targets.len() * vocab);
    let per_row = map_rows(logits, vocab, |r, row| {
        let lse = logsumexp_any(row);
        let hard = match row.get(targets[r] as usize) {
            Some(&x) => lse - x,
            None => f32::NAN,
        };
        match soft {
            None => (hard, lse, 1.0),
            Some(mix) => {
                let w = mix.weight[r];
                let q = &mix.probs[r * vocab..(r + 1) * vocab];
                let (soft_ce, q_sum) = soft_cross_entropy_any(q, row, lse);
                ((1.0 - w) * hard + w * soft_ce, lse, (1.0 - w) + w * q_sum)
            }
        }
    });
    let mut out = CrossEntropyRows::default();
    for (loss, lse, mass) in per_row {
        out.loss.push(loss);
        out.lse.push(lse);
        out.target_mass.push(mass);
    }
    out
}

/// `x - logsumexp(row)` for each row of `width` values, in place: the log-softmax.
pub fn log_softmax_rows_in_place(xs: &mut [f32], width: usize) {
    if width == 0 {
        return;
    }
    map_row_blocks(xs, width, |_, rows| {
        for row in rows.chunks_exact_mut(width) {
            let lse = logsumexp_any(row);
            for v in row.iter_mut() {
                *v -= lse;
            }
        }
    });
}

/// The softmax over each row of `width` values, in place.
pub fn softmax_rows_in_place(xs: &mut [f32], width: usize) {
    if width == 0 {
        return;
    }
    map_row_blocks(xs, width, |_, rows| {
        for row in rows.chunks_exact_mut(width) {
            let lse = logsumexp_any(row);
            softmax_grad_any(row, lse, 1.0);
        }
    });
}

/// The softmax's backward pass from its output `y`: the output's gradient `gy` becomes the
/// input's, `y * (gy - sum(gy * y))` per row.
pub fn softmax_rows_backward_in_place(y: &[f32], gy: &mut [f32], width: usize) {
    if width == 0 {
        return;
    }
    map_row_blocks(gy, width, |first, rows| {
        for (i, g) in rows.chunks_exact_mut(width).enumerate() {
            let r = first + i;
            softmax_backward_any(&y[r * width..(r + 1) * width], g);
        }
    });
}

/// The gradient of `sum_r grad[r] * loss[r]` with respect to the logits,
/// `grad[r] * (target_mass[r] * softmax(row r) - target(row r))`, written over the logits
/// themselves (the forward pass's `logsumexp` gives the softmax in one pass).
pub fn cross_entropy_rows_backward_in_place(
    logits: &mut [f32],
    vocab: usize,
    targets: &[u32],
    soft: Option<SoftMix>,
    forward: &CrossEntropyRows,
    grad: &[f32],
) {
    if vocab == 0 {
        return;
    }
    map_row_blocks(logits, vocab, |first, rows| {
        for (i, row) in rows.chunks_exact_mut(vocab).enumerate() {
            let r = first + i;
            let (g, lse) = (grad[r], forward.lse[r]);
            let hard_share = match soft {
                None => {
                    softmax_grad_any(row, lse, g);
                    1.0
                }
                Some(mix) => {
                    let w = mix.weight[r];
                    let q = &mix.probs[r * vocab..(r + 1) * vocab];
                    softmax_grad_soft_any(row, q, lse, g * forward.target_mass[r], g * w);
                    1.0 - w
                }
            };
            if let Some(v) = row.get_mut(targets[r] as usize) {
                *v -= g * hard_share;
            }
        }
    });
}

/// T5's RMS norm over rows of `width` values, in place: `x * r * weight` with
/// `r = 1 / sqrt(mean(x^2) + eps)` per row. Returns `r`.
pub fn rms_norm_rows_in_place(xs: &mut [f32], width: usize, weight: &[f32], eps: f32) -> Vec<f32> {
    if width == 0 {
        return Vec::new();
    }
    let blocks = map_row_blocks(xs, width, |_, rows| {
        rows.chunks_exact_mut(width)
            .map(|row| rms_norm_row_any(row, weight, eps))
            .collect::<Vec<f32>>()
    });
    blocks.concat()
}

/// The gradients of [`rms_norm_rows_in_place`] from the output's gradient `gy`, which becomes
/// the input's: `gx = r * (g - n * mean(g * n))` where `n = x * r` and `g = gy * weight`.
/// Returns the weight's gradient, the sum over rows of `gy * n`.
pub fn rms_norm_rows_backward_in_place(
    x: &[f32],
    width: usize,
    weight: &[f32],
    r: &[f32],
    gy: &mut [f32],
) -> Vec<f32> {
    if width == 0 {
        return Vec::new();
    }
    let partials = map_row_blocks(gy, width, |first, gy_rows| {
        let mut gw = vec![0.0f32; width];
        for (i, gy_row) in gy_rows.chunks_exact_mut(width).enumerate() {
            let row = first + i;
            let x_row = &x[row * width..(row + 1) * width];
            rms_norm_grad_row_any(x_row, gy_row, weight, r[row], &mut gw);
        }
        gw
    });
    let mut gw = vec![0.0f32; width];
    for p in partials {
        for (a, b) in gw.iter_mut().zip(p) {
            *a += b;
        }
    }
    gw
}

#[inline(always)]
fn inverse_rms(row: &[f32], eps: f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i] * c[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for &v in tail {
        s += v * v;
    }
    1.0 / (s / row.len() as f32 + eps).sqrt()
}

#[inline(always)]
fn rms_norm_row(x: &mut [f32], weight: &[f32], eps: f32) -> f32 {
    let r = inverse_rms(x, eps);
    for (v, &w) in x.iter_mut().zip(weight) {
        *v = *v * r * w;
    }
    r
}

#[inline(always)]
fn rms_norm_grad_row(x: &[f32], gy: &mut [f32], weight: &[f32], r: f32, gw: &mut [f32]) {
    // mean(g * n) with g = gy * weight, n = x * r
    let mut acc = [0.0f32; LANES];
    let n = x.len();
    let full = n / LANES * LANES;
    for j in (0..full).step_by(LANES) {
        for i in 0..LANES {
            acc[i] += gy[j + i] * weight[j + i] * x[j + i];
        }
    }
    let mut dot: f32 = acc.iter().sum();
    for j in full..n {
        dot += gy[j] * weight[j] * x[j];
    }
    let mean_gn = dot * r / n as f32;
    for j in 0..n {
        let normed = x[j] * r;
        gw[j] += gy[j] * normed;
        gy[j] = r * (gy[j] * weight[j] - normed * mean_gn);
    }
}

#[inline(always)]
fn logsumexp_row(row: &[f32]) -> f32 {
    let mut max = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            max[i] = if c[i] > max[i] { c[i] } else { max[i] };
        }
    }
    let mut m = f32::NEG_INFINITY;
    for &v in max.iter().chain(tail) {
        m = if v > m { v } else { m };
    }
    if !m.is_finite() {
        // every value -inf (masked), or +inf somewhere: the definition's answer
        return m;
    }
    let mut sum = [0.0f32; LANES];
    let chunks = row.chunks_exact(LANES);
    for c in chunks {
        for i in 0..LANES {
            sum[i] += exp(c[i] - m);
        }
    }
    let mut s: f32 = sum.iter().sum();
    for &v in tail {
        s += exp(v - m);
    }
    m + s.ln()
}

#[inline(always)]
fn softmax_grad_soft_row(row: &mut [f32], q: &[f32], lse: f32, a: f32, b: f32) {
    for (x, &qj) in row.iter_mut().zip(q) {
        *x = a * exp(*x - lse) - b * qj;
    }
}

/// `(sum_j q_j * (lse - x_j), sum_j q_j)`: the soft targets' cross-entropy and mass. The
/// difference is taken per element, as `log_softmax` does, so that large logits do not cancel.
#[inline(always)]
fn soft_cross_entropy(q: &[f32], x: &[f32], lse: f32) -> (f32, f32) {
    let (mut ce, mut sum) = ([0.0f32; LANES], [0.0f32; LANES]);
    let (qc, xc) = (q.chunks_exact(LANES), x.chunks_exact(LANES));
    let (qt, xt) = (qc.remainder(), xc.remainder());
    for (a, b) in qc.zip(xc) {
        for i in 0..LANES {
            ce[i] += a[i] * (lse - b[i]);
            sum[i] += a[i];
        }
    }
    let mut c: f32 = ce.iter().sum();
    let mut s: f32 = sum.iter().sum();
    for (a, b) in qt.iter().zip(xt) {
        c += a * (lse - b);
        s += a;
    }
    (c, s)
}

#[inline(always)]
fn softmax_backward_row(y: &[f32], g: &mut [f32]) {
    let mut acc = [0.0f32; LANES];
    let n = y.len();
    let full = n / LANES * LANES;
    for j in (0..full).step_by(LANES) {
        for i in 0..LANES {
            acc[i] += g[j + i] * y[j + i];
        }
    }
    let mut dot: f32 = acc.iter().sum();
    for j in full..n {
        dot += g[j] * y[j];
    }
    for (gj, &yj) in g.iter_mut().zip(y) {
        *gj = yj * (*gj - dot);
    }
}

#[inline(always)]
fn softmax_grad_row(row: &mut [f32], lse: f32, grad: f32) {
    for x in row.iter_mut() {
        *x = grad * exp(*x - lse);
    }
}

/// Defines `$name`, which calls `$kernel` through a copy compiled for AVX-512F or AVX2 where the
/// CPU has it (x86-64: the default target stops at SSE2), else the copy compiled for the target.
macro_rules! multiversion {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? = $kernel:ident;)*) => {$(
        fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    #[target_feature(enable = "avx512f")]
                    fn avx512($($arg: $ty),*) $(-> $ret)? {
                        $kernel($($arg),*)
                    }
                    // SAFETY: the CPU has AVX-512F (checked just above).
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    #[target_feature(enable = "avx2")]
                    fn avx2($($arg: $ty),*) $(-> $ret)? {
                        $kernel($($arg),*)
                    }
                    // SAFETY: the CPU has AVX2 (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $kernel($($arg),*)
        }
    )*};
}

multiversion! {
    fn quick_gelu_any(xs: &mut [f32]) = quick_gelu_chunk;
    fn logsumexp_any(row: &[f32]) -> f32 = logsumexp_row;
    fn softmax_grad_any(row: &mut [f32], lse: f32, grad: f32) = softmax_grad_row;
    fn softmax_backward_any(y: &[f32], g: &mut [f32]) = softmax_backward_row;
    fn softmax_grad_soft_any(row: &mut [f32], q: &[f32], lse: f32, a: f32, b: f32) = softmax_grad_soft_row;
    fn soft_cross_entropy_any(q: &[f32], x: &[f32], lse: f32) -> (f32, f32) = soft_cross_entropy;
    fn rms_norm_row_any(x: &mut [f32], weight: &[f32], eps: f32) -> f32 = rms_norm_row;
    fn rms_norm_grad_row_any(
        x: &[f32], gy: &mut [f32], weight: &[f32], r: f32, gw: &mut [f32]
    ) = rms_norm_grad_row;
}

/// How many parts `len` values in `rows` rows are split into: one per thread of the host pool
/// when there is enough work, else one.
fn parts_for(len: usize, rows: usize) -> usize {
    if len > PARALLEL_CHUNK { host_pool::threads().min(rows).max(1) } else { 1 }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // a part that panicked poisons its own piece only; the panic reaches the caller anyway
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` over `xs` in pieces, on the host pool's threads when there is enough work.
fn for_chunks(xs: &mut [f32], f: impl Fn(&mut [f32]) + Sync) {
    map_row_blocks(xs, 1, |_, c| f(c));
}

/// `f(row_index, row)` for each row of `width` values of `input`, in order, on the host pool's
/// threads when there is enough work.
fn map_rows<R: Send>(input: &[f32], width: usize, f: impl Fn(usize, &[f32]) -> R + Sync) -> Vec<R> {
    if width == 0 {
        return Vec::new();
    }
    let rows = input.len() / width;
    let parts = parts_for(input.len(), rows);
    if parts == 1 {
        return input.chunks(width).enumerate().map(|(r, row)| f(r, row)).collect();
    }
    let per = rows.div_ceil(parts);
    let outs: Vec<Mutex<Vec<R>>> =
        (0..rows.div_ceil(per)).map(|_| Mutex::new(Vec::new())).collect();
    host_pool::run(outs.len(), &|p| {
        let piece = &input[p * per * width..((p + 1) * per * width).min(input.len())];
        *lock(&outs[p]) =
            piece.chunks(width).enumerate().map(|(i, row)| f(p * per + i, row)).collect();
    });
    outs.into_iter().flat_map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner)).collect()
}

/// Runs `f(first_row, rows)` over consecutive blocks of rows (`width` values each) of `xs`, one
/// block per thread of the host pool when there is enough work, and returns each block's result
/// in order.
fn map_row_blocks<R: Send>(
    xs: &mut [f32],
    width: usize,
    f: impl Fn(usize, &mut [f32]) -> R + Sync,
) -> Vec<R> {
    let rows = xs.len().checked_div(width).unwrap_or(0);
    let parts = parts_for(xs.len(), rows);
    if parts == 1 {
        return vec![f(0, xs)];
    }
    let per = rows.div_ceil(parts);
    let pieces: Vec<Mutex<(&mut [f32], Option<R>)>> =
        xs.chunks_mut(per * width).map(|c| Mutex::new((c, None))).collect();
    host_pool::run(pieces.len(), &|p| {
        let mut piece = lock(&pieces[p]);
        let (rows, out) = &mut *piece;
        *out = Some(f(p * per, rows));
    });
    pieces
        .into_iter()
        .filter_map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner).1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic spread of values (no rand: the test must not depend on a generator).
    fn values(n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 2.0 * scale).collect()
    }

    #[test]
    fn exp_is_within_two_ulp_of_f64_exp_over_its_range() {
        let mut worst = 0.0f64;
        let mut x = -87.3f32;
        while x < 88.72 {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        // 2 ulp of f32 is 2 * 2^-23 = 2.4e-7 relative.
        assert!(worst < 2.4e-7, "worst relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1.0e9), 0.0, "masked attention logits must vanish");
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(1.0e9), f32::INFINITY);
        assert!(exp(88.72).is_finite() && exp(88.72) > 3.3e38);
    }

    #[test]
    fn quick_gelu_matches_its_definition_in_f64() {
        for len in [0, 1, 15, 16, 17, 100_003] {
            let mut xs = values(len, 12.0);
            let want: Vec<f64> =
                xs.iter().map(|&x| x as f64 / (1.0 + (-1.702 * x as f64).exp())).collect();
            quick_gelu_in_place(&mut xs);
            for (g, w) in xs.iter().zip(&want) {
                assert!((*g as f64 - w).abs() <= 1e-6 * w.abs().max(1e-3), "{g} vs {w}");
            }
        }
        let mut extreme = vec![-1.0e4, -90.0, 90.0, 1.0e4, f32::NAN];
        quick_gelu_in_place(&mut extreme);
        assert_eq!(&extreme[..4], &[-0.0, -0.0, 90.0, 1.0e4]);
        assert!(extreme[4].is_nan());
    }

    fn reference_nll(row: &[f32], target: usize) -> (f64, Vec<f64>) {
        let m = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64));
        let lse = m + row.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
        let softmax = row.iter().map(|&v| (v as f64 - lse).exp()).collect();
        (lse - row[target] as f64, softmax)
    }

    #[test]
    fn cross_entropy_and_its_gradient_match_a_float64_reference() {
        // odd vocabulary (tail lanes), several rows, one row far from zero
        let (rows, vocab) = (5, 32_103);
        let mut logits = values(rows * vocab, 8.0);
        for v in &mut logits[2 * vocab..3 * vocab] {
            *v += 300.0;
        }
        let targets = [0u32, 17, 32_102, 9_999, 5];
        let grad = [1.0f32, 0.5, -2.0, 0.0, 3.0];
        let forward = cross_entropy_rows(&logits, vocab, &targets, None);
        let mut back = logits.clone();
        cross_entropy_rows_backward_in_place(&mut back, vocab, &targets, None, &forward, &grad);
        for r in 0..rows {
            let row = &logits[r * vocab..(r + 1) * vocab];
            let (want, softmax) = reference_nll(row, targets[r] as usize);
            let nll = forward.loss[r] as f64;
            assert!((nll - want).abs() < 1e-4 * want.abs().max(1.0), "row {r}");
            for (j, s) in softmax.iter().enumerate() {
                let onehot = if j == targets[r] as usize { 1.0 } else { 0.0 };
                let w = grad[r] as f64 * (s - onehot);
                let g = back[r * vocab + j] as f64;
                assert!((g - w).abs() < 1e-6, "row {r} column {j}: {g} vs {w}");
            }
        }
        // soft targets mixed in: row r's target is (1 - w) onehot + w q
        let q: Vec<f32> = (0..rows * vocab).map(|i| ((i * 7919) % 13) as f32).collect();
        let q: Vec<f32> = q
            .chunks(vocab)
            .flat_map(|row| {
                let sum: f32 = row.iter().sum();
                row.iter().map(move |v| v / sum).collect::<Vec<_>>()
            })
            .collect();
        let weight = [0.5f32, 0.0, 1.0, 0.25, 0.9];
        let mix = SoftMix { probs: &q, weight: &weight };
        let forward = cross_entropy_rows(&logits, vocab, &targets, Some(mix));
        let mut back = logits.clone();
        cross_entropy_rows_backward_in_place(
            &mut back,
            vocab,
            &targets,
            Some(mix),
            &forward,
            &grad,
        );
        for r in 0..rows {
            let row = &logits[r * vocab..(r + 1) * vocab];
            let (hard, softmax) = reference_nll(row, targets[r] as usize);
            let w = weight[r] as f64;
            let qr = &q[r * vocab..(r + 1) * vocab];
            let soft: f64 =
                qr.iter().zip(&softmax).map(|(&qj, &p)| -(qj as f64) * p.ln()).sum::<f64>();
            let want = (1.0 - w) * hard + w * soft;
            let got = forward.loss[r] as f64;
            assert!(
                (got - want).abs() < 1e-4 * want.abs().max(1.0),
                "soft row {r}: {got} vs {want}"
            );
            for (j, p) in softmax.iter().enumerate() {
                let onehot = if j == targets[r] as usize { 1.0 } else { 0.0 };
                let target = (1.0 - w) * onehot + w * qr[j] as f64;
                let want = grad[r] as f64 * (p - target);
                let g = back[r * vocab + j] as f64;
                assert!((g - want).abs() < 1e-6, "soft row {r} column {j}: {g} vs {want}");
            }
        }
        // a target outside the vocabulary is NaN, not a read out of bounds
        let forward = cross_entropy_rows(&logits[..vocab], vocab, &[vocab as u32], None);
        assert!(forward.loss[0].is_nan());
    }

    #[test]
    fn rms_norm_and_its_gradients_match_a_float64_reference() {
        let (rows, width, eps) = (37, 131, 1e-6f32);
        let x = values(rows * width, 3.0);
        let w: Vec<f32> = values(width, 1.0).iter().map(|v| 1.0 + v).collect();
        let gy = values(rows * width, 0.7).iter().rev().copied().collect::<Vec<f32>>();
        let mut y = x.clone();
        let r = rms_norm_rows_in_place(&mut y, width, &w, eps);
        let mut gx = gy.clone();
        let gw = rms_norm_rows_backward_in_place(&x, width, &w, &r, &mut gx);
        let mut want_gw = vec![0.0f64; width];
        for row in 0..rows {
            let xr: Vec<f64> =
                x[row * width..(row + 1) * width].iter().map(|&v| v as f64).collect();
            let g: Vec<f64> = (0..width).map(|j| gy[row * width + j] as f64).collect();
            let ms = xr.iter().map(|v| v * v).sum::<f64>() / width as f64;
            let rr = 1.0 / (ms + eps as f64).sqrt();
            // d/dx_k of sum_j g_j w_j x_j r: g_k w_k r - r^3 x_k sum_j(g_j w_j x_j) / width
            let dot: f64 = (0..width).map(|j| g[j] * w[j] as f64 * xr[j]).sum();
            for j in 0..width {
                let yj = xr[j] * rr * w[j] as f64;
                assert!((y[row * width + j] as f64 - yj).abs() < 1e-5 * yj.abs().max(1.0));
                let gxj = g[j] * w[j] as f64 * rr - rr.powi(3) * xr[j] * dot / width as f64;
                let got = gx[row * width + j] as f64;
                assert!(
                    (got - gxj).abs() < 1e-5 * gxj.abs().max(1.0),
                    "gx {row},{j}: {got} vs {gxj}"
                );
                want_gw[j] += g[j] * xr[j] * rr;
            }
        }
        for j in 0..width {
            assert!((gw[j] as f64 - want_gw[j]).abs() < 1e-4 * want_gw[j].abs().max(1.0), "gw {j}");
        }
    }

    #[test]
    fn log_softmax_rows_match_a_float64_reference() {
        let (rows, width) = (9, 44_201);
        let mut xs = values(rows * width, 20.0);
        xs[3 * width + 7] = -1.0e9; // a masked value stays (about) -1e9
        let original = xs.clone();
        log_softmax_rows_in_place(&mut xs, width);
        for r in 0..rows {
            let row = &original[r * width..(r + 1) * width];
            let m = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64));
            let lse = m + row.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
            for j in (0..width).step_by(97).chain([7]) {
                let want = row[j] as f64 - lse;
                let got = xs[r * width + j] as f64;
                assert!(
                    (got - want).abs() < 1e-5 * want.abs().max(1.0),
                    "{r},{j}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn softmax_rows_and_their_gradient_match_a_float64_reference() {
        // rows of attention width (one part per thread) and a masked entry
        let (rows, width) = (300, 143);
        let mut ys = values(rows * width, 12.0);
        ys[5 * width + 3] = -1.0e9;
        let xs = ys.clone();
        softmax_rows_in_place(&mut ys, width);
        let g0 = values(rows * width, 1.0).into_iter().rev().collect::<Vec<_>>();
        let mut gx = g0.clone();
        softmax_rows_backward_in_place(&ys, &mut gx, width);
        for r in 0..rows {
            let row = &xs[r * width..(r + 1) * width];
            let m = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64));
            let sum: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
            let y: Vec<f64> = row.iter().map(|&v| (v as f64 - m).exp() / sum).collect();
            let g = &g0[r * width..(r + 1) * width];
            let dot: f64 = y.iter().zip(g).map(|(a, &b)| a * b as f64).sum();
            for j in 0..width {
                let got = ys[r * width + j] as f64;
                assert!((got - y[j]).abs() < 1e-6, "y {r},{j}: {got} vs {}", y[j]);
                let want = y[j] * (g[j] as f64 - dot);
                let got = gx[r * width + j] as f64;
                assert!((got - want).abs() < 1e-5, "gx {r},{j}: {got} vs {want}");
            }
        }
        assert_eq!(ys[5 * width + 3], 0.0, "a masked logit gets no weight");
    }
}

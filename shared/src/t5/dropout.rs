//! Dropout whose mask costs little on the CPU.
//!
//! burn's `Dropout` draws a Bernoulli tensor element by element from a ChaCha generator and then
//! multiplies twice (mask, then `1 / keep`). On the CPU backend that drawing was a quarter of a
//! training step with dropout 0.1 (perf, `trainer bench-train --preset demo`:
//! `ElementRandom::random`, the sampler and ChaCha together 25 % of the cycles). Here the CPU mask
//! comes from a counter-based hash (SplitMix64 of the stream key and the element's index: 32 bits
//! per element), already scaled by `1 / keep`, so it is one pass to build and one multiply to
//! apply. On other devices (wgpu, CUDA) burn's own device-side random kernel draws it, as before.
//!
//! Reproducibility: the CPU masks depend only on the stream's seed and the order of the calls
//! ([`seed`], which the trainer calls once per step), not on threads or timing.

use std::sync::Mutex;

use burn::module::Module;
use burn::nn::DropoutConfig;
use burn::tensor::{Device, Distribution, Tensor, TensorData};

/// The CPU mask stream: (seed, calls since it was seeded).
static CPU_STREAM: Mutex<(u64, u64)> = Mutex::new((0, 0));

/// Seeds every dropout stream `device` draws from: the device's own RNG (burn's random kernel on
/// a GPU) and the CPU mask stream. The masks drawn after this call depend on `seed` and on their
/// order only.
pub fn seed(device: &Device, seed: u64) {
    device.seed(seed);
    seed_cpu_stream(seed);
}

fn seed_cpu_stream(seed: u64) {
    let mut stream = CPU_STREAM.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *stream = (seed, 0);
}

/// The next call's key in the CPU mask stream.
fn next_cpu_key() -> u64 {
    let mut stream = CPU_STREAM.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = splitmix64(stream.0 ^ splitmix64(stream.1));
    stream.1 += 1;
    key
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` mask values for one call: `1 / keep` with probability `keep` (to 2^-32), else 0. Element
/// `2j` takes the low and `2j + 1` the high half of draw `j`, so a value depends on the key and
/// its index only.
pub fn cpu_mask(key: u64, n: usize, keep: f64) -> Vec<f32> {
    let threshold = (keep * 4_294_967_296.0).round().min(u32::MAX as f64) as u32;
    let scale = (1.0 / keep) as f32;
    let value = |half: u32| if half < threshold { scale } else { 0.0 };
    let draw = |j: usize| splitmix64(key ^ (j as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut mask = vec![0.0f32; n];
    let mut pairs = mask.chunks_exact_mut(2);
    for (j, pair) in pairs.by_ref().enumerate() {
        let bits = draw(j);
        pair[0] = value(bits as u32);
        pair[1] = value((bits >> 32) as u32);
    }
    if let [last] = pairs.into_remainder() {
        *last = value(draw(n / 2) as u32);
    }
    mask
}

/// Zeroes each element with probability `prob` while training and scales the rest by
/// `1 / (1 - prob)`; the identity at inference. Same contract as burn's `Dropout` (it wraps one
/// for the probability and the training flag that `freeze` clears).
#[derive(Module, Debug)]
pub struct Dropout {
    inner: burn::nn::Dropout,
}

impl Dropout {
    pub fn new(prob: f64) -> Self {
        Self { inner: DropoutConfig::new(prob).init() }
    }

    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let prob = self.inner.prob;
        let device = input.device();
        // As burn's: only on a device that can take a backward pass, and only in layers that
        // take part in one.
        if !self.inner.training.is_enabled() || !device.is_autodiff() || prob == 0.0 {
            return input;
        }
        let keep = 1.0 - prob;
        if is_cpu(&device) {
            let shape = input.shape();
            let mask = cpu_mask(next_cpu_key(), shape.num_elements(), keep);
            input * Tensor::<D>::from_data(TensorData::new(mask, shape), &device)
        } else {
            let mask = input.random_like(Distribution::Bernoulli(keep));
            (input * mask).mul_scalar(1.0 / keep)
        }
    }
}

/// Whether tensors on `device` live in host memory (burn's flex backend), where a mask built on
/// the host costs nothing to hand over.
fn is_cpu(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    {
        device.clone().inner() == Device::flex()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_the_stated_share_scaled() {
        let keep = 0.9;
        let mask = cpu_mask(42, 200_000, keep);
        let kept = mask.iter().filter(|&&m| m != 0.0).count() as f64 / mask.len() as f64;
        // Binomial standard deviation at n = 2e5: 0.00067; 5 of them.
        assert!((kept - keep).abs() < 0.0034, "kept share {kept}");
        assert!(mask.iter().all(|&m| m == 0.0 || (m - 1.0 / 0.9).abs() < 1e-6));
        // The mean of the mask is 1: dropout leaves the expectation alone.
        let mean = mask.iter().map(|&m| m as f64).sum::<f64>() / mask.len() as f64;
        assert!((mean - 1.0).abs() < 0.004, "mean {mean}");
    }

    #[test]
    fn mask_is_a_function_of_key_and_index() {
        assert_eq!(cpu_mask(7, 1001, 0.5), cpu_mask(7, 1001, 0.5));
        // A prefix of a longer mask is the shorter mask: the value depends on the index only.
        assert_eq!(cpu_mask(7, 1001, 0.5)[..500], cpu_mask(7, 500, 0.5)[..]);
        let (a, b) = (cpu_mask(7, 1000, 0.5), cpu_mask(8, 1000, 0.5));
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!((400..600).contains(&same), "{same} of 1000 equal across keys");
        // Neighbouring elements (the two halves of one draw) are not correlated.
        let both = a.chunks(2).filter(|p| p[0] != 0.0 && p[1] != 0.0).count();
        // Independent halves: 500 * 0.5^2 = 125 pairs, standard deviation 9.7.
        assert!((90..160).contains(&both), "{both} of 500 pairs both kept");
    }

    #[test]
    fn stream_restarts_with_its_seed_and_moves_on_between_calls() {
        let device = Device::flex();
        seed(&device, 3);
        let (first, second) = (next_cpu_key(), next_cpu_key());
        seed(&device, 3);
        assert_eq!(next_cpu_key(), first);
        assert_ne!(first, second);
    }

    #[test]
    fn forward_drops_and_scales_on_the_cpu_and_is_identity_without_autodiff() {
        let device = Device::flex();
        let dropout = Dropout::new(0.5);
        let x = Tensor::<2>::ones([64, 64], &device);
        let same = dropout.forward(x.clone()).into_data().try_to_vec::<f32>().unwrap();
        assert!(same.iter().all(|&v| v == 1.0));

        let ad = device.autodiff();
        let y = dropout.forward(Tensor::<2>::ones([64, 64], &ad)).into_data();
        let y = y.try_to_vec::<f32>().unwrap();
        let zeros = y.iter().filter(|&&v| v == 0.0).count();
        assert!((1800..2300).contains(&zeros), "{zeros} of 4096 dropped at p = 0.5");
        assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
    }
}

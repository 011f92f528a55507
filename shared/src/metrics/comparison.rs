//! Comparing two models on the same users (e.g. a q8_0 bundle against its f32 original): how
//! far their top-k lists agree, and a paired bootstrap of a per-user metric's difference.

use std::collections::HashSet;

use rand::Rng;
use serde::Serialize;

use crate::error::{Result, Vip5Error};

/// The share of the items in the first `k` of each list of `a` that are also in the first `k` of
/// the matching list of `b` (1.0 when every top-k list holds the same items, in any order).
pub fn top_k_agreement(a: &[Vec<u32>], b: &[Vec<u32>], k: usize) -> Result<f64> {
    if a.len() != b.len() {
        return Err(Vip5Error::Input(format!(
            "{} lists against {}: compare the same users",
            a.len(),
            b.len()
        )));
    }
    let (mut shared, mut total) = (0usize, 0usize);
    for (x, y) in a.iter().zip(b) {
        let y: HashSet<u32> = y.iter().take(k).copied().collect();
        for item in x.iter().take(k) {
            total += 1;
            shared += usize::from(y.contains(item));
        }
    }
    if total == 0 {
        return Err(Vip5Error::Input("no items to compare".into()));
    }
    Ok(shared as f64 / total as f64)
}

/// A paired bootstrap of the difference of two per-user metrics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairedBootstrap {
    /// mean(b) - mean(a) on the users as given.
    pub difference: f64,
    /// The 2.5 % and 97.5 % quantiles of the resampled differences.
    pub low: f64,
    pub high: f64,
    pub resamples: usize,
}

impl PairedBootstrap {
    /// True when the 95 % interval holds 0: the difference is within the noise of these users.
    pub fn is_noise(&self) -> bool {
        self.low <= 0.0 && 0.0 <= self.high
    }
}

/// Resamples users with replacement `resamples` times and returns the observed difference of
/// means (b - a) with its 95 % percentile interval. Users stay paired: each draw takes both
/// models' values of the same user.
pub fn paired_bootstrap<R: Rng + ?Sized>(
    a: &[f64],
    b: &[f64],
    resamples: usize,
    rng: &mut R,
) -> Result<PairedBootstrap> {
    if a.len() != b.len() || a.is_empty() {
        return Err(Vip5Error::Input(format!(
            "paired bootstrap needs two equal, non-empty lists ({} and {})",
            a.len(),
            b.len()
        )));
    }
    if resamples == 0 {
        return Err(Vip5Error::Input("paired bootstrap needs at least one resample".into()));
    }
    let n = a.len();
    let diffs: Vec<f64> = b.iter().zip(a).map(|(y, x)| y - x).collect();
    let difference = diffs.iter().sum::<f64>() / n as f64;
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| diffs[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(|x, y| x.total_cmp(y));
    let quantile = |q: f64| means[((q * resamples as f64).floor() as usize).min(resamples - 1)];
    Ok(PairedBootstrap { difference, low: quantile(0.025), high: quantile(0.975), resamples })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_agreement_by_hand() {
        let a = vec![vec![1, 2, 3, 9], vec![4, 5, 6]];
        let b = vec![vec![3, 2, 7], vec![6, 5, 4]];
        // k = 3: {1,2,3} vs {3,2,7} share 2; {4,5,6} vs {6,5,4} share 3 -> 5 / 6.
        assert!((top_k_agreement(&a, &b, 3).unwrap() - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(top_k_agreement(&a, &a, 10).unwrap(), 1.0);
        assert!(top_k_agreement(&a, &b[..1], 3).is_err());
    }

    #[test]
    fn paired_bootstrap_separates_noise_from_a_shift() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        // Identical models: every difference is 0.
        let a: Vec<f64> = (0..200).map(|i| (i % 3) as f64).collect();
        let same = paired_bootstrap(&a, &a, 500, &mut rng).unwrap();
        assert_eq!((same.difference, same.low, same.high), (0.0, 0.0, 0.0));
        assert!(same.is_noise());
        // b wins on 150 of 200 users by 1: a clear shift of 0.75, interval away from 0.
        let b: Vec<f64> = a.iter().enumerate().map(|(i, x)| x + f64::from(i % 4 != 0)).collect();
        let shift = paired_bootstrap(&a, &b, 500, &mut rng).unwrap();
        assert!((shift.difference - 0.75).abs() < 1e-12);
        assert!(shift.low > 0.6 && shift.high < 0.9 && !shift.is_noise(), "{shift:?}");
        // Symmetric +-1 swaps: mean 0, interval around it.
        let c: Vec<f64> =
            a.iter().enumerate().map(|(i, x)| x + if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let noise = paired_bootstrap(&a, &c, 500, &mut rng).unwrap();
        assert!(noise.is_noise() && noise.low < -0.05 && noise.high > 0.05, "{noise:?}");
    }
}

//! Item vectors from the training co-occurrence, to start a model's item embeddings from.
//!
//! Items bought close together in the training parts get a positive pointwise mutual
//! information (PPMI, with the context distribution smoothed by `^0.75`, as word vectors do); a
//! rank-`dim` eigendecomposition of that symmetric matrix (randomized range finder with power
//! iterations, then Jacobi on the small projected matrix) gives each item the vector
//! `U_i * sqrt(lambda)`, so that dot products approximate the PPMI. A one-token-per-item model
//! whose embeddings start there begins knowing which items go together and learns the rest;
//! from random embeddings it first has to discover that from one-hot targets.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::data::counts::ItemCounts;
use crate::error::{Result, Vip5Error};

/// How the factorisation is computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FactorParams {
    /// Columns beyond `dim` in the random range finder.
    pub oversample: usize,
    /// Power iterations (sharpen the range towards the top eigenvectors).
    pub power_iterations: usize,
    /// Root mean square of the returned entries (N(0,1) tables have 1).
    pub rms: f64,
    pub seed: u64,
}

impl Default for FactorParams {
    fn default() -> Self {
        Self { oversample: 16, power_iterations: 3, rms: 1.0, seed: 2022 }
    }
}

/// A square sparse matrix in compressed rows.
struct Csr {
    n: usize,
    rows: Vec<Vec<(usize, f64)>>,
}

impl Csr {
    /// `out = A y` for a row-major `n x l` block.
    fn mul(&self, y: &[f64], l: usize) -> Vec<f64> {
        let mut out = vec![0.0; self.n * l];
        for (i, row) in self.rows.iter().enumerate() {
            let o = &mut out[i * l..(i + 1) * l];
            for &(j, v) in row {
                for (a, b) in o.iter_mut().zip(&y[j * l..(j + 1) * l]) {
                    *a += v * b;
                }
            }
        }
        out
    }
}

/// The PPMI matrix of items 1..=`num_items` (row i-1 for item i) from the windowed
/// co-occurrence rows of `counts` (sorted by neighbour, so every sum runs in one fixed order and
/// the factors are the same bits in every process).
fn ppmi(counts: &ItemCounts, num_items: usize) -> Result<Csr> {
    let mut rows_in: Vec<Vec<(usize, f64)>> = vec![Vec::new(); num_items];
    for (a, row) in counts.cooccurrence() {
        rows_in[index(a, num_items)?] =
            row.iter().map(|&(b, c)| Ok((index(b, num_items)?, c))).collect::<Result<_>>()?;
    }
    let row_sums: Vec<f64> = rows_in.iter().map(|r| r.iter().map(|&(_, c)| c).sum()).collect();
    let total: f64 = row_sums.iter().sum();
    let smoothed: Vec<f64> = row_sums.iter().map(|r| r.powf(0.75)).collect();
    let smoothed_total: f64 = smoothed.iter().sum();
    let rows = rows_in
        .into_iter()
        .enumerate()
        .map(|(a, row)| {
            row.into_iter()
                .filter_map(|(b, c)| {
                    let pmi = (c / total).ln()
                        - (row_sums[a] / total).ln()
                        - (smoothed[b] / smoothed_total).ln();
                    (pmi > 0.0).then_some((b, pmi))
                })
                .collect()
        })
        .collect();
    Ok(Csr { n: num_items, rows })
}

fn index(item: u32, num_items: usize) -> Result<usize> {
    match item as usize {
        0 => Err(Vip5Error::Input("item ids start at 1".into())),
        i if i > num_items => Err(Vip5Error::Input(format!("item {i} is outside 1..={num_items}"))),
        i => Ok(i - 1),
    }
}

/// Orthonormalises the columns of a row-major `n x l` block in place (modified Gram-Schmidt,
/// twice for stability). A column that vanishes is left at zero.
fn orthonormalise(y: &mut [f64], n: usize, l: usize) {
    for _ in 0..2 {
        for c in 0..l {
            for p in 0..c {
                let dot: f64 = (0..n).map(|i| y[i * l + c] * y[i * l + p]).sum();
                for i in 0..n {
                    y[i * l + c] -= dot * y[i * l + p];
                }
            }
            let norm = (0..n).map(|i| y[i * l + c] * y[i * l + c]).sum::<f64>().sqrt();
            let scale = if norm > 1e-12 { 1.0 / norm } else { 0.0 };
            for i in 0..n {
                y[i * l + c] *= scale;
            }
        }
    }
}

/// Eigenvalues and eigenvectors (columns of the returned row-major matrix) of a symmetric
/// `l x l` matrix by cyclic Jacobi rotations.
fn jacobi_eigen(mut a: Vec<f64>, l: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; l * l];
    for i in 0..l {
        v[i * l + i] = 1.0;
    }
    for _sweep in 0..60 {
        let off: f64 = (0..l)
            .flat_map(|i| (0..l).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * l + j].powi(2))
            .sum();
        let diag: f64 = (0..l).map(|i| a[i * l + i].powi(2)).sum();
        if off <= 1e-22 * diag.max(1e-300) {
            break;
        }
        for p in 0..l {
            for q in p + 1..l {
                let apq = a[p * l + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * l + q] - a[p * l + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..l {
                    let (akp, akq) = (a[k * l + p], a[k * l + q]);
                    a[k * l + p] = c * akp - s * akq;
                    a[k * l + q] = s * akp + c * akq;
                }
                for k in 0..l {
                    let (apk, aqk) = (a[p * l + k], a[q * l + k]);
                    a[p * l + k] = c * apk - s * aqk;
                    a[q * l + k] = s * apk + c * aqk;
                }
                for k in 0..l {
                    let (vkp, vkq) = (v[k * l + p], v[k * l + q]);
                    v[k * l + p] = c * vkp - s * vkq;
                    v[k * l + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..l).map(|i| a[i * l + i]).collect(), v)
}

fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Row-major `num_items x dim` item vectors (row i-1 for item i) from the windowed
/// co-occurrence of `counts` (fit them on training parts only: validation and test targets stay
/// out). Items that never co-occur get a seeded N(0,1) row scaled to the same `rms`.
pub fn item_factors(
    counts: &ItemCounts,
    num_items: usize,
    dim: usize,
    params: FactorParams,
) -> Result<Vec<f32>> {
    if num_items == 0 || dim == 0 {
        return Err(Vip5Error::Input(
            "item factors need at least one item and one dimension".into(),
        ));
    }
    let a = ppmi(counts, num_items)?;
    let n = num_items;
    let l = (dim + params.oversample).min(n);
    let mut rng = StdRng::seed_from_u64(params.seed);
    let mut y: Vec<f64> = (0..n * l).map(|_| standard_normal(&mut rng)).collect();
    y = a.mul(&y, l);
    for _ in 0..params.power_iterations {
        orthonormalise(&mut y, n, l);
        y = a.mul(&y, l);
    }
    orthonormalise(&mut y, n, l);
    let z = a.mul(&y, l);
    // B = Q^T A Q (l x l), symmetrised against rounding.
    let mut b = vec![0.0; l * l];
    for i in 0..n {
        for r in 0..l {
            let q = y[i * l + r];
            if q != 0.0 {
                for c in 0..l {
                    b[r * l + c] += q * z[i * l + c];
                }
            }
        }
    }
    for r in 0..l {
        for c in r + 1..l {
            let m = 0.5 * (b[r * l + c] + b[c * l + r]);
            b[r * l + c] = m;
            b[c * l + r] = m;
        }
    }
    let (values, vectors) = jacobi_eigen(b, l);
    let mut order: Vec<usize> = (0..l).collect();
    order.sort_by(|&i, &j| values[j].total_cmp(&values[i]));
    let kept: Vec<usize> = order.into_iter().take(dim).collect();
    let mut out = vec![0.0f64; n * dim];
    for i in 0..n {
        for (d, &e) in kept.iter().enumerate() {
            let u: f64 = (0..l).map(|r| y[i * l + r] * vectors[r * l + e]).sum();
            out[i * dim + d] = u * values[e].max(0.0).sqrt();
        }
    }
    let signal: Vec<bool> = (0..n).map(|i| !a.rows[i].is_empty()).collect();
    let (sum_sq, count) = (0..n).filter(|&i| signal[i]).fold((0.0, 0usize), |(s, c), i| {
        (s + out[i * dim..(i + 1) * dim].iter().map(|x| x * x).sum::<f64>(), c + dim)
    });
    let scale = if sum_sq > 0.0 { params.rms / (sum_sq / count as f64).sqrt() } else { 0.0 };
    Ok((0..n)
        .flat_map(|i| {
            let row: Vec<f32> = if signal[i] {
                out[i * dim..(i + 1) * dim].iter().map(|x| (x * scale) as f32).collect()
            } else {
                (0..dim).map(|_| (standard_normal(&mut rng) * params.rms) as f32).collect()
            };
            row
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::counts::CountParams;

    #[test]
    fn jacobi_diagonalises_a_symmetric_matrix() {
        let a = vec![4.0, 1.0, 2.0, 1.0, 3.0, 0.5, 2.0, 0.5, 1.0];
        let (values, v) = jacobi_eigen(a.clone(), 3);
        // A v_e = lambda_e v_e for every column e
        for e in 0..3 {
            for i in 0..3 {
                let av: f64 = (0..3).map(|k| a[i * 3 + k] * v[k * 3 + e]).sum();
                assert!((av - values[e] * v[i * 3 + e]).abs() < 1e-9);
            }
        }
        let trace: f64 = values.iter().sum();
        assert!((trace - 8.0).abs() < 1e-9);
    }

    #[test]
    fn items_bought_together_get_close_vectors() {
        // Two product lines that never mix: 1..=4 and 5..=8, plus item 9 never co-occurring.
        let mut parts: Vec<Vec<u32>> = Vec::new();
        for k in 0..40u32 {
            parts.push(vec![1 + k % 4, 1 + (k + 1) % 4, 1 + (k + 2) % 4]);
            parts.push(vec![5 + k % 4, 5 + (k + 1) % 4, 5 + (k + 2) % 4]);
        }
        let counts = ItemCounts::fit_parts(parts.iter().map(Vec::as_slice), CountParams::default());
        let f =
            item_factors(&counts, 9, 4, FactorParams { oversample: 4, ..FactorParams::default() })
                .unwrap();
        let row = |i: usize| &f[(i - 1) * 4..i * 4];
        let cos = |a: &[f32], b: &[f32]| {
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
            let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
            dot / (na * nb)
        };
        assert!(cos(row(1), row(2)) > 0.5, "same line: {}", cos(row(1), row(2)));
        assert!(cos(row(1), row(6)).abs() < 0.2, "other line: {}", cos(row(1), row(6)));
        assert!(
            row(9).iter().any(|&x| x != 0.0),
            "an item with no co-occurrence still gets a random row"
        );
        let outside = ItemCounts::fit_parts([&[10u32][..]], CountParams::default());
        assert!(item_factors(&outside, 9, 4, FactorParams::default()).is_err());
        // the same bits every time (training runs and their resumes rebuild it)
        let again = ItemCounts::fit_parts(parts.iter().map(Vec::as_slice), CountParams::default());
        assert_eq!(
            f,
            item_factors(&again, 9, 4, FactorParams { oversample: 4, ..FactorParams::default() })
                .unwrap()
        );
    }
}

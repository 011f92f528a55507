//! The cross-entropy of each row of logits against its label, optionally mixed with soft targets:
//! the core of every loss here.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};

pub use super::host_math::SoftMix;
use crate::{Result, Vip5Error};

/// `logsumexp(row) - row[label]` for each row of `logits` `[rows, vocab]`: the cross-entropy of
/// each row against its label. Errors when the labels do not give one valid index per row.
pub fn nll_rows(logits: Tensor<2>, labels: &[u32]) -> Result<Tensor<1>> {
    cross_entropy_rows(logits, labels, None)
}

/// The cross-entropy of each row of `logits` `[rows, vocab]` against its label, mixed with
/// `soft` targets where given. On the CPU backend one fused, vectorised pass forward and one
/// backward (`nn::host_ops`; burn's log-softmax with a gather takes about fifteen passes over the
/// `rows x vocab` values there, with a libm `exp` per value); elsewhere burn's `log_softmax`.
/// Errors when the labels or the soft targets do not fit the logits.
pub fn cross_entropy_rows(
    logits: Tensor<2>,
    labels: &[u32],
    soft: Option<SoftMix>,
) -> Result<Tensor<1>> {
    let [rows, vocab] = logits.dims();
    if labels.len() != rows {
        return Err(Vip5Error::Input(format!("{} labels for {rows} rows of logits", labels.len())));
    }
    if let Some(bad) = labels.iter().find(|&&l| l as usize >= vocab) {
        return Err(Vip5Error::Input(format!(
            "label {bad} is outside the {vocab} columns of the logits"
        )));
    }
    if let Some(s) = soft
        && (s.probs.len() != rows * vocab || s.weight.len() != rows)
    {
        return Err(Vip5Error::Input(format!(
            "soft targets of {} probabilities and {} weights for {rows} x {vocab} logits",
            s.probs.len(),
            s.weight.len()
        )));
    }
    #[cfg(feature = "flex")]
    let logits = match super::host_ops::try_cross_entropy_rows(logits, labels, soft) {
        Ok(loss) => return Ok(loss),
        Err(logits) => logits,
    };
    let device = logits.device();
    let ids: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [rows, 1]), &device);
    let log_probs = log_softmax(logits, 1);
    let hard = log_probs.clone().gather(1, ids).reshape([rows]).neg();
    Ok(match soft {
        None => hard,
        Some(s) => {
            let q =
                Tensor::<2>::from_data(TensorData::new(s.probs.to_vec(), [rows, vocab]), &device);
            let w = Tensor::<1>::from_data(TensorData::new(s.weight.to_vec(), [rows]), &device);
            let soft_ce = (log_probs * q).sum_dim(1).reshape([rows]).neg();
            hard * w.clone().neg().add_scalar(1.0) + soft_ce * w
        }
    })
}

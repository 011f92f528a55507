//! The building blocks that both the T5 backbone (`t5/`) and the parts VIP5 adds (adapters, the
//! visual mapping, the batches' masks) use, below both of them.

pub mod activation;
pub mod cross_entropy;
pub mod host_math;
#[cfg(feature = "flex")]
mod host_matmul;
#[cfg(feature = "flex")]
mod host_ops;
pub mod host_pool;
pub mod linear;
pub mod norm;

/// Additive value for masked attention logits. Large enough that `exp` underflows to 0 exactly,
/// small enough that adding a position bias never overflows on any backend.
pub const MASK_VALUE: f32 = -1.0e9;

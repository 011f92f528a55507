//! The library's error type.

use thiserror::Error;

/// Errors from building, loading or running a VIP5 model.
#[derive(Debug, Error)]
pub enum Vip5Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("weights: {0}")]
    Weights(String),
    #[error(
        "tensor `{name}` is missing from the checkpoint (the module expects shape {expected:?})"
    )]
    MissingTensor { name: String, expected: Vec<usize> },
    #[error(
        "tensor `{name}` has shape {found:?} in the checkpoint, but the module expects {expected:?}"
    )]
    ShapeMismatch { name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("invalid input: {0}")]
    Input(String),
    #[error("bundle: {0}")]
    Bundle(String),
    #[error("backend: {0}")]
    Backend(String),
}

pub type Result<T, E = Vip5Error> = std::result::Result<T, E>;

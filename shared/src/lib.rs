//! VIP5 (Visual P5) for every burn device: a T5 encoder-decoder whose prompts carry CLIP visual
//! tokens, with parameter-efficient adapters (Geng et al., 2023).
//!
//! This crate is pure: bytes in, values out. It does no file or network I/O and never reads a
//! tensor back synchronously on its own, so the same code runs in the trainer and in a browser.

pub mod adapter;
pub mod batch;
pub mod bundle;
pub mod clip;
pub mod config;
pub mod data;
pub mod decode;
pub mod error;
pub mod evaluation;
pub mod gguf;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod nn;
pub mod prompt;
pub mod quant;
pub mod recommend;
pub mod t5;
pub mod trace;
pub mod trie;
pub mod visual;
pub mod weights;

pub use adapter::Task;
pub use batch::{EncoderBatch, EncoderSample, EncoderTensors, TargetBatch};
pub use config::{FeedForward, TrainMode, Vip5Config};
pub use error::{Result, Vip5Error};
pub use model::{ParamCounts, Vip5Model};

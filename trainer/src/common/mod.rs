//! What the trainer's commands share: files, devices, the prepared data folder, model loading and
//! the process. A command depends on this layer and on the `vip5` core, never on another command.

pub mod device;
pub mod features_file;
pub mod files;
pub mod model_files;
pub mod prepared;
pub mod process;

use serde::{Deserialize, Serialize};
use vip5::TrainMode;

/// The t5-small tokenizer shipped in `data/`.
pub const TOKENIZER_JSON: &[u8] =
    include_bytes!("../../../data/tokenizers/t5-small/tokenizer.json");

/// Which parameters train (`--mode` of `train`, `bench-train` and `info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub enum ModeArg {
    /// VIP5: adapters, visual mapping and norm gains train; the backbone is frozen.
    Adapters,
    /// P5-style full fine-tuning of every parameter.
    Full,
    /// Full training of a randomly initialised backbone (no pretrained T5 needed).
    Scratch,
}

impl ModeArg {
    /// The model's view: from scratch and fine-tuning train the same parameters.
    pub fn train_mode(self) -> TrainMode {
        match self {
            ModeArg::Adapters => TrainMode::Adapters,
            ModeArg::Full | ModeArg::Scratch => TrainMode::Full,
        }
    }
}

/// A well-spread 64-bit hash of three numbers (SplitMix64 finaliser over their combination): the
/// seeds of everything drawn per (run, epoch, sample) or per (run, user), so any one of them can
/// be rebuilt without replaying the others.
pub fn mix(a: u64, b: u64, c: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ c.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

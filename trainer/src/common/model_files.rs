//! Reading a model the way every command does: a training output folder, a `model.safetensors`
//! with its `config.json` (ours or Hugging Face's), or a `.gguf` bundle; and writing the
//! training output folder `trainer train` leaves.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use burn::module::Module;
use burn::tensor::Device;
use vip5::bundle::Bundle;
use vip5::weights::{NamedTensor, read_safetensors};
use vip5::{Vip5Config, Vip5Model};

use super::files::write_atomic;

/// Loads a model from a training output folder, a `model.safetensors` (config.json beside it; ours
/// or Hugging Face's), or a `.gguf` bundle.
pub fn load_model(path: &Path, device: &Device) -> Result<(Vip5Config, Vip5Model)> {
    if path.extension().is_some_and(|e| e == "gguf") {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let bundle =
            Bundle::from_bytes(&bytes).with_context(|| format!("reading {}", path.display()))?;
        let (model, cfg) =
            bundle.load_model(device).with_context(|| format!("loading {}", path.display()))?;
        return Ok((cfg, model));
    }
    let (cfg, tensors) = read_checkpoint(path)?;
    let (model, _) = vip5::weights::load_checkpoint(Vip5Model::new(&cfg, device), tensors, &cfg)
        .with_context(|| format!("loading {}", path.display()))?;
    Ok((cfg, model))
}

/// The config and tensors of a training output folder or a `model.safetensors` file.
fn read_checkpoint(path: &Path) -> Result<(Vip5Config, BTreeMap<String, NamedTensor>)> {
    let (weights, config) = if path.is_dir() {
        (path.join("model.safetensors"), path.join("config.json"))
    } else {
        (path.to_path_buf(), path.with_file_name("config.json"))
    };
    let cfg_text = std::fs::read_to_string(&config)
        .with_context(|| format!("reading {}", config.display()))?;
    // Our own config.json, or a Hugging Face one.
    let cfg: Vip5Config = match serde_json::from_str(&cfg_text) {
        Ok(c) => c,
        Err(_) => Vip5Config::from_hf_json(&cfg_text)
            .with_context(|| format!("reading {}", config.display()))?,
    };
    let bytes =
        std::fs::read(&weights).with_context(|| format!("reading {}", weights.display()))?;
    let tensors =
        read_safetensors(&bytes).with_context(|| format!("reading {}", weights.display()))?;
    Ok((cfg, tensors))
}

/// Writes `model`'s inference weights and `cfg` as a training output folder `dir`
/// (`model.safetensors` + `config.json`, each atomically), the layout [`load_model`] reads.
pub fn write_model_folder(dir: &Path, model: &Vip5Model, cfg: &Vip5Config) -> Result<()> {
    write_atomic(
        &dir.join("model.safetensors"),
        &vip5::weights::save_safetensors(&model.valid())?,
    )?;
    write_atomic(&dir.join("config.json"), &serde_json::to_vec_pretty(cfg)?)
}

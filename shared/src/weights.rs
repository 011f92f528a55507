//! Loading and saving weights by their Hugging Face / original VIP5 tensor names.
//!
//! The module tree mirrors HF's names, so a checkpoint maps onto it with no renaming table: burn's
//! PyTorch adapter only transposes `Linear` weights (PyTorch stores `[out, in]`). Everything here
//! works on bytes, so the same code runs natively and in the browser.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::tensor::TensorData;
use burn_store::{
    BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore, bridge,
};
use safetensors::{Dtype, SafeTensors};

use crate::config::Vip5Config;
use crate::error::{Result, Vip5Error};
use crate::model::Vip5Model;

/// A named f32 tensor read from a checkpoint.
#[derive(Debug, Clone)]
pub struct NamedTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// What a load did.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Tensors copied into the model.
    pub loaded: usize,
    /// VIP5 parts (adapters, visual mapping, whole-word/category tables) absent from the
    /// checkpoint and left at their initialisation, as when starting VIP5 from plain t5-small.
    pub initialised: Vec<String>,
    /// Checkpoint tensors the model has no slot for (e.g. a tied `lm_head.weight`, or the extra
    /// task-adapter names of a shared adapter in an original VIP5 checkpoint).
    pub unused: Vec<String>,
    /// Embedding rows dropped to fit the model's vocabulary (t5-small ships 32,128 rows; VIP5 uses
    /// 32,100).
    pub truncated_vocab_rows: usize,
}

/// Reads every floating-point tensor of a safetensors file (F32, F16 or BF16) as f32.
pub fn read_safetensors(bytes: &[u8]) -> Result<BTreeMap<String, NamedTensor>> {
    read_safetensors_filtered(bytes, |_| true)
}

/// Reads the floating-point tensors whose names `keep` accepts (e.g. CLIP's vision tower out of a
/// full CLIP checkpoint), as f32.
pub fn read_safetensors_filtered(
    bytes: &[u8],
    keep: impl Fn(&str) -> bool,
) -> Result<BTreeMap<String, NamedTensor>> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Vip5Error::Weights(format!("not a readable safetensors file: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        if !keep(&name) {
            continue;
        }
        let raw = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => {
                raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
            }
            Dtype::F16 => raw
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => raw
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            // Integer tensors (e.g. position ids in some exports) are not weights.
            _ => continue,
        };
        out.insert(name, NamedTensor { shape: view.shape().to_vec(), data });
    }
    Ok(out)
}

/// True for the parts VIP5 adds to T5: they may be absent from a backbone checkpoint.
pub fn is_vip5_part(name: &str) -> bool {
    crate::model::ParamRole::of(name).is_vip5_part()
}

/// The module's own tensor names and shapes, in PyTorch layout (what a checkpoint must hold).
pub fn expected_tensors<M: Module>(model: &M) -> BTreeMap<String, Vec<usize>> {
    model
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
        .into_iter()
        .map(|t| (t.name.clone(), t.shape.to_vec()))
        .collect()
}

/// Loads a Hugging Face (`t5-small`'s `model.safetensors`, T5 v1.1, FLAN-T5) or VIP5 checkpoint
/// into `model` by tensor name. Backbone tensors must all be present with the right shapes; VIP5
/// parts keep their initialisation when absent. Embedding tables with more rows than the
/// vocabulary keep the first `vocab_size` rows (VIP5's resize).
pub fn load_checkpoint(
    model: Vip5Model,
    tensors: BTreeMap<String, NamedTensor>,
    cfg: &Vip5Config,
) -> Result<(Vip5Model, LoadReport)> {
    let mut tensors = tensors;
    let mut truncated_vocab_rows = 0;
    // HF stores the tied table as `shared.weight`; some exports only keep the stack aliases.
    if !tensors.contains_key("shared.weight")
        && let Some(t) = tensors.get("encoder.embed_tokens.weight").cloned()
    {
        tensors.insert("shared.weight".into(), t);
    }
    tensors.remove("encoder.embed_tokens.weight");
    tensors.remove("decoder.embed_tokens.weight");
    for name in ["shared.weight", "lm_head.weight"] {
        if let Some(t) = tensors.get_mut(name)
            && t.shape.len() == 2
            && t.shape[0] > cfg.vocab_size
        {
            truncated_vocab_rows = t.shape[0] - cfg.vocab_size;
            t.data.truncate(cfg.vocab_size * t.shape[1]);
            t.shape[0] = cfg.vocab_size;
        }
    }

    let (model, mut report) = apply_checkpoint(model, tensors, is_vip5_part)?;
    report.truncated_vocab_rows = truncated_vocab_rows;
    Ok((model, report))
}

/// Applies named tensors (PyTorch layout) to any module by path. Every tensor the module has
/// must be present with its shape, except those `may_be_absent` accepts (they keep their init).
/// Checkpoint tensors the module has no slot for are reported, not loaded.
pub fn apply_checkpoint<M: Module>(
    mut module: M,
    tensors: BTreeMap<String, NamedTensor>,
    may_be_absent: impl Fn(&str) -> bool,
) -> Result<(M, LoadReport)> {
    let mut report = LoadReport::default();
    let expected = expected_tensors(&module);
    for (name, shape) in &expected {
        match tensors.get(name) {
            None if may_be_absent(name) => report.initialised.push(name.clone()),
            None => {
                return Err(Vip5Error::MissingTensor {
                    name: name.clone(),
                    expected: shape.clone(),
                });
            }
            Some(t) if &t.shape != shape => {
                return Err(Vip5Error::ShapeMismatch {
                    name: name.clone(),
                    expected: shape.clone(),
                    found: t.shape.clone(),
                });
            }
            Some(_) => {}
        }
    }
    report.unused = tensors.keys().filter(|k| !expected.contains_key(*k)).cloned().collect();

    let packs: Vec<_> = tensors
        .into_iter()
        .filter(|(name, _)| expected.contains_key(name))
        .map(|(name, t)| bridge::from_data(TensorData::new(t.data, t.shape), name, None))
        .collect();
    let result = module.apply(packs, None, Some(Box::new(PyTorchToBurnAdapter)), true);
    if let Some(err) = result.errors.first() {
        return Err(Vip5Error::Weights(format!("applying the checkpoint failed: {err:?}")));
    }
    report.loaded = result.applied.len();
    Ok((module, report))
}

/// Loads safetensors bytes (see [`load_checkpoint`]).
pub fn load_safetensors(
    model: Vip5Model,
    bytes: &[u8],
    cfg: &Vip5Config,
) -> Result<(Vip5Model, LoadReport)> {
    load_checkpoint(model, read_safetensors(bytes)?, cfg)
}

/// The model as safetensors bytes with HF / VIP5 names and PyTorch layouts, loadable by
/// [`load_safetensors`] and by PyTorch.
pub fn save_safetensors<M: Module>(model: &M) -> Result<Vec<u8>> {
    let mut store = SafetensorsStore::from_bytes(None)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true);
    model
        .save_into(&mut store)
        .map_err(|e| Vip5Error::Weights(format!("serialising the model: {e}")))?;
    store.get_bytes().map_err(|e| Vip5Error::Weights(format!("serialising the model: {e}")))
}

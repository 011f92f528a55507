//! The image-features file `trainer features` writes and `trainer prepare` reads: one
//! safetensors file, a 1-d f32 tensor per item key (ASIN/SKU).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::files::write_atomic;

/// Features keyed by item id.
pub type FeatureMap = BTreeMap<String, Vec<f32>>;

/// Reads a features file written by this command.
pub fn read_features(path: &Path) -> Result<FeatureMap> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let tensors = vip5::weights::read_safetensors(&bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(tensors.into_iter().map(|(k, t)| (k, t.data)).collect())
}

/// Writes the map atomically (a temporary file, then a rename): an interrupted run never leaves
/// a corrupt file, so it can always resume.
pub fn write_features(path: &Path, features: &FeatureMap) -> Result<()> {
    let bytes: Vec<(&String, Vec<u8>)> =
        features.iter().map(|(k, v)| (k, f32_le_bytes(v))).collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(k, b)| Ok(((*k).clone(), TensorView::new(Dtype::F32, vec![b.len() / 4], b)?)))
        .collect::<Result<_, safetensors::SafeTensorError>>()?;
    write_atomic(path, &safetensors::serialize(views, None)?)
}

/// f32 values as the little-endian bytes safetensors stores.
pub fn f32_le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

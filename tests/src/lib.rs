//! Helpers shared by the cross-crate tests: fixture loading, devices, tolerant comparisons.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::tensor::{Device, Tensor};
use safetensors::{Dtype, SafeTensors};
use vip5::batch::{EncoderBatch, EncoderSample};
use vip5::weights::load_safetensors;
use vip5::{Vip5Config, Vip5Model};

/// `tests/fixtures/<name>`.
pub fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// Reads a fixture file; panics with the path when it is missing (fixtures are committed).
pub fn read_fixture(name: &str, file: &str) -> Vec<u8> {
    let path = fixture_dir(name).join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// A reference array from a fixture.
#[derive(Debug, Clone)]
pub struct Array {
    pub shape: Vec<usize>,
    pub f32: Vec<f32>,
    pub i64: Vec<i64>,
}

impl Array {
    /// Row `r` of a 2-D integer array as u32 token ids.
    pub fn row_u32(&self, r: usize) -> Vec<u32> {
        let n = self.shape[1];
        self.i64[r * n..(r + 1) * n].iter().map(|&x| x as u32).collect()
    }
}

/// All arrays of a fixture's `outputs.safetensors` (f32 and i64).
pub fn load_outputs(name: &str) -> BTreeMap<String, Array> {
    load_arrays(name, "outputs.safetensors")
}

/// All arrays (f32 and i64) of a safetensors fixture file.
pub fn load_arrays(name: &str, file: &str) -> BTreeMap<String, Array> {
    let bytes = read_fixture(name, file);
    let st = SafeTensors::deserialize(&bytes).expect("fixture outputs are a safetensors file");
    st.tensors()
        .into_iter()
        .map(|(k, v)| {
            let raw = v.data();
            let mut a = Array { shape: v.shape().to_vec(), f32: vec![], i64: vec![] };
            match v.dtype() {
                Dtype::F32 => {
                    a.f32 = raw
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                        .collect()
                }
                Dtype::I64 => {
                    a.i64 = raw
                        .chunks_exact(8)
                        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                        .collect()
                }
                other => panic!("fixture {name}/{k}: unexpected dtype {other:?}"),
            }
            (k, a)
        })
        .collect()
}

/// The CPU device.
pub fn flex() -> Device {
    Device::flex()
}

/// The wgpu device (lavapipe on a machine without a GPU). Tests that use it fail, rather than
/// skip, when no adapter exists: CI installs `mesa-vulkan-drivers` so one always does.
pub fn wgpu() -> Device {
    Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)
}

/// Reads a tensor back (native only) as f32.
pub fn to_vec<const D: usize>(t: Tensor<D>) -> (Vec<usize>, Vec<f32>) {
    let dims = t.dims().to_vec();
    let data = t.into_data().convert::<f32>().try_to_vec::<f32>().expect("f32 data");
    (dims, data)
}

/// Largest absolute difference; panics on shape mismatch.
pub fn max_abs_diff(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

/// Asserts `got` equals the reference within `tol` (absolute), naming the worst element.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: {} values, reference has {}", got.len(), want.len());
    let (mut worst, mut at) = (0.0f32, 0usize);
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let d = (a - b).abs();
        // `!(d <= worst)`, not `d > worst`: a NaN difference counts as the worst.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(d <= worst) {
            worst = d;
            at = i;
        }
    }
    assert!(
        worst <= tol,
        "{what}: max |diff| {worst:e} at {at} (got {}, want {}) exceeds {tol:e}",
        got[at],
        want[at]
    );
}

/// A fixture's model (config.json + model.safetensors) on `device`; every tensor must load.
pub fn fixture_model(name: &str, device: &Device) -> (Vip5Config, Vip5Model) {
    let json = String::from_utf8(read_fixture(name, "config.json")).expect("utf-8 config");
    let cfg = Vip5Config::from_hf_json(&json).expect("fixture config");
    let model = Vip5Model::new(&cfg, device);
    let (model, report) =
        load_safetensors(model, &read_fixture(name, "model.safetensors"), &cfg).expect("load");
    assert!(
        report.initialised.is_empty(),
        "{name}: tensors left at init: {:?}",
        report.initialised
    );
    assert!(report.unused.is_empty(), "{name}: unused tensors: {:?}", report.unused);
    (cfg, model)
}

/// The encoder inputs stored in a fixture's outputs (token ids, whole-word ids, image features).
pub fn fixture_encoder_batch(outputs: &BTreeMap<String, Array>, cfg: &Vip5Config) -> EncoderBatch {
    let ids = &outputs["input_ids"];
    let (batch, len) = (ids.shape[0], ids.shape[1]);
    let whole = outputs.get("whole_word_ids");
    let feats = outputs.get("vis_feats");
    let samples: Vec<EncoderSample> = (0..batch)
        .map(|b| EncoderSample {
            input_ids: ids.row_u32(b),
            whole_word_ids: whole.map(|w| w.row_u32(b)).unwrap_or_else(|| vec![0; len]),
            vis_feats: feats
                .map(|f| {
                    let (v, d) = (f.shape[1], f.shape[2]);
                    (0..v).map(|j| f.f32[(b * v + j) * d..(b * v + j + 1) * d].to_vec()).collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    EncoderBatch::new(&samples, cfg).expect("fixture batch")
}

/// Teacher-forced logits of one fixed prompt (two visual tokens, one image), to compare two
/// models or two loads of one model.
pub fn probe_logits(model: &Vip5Model, cfg: &Vip5Config) -> Vec<f32> {
    let device = flex();
    let v = cfg.visual_token_id;
    let sample = EncoderSample {
        input_ids: vec![37, 5, v, v, 99, 1],
        whole_word_ids: vec![1, 2, 3, 3, 5, 0],
        vis_feats: vec![(0..cfg.feat_dim).map(|i| (i as f32 * 0.37).sin()).collect()],
    };
    let x = EncoderBatch::new(&[sample], cfg).expect("a valid probe batch").to_tensors(&device);
    let dec = burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(
        burn::tensor::TensorData::new(vec![0i64, 8, 9], [1, 3]),
        &device,
    );
    to_vec(model.forward(&x, dec, vip5::Task::Sequential)).1
}

/// Tiny, but with rows of 32 so that a bundle's linear layers really are quantized.
pub fn quantizable_config() -> Vip5Config {
    Vip5Config { d_model: 32, d_kv: 8, d_ff: 64, feat_dim: 32, ..Vip5Config::tiny() }
}

/// A tiny CLIP vision tower (32x32 images, 2 patches a side) with 32-d features.
pub fn tiny_clip_config() -> vip5::clip::ClipVisionConfig {
    vip5::clip::ClipVisionConfig {
        image_size: 32,
        patch_size: 16,
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        projection_dim: 32,
        layer_norm_eps: 1e-5,
    }
}

/// The t5-small tokenizer the project ships.
pub const T5_TOKENIZER: &str = include_str!("../../data/tokenizers/t5-small/tokenizer.json");

/// Item keys as the page passes them.
pub fn keys(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A bundle of a random `tiny` model (seeded) and a catalogue `SKU001..`, as a page loads it.
pub fn tiny_bundle(items: usize, seed: u64) -> Vec<u8> {
    use vip5::bundle::{CatalogItem, write_model_bundle};
    let cfg = Vip5Config::tiny();
    let device = flex();
    device.seed(seed);
    let model = Vip5Model::new(&cfg, &device);
    let tensors =
        vip5::weights::read_safetensors(&vip5::weights::save_safetensors(&model).expect("save"))
            .expect("read");
    let catalog: Vec<CatalogItem> = (1..=items)
        .map(|i| CatalogItem { key: format!("SKU{i:03}"), title: format!("item {i}") })
        .collect();
    write_model_bundle(&cfg, &tensors, T5_TOKENIZER, &catalog, None, vip5::quant::GgmlType::F32)
        .expect("bundle")
}

/// A page's recommender over `tiny_bundle(items, seed)`.
pub fn tiny_recommender(items: usize, seed: u64) -> vip5::recommend::Recommender {
    vip5::recommend::Recommender::from_bundle(&tiny_bundle(items, seed), flex())
        .expect("recommender")
}

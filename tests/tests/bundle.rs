//! The GGUF bundle: bit-exact with llama.cpp's `gguf` package (fixture written by gguf-py), model
//! and CLIP round trips on every quantization, and clear errors (never a panic) for truncated,
//! corrupt, wrong-version and wrong-kind files.

use std::collections::BTreeMap;

use vip5::bundle::{Bundle, CatalogItem, storage_type, write_clip_bundle, write_model_bundle};
use vip5::clip::{ClipVision, pixels_tensor};
use vip5::gguf::{Gguf, GgufWriter, MetaValue};
use vip5::quant::{GgmlType, dequantize, quantize};
use vip5::weights::{NamedTensor, read_safetensors, save_safetensors};
use vip5::{Vip5Config, Vip5Model};
use vip5_tests::{flex, probe_logits, quantizable_config, read_fixture, tiny_clip_config, to_vec};

const TOKENIZER: &str = include_str!("../../data/tokenizers/t5-small/tokenizer.json");

fn model_and_tensors(cfg: &Vip5Config, seed: u64) -> (Vip5Model, BTreeMap<String, NamedTensor>) {
    let device = flex();
    device.seed(seed);
    let model = Vip5Model::new(cfg, &device);
    let tensors = read_safetensors(&save_safetensors(&model).expect("save")).expect("read");
    (model, tensors)
}

fn catalog() -> Vec<CatalogItem> {
    vec![
        CatalogItem { key: "B004OHQR1Q".into(), title: "dotting 5 x 2 way marbleizing".into() },
        CatalogItem { key: "SKU-é-2".into(), title: String::new() },
    ]
}

#[test]
fn quantization_is_bit_exact_with_gguf_py() {
    let bytes = read_fixture("bundle", "gguf_py_written.gguf");
    let g = Gguf::parse(&bytes).expect("our reader parses gguf-py's file");
    assert_eq!(g.get_str("general.architecture").expect("arch"), "vip5-test");
    assert_eq!(g.get_u64("test.u32").expect("u32"), 7);
    assert_eq!(g.get_str("test.string").expect("string"), "héllo");
    assert_eq!(
        g.get("test.strings").and_then(MetaValue::as_strings),
        Some(vec!["B000ASIN1", "a title, with spaces"])
    );
    assert_eq!(g.get("test.bool"), Some(&MetaValue::Bool(true)));
    let find = |name: &str| {
        g.tensors.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("{name} in fixture"))
    };
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0] {
        let enc = find(&format!("t.{}", ty.name()));
        let src = find(&format!("t.{}.src", ty.name()));
        let deq = find(&format!("t.{}.deq", ty.name()));
        assert_eq!(enc.ty, ty);
        assert_eq!(enc.shape, vec![5, 64], "shapes come back in PyTorch order");
        let src_values = dequantize(g.tensor_bytes(src), GgmlType::F32, src.numel()).expect("src");
        let ours = quantize(&src_values, ty).expect("quantize");
        assert_eq!(
            ours.as_slice(),
            g.tensor_bytes(enc),
            "{}: our encoding differs from gguf-py's",
            ty.name()
        );
        let decoded = dequantize(g.tensor_bytes(enc), ty, enc.numel()).expect("dequantize");
        let want = dequantize(g.tensor_bytes(deq), GgmlType::F32, deq.numel()).expect("deq");
        assert_eq!(decoded, want, "{}: our decoding differs from gguf-py's", ty.name());
    }
}

#[test]
fn model_bundle_round_trips_config_tokenizer_catalogue_and_weights() {
    let cfg = quantizable_config();
    let (model, tensors) = model_and_tensors(&cfg, 7);
    let reference = probe_logits(&model, &cfg);
    let mut worst = BTreeMap::new();
    for quant in [GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0] {
        let bytes =
            write_model_bundle(&cfg, &tensors, TOKENIZER, &catalog(), None, quant).expect("write");
        let bundle = Bundle::from_bytes(&bytes).expect("read");
        assert_eq!(bundle.quant, quant.name());
        assert_eq!(bundle.config().expect("config"), cfg);
        assert_eq!(bundle.catalog().expect("catalogue"), catalog());
        let tok: serde_json::Value =
            serde_json::from_str(bundle.tokenizer_json().expect("tokenizer")).expect("json");
        assert_eq!(
            tok,
            serde_json::from_str::<serde_json::Value>(TOKENIZER).expect("json"),
            "tokenizer survives minification"
        );
        // Matrices are stored quantized, norms and biases f32.
        for info in bundle.tensor_infos() {
            assert_eq!(info.ty, storage_type(&info.shape, quant), "{}", info.name);
            if info.name.ends_with("layer_norm.weight") || info.name.ends_with(".bias") {
                assert_eq!(info.ty, GgmlType::F32, "{}", info.name);
            }
        }
        if quant != GgmlType::F32 {
            assert!(
                bundle
                    .tensor_infos()
                    .iter()
                    .any(|t| t.name.ends_with("SelfAttention.q.weight") && t.ty == quant)
            );
        }
        let (loaded, _) = bundle.load_model(&flex()).expect("load");
        let got = probe_logits(&loaded, &cfg);
        // Worst logit error relative to the largest logit.
        let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = got.iter().zip(&reference).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        worst.insert(quant.name(), diff / scale);
    }
    assert_eq!(worst["f32"], 0.0, "f32 is lossless");
    // The noise grows with coarser types (q8_0: half a step of 1/127 of each block's range).
    assert!(worst["f16"] < 1e-3, "{worst:?}");
    assert!(worst["q8_0"] < 2e-2 && worst["q8_0"] > worst["f16"], "{worst:?}");
    assert!(worst["q4_0"] < 0.3 && worst["q4_0"] > worst["q8_0"], "{worst:?}");
}

#[test]
fn clip_bundle_round_trips_and_is_not_a_model() {
    let cfg = tiny_clip_config();
    let device = flex();
    device.seed(3);
    let clip = ClipVision::new(&cfg, &device);
    let tensors = read_safetensors(&save_safetensors(&clip).expect("save")).expect("read");
    let pixels: Vec<f32> = (0..3 * 32 * 32).map(|i| ((i % 17) as f32 - 8.0) / 8.0).collect();
    let want = to_vec(clip.forward(pixels_tensor(std::slice::from_ref(&pixels), 32, &device))).1;
    for quant in [GgmlType::F32, GgmlType::Q8_0] {
        let bytes = write_clip_bundle(&cfg, &tensors, quant).expect("write");
        let bundle = Bundle::from_bytes(&bytes).expect("read");
        assert_eq!(bundle.clip_config().expect("config"), cfg);
        let (loaded, _, _) = bundle.load_clip(&device).expect("load");
        let got =
            to_vec(loaded.forward(pixels_tensor(std::slice::from_ref(&pixels), 32, &device))).1;
        let diff = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff < if quant == GgmlType::F32 { 1e-6 } else { 5e-2 }, "{quant:?}: {diff}");
        let err = bundle.load_model(&device).expect_err("a CLIP bundle is not a model").to_string();
        assert!(err.contains("clip-vision bundle, but a model bundle is needed"), "{err}");
    }
}

#[test]
fn a_clip_bundle_whose_config_cannot_be_built_is_refused_before_any_tensor() {
    // A CLIP bundle (or a page's own config.json) with patch_size 0 once divided by zero while
    // building the tower: a panic reachable from JS.
    let cfg = vip5::clip::ClipVisionConfig { patch_size: 0, ..tiny_clip_config() };
    let bytes = write_clip_bundle(&cfg, &BTreeMap::new(), GgmlType::F32).expect("write");
    let bundle = Bundle::from_bytes(&bytes).expect("a readable GGUF");
    let err = bundle.clip_config().expect_err("patch_size 0").to_string();
    assert!(
        err.contains("the bundle's CLIP config is invalid")
            && err.contains("patch_size must be positive"),
        "{err}"
    );
    let err = bundle.load_clip(&flex()).expect_err("patch_size 0").to_string();
    assert!(err.contains("patch_size must be positive"), "{err}");
}

fn small_bundle() -> Vec<u8> {
    let cfg = Vip5Config::tiny();
    let (_, tensors) = model_and_tensors(&cfg, 1);
    write_model_bundle(&cfg, &tensors, TOKENIZER, &catalog(), None, GgmlType::Q8_0).expect("write")
}

fn load_error(bytes: &[u8]) -> String {
    match Bundle::from_bytes(bytes).and_then(|b| b.load_model(&flex()).map(|_| ())) {
        Ok(()) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn truncated_and_corrupt_files_give_errors_not_panics() {
    let bytes = small_bundle();
    assert_eq!(load_error(&bytes), "");
    // Truncations across the header, metadata, tensor infos and data.
    let mut cut = 0;
    while cut < bytes.len() - 64 {
        let err = load_error(&bytes[..cut]);
        assert!(!err.is_empty(), "a file cut at {cut} of {} bytes loaded", bytes.len());
        cut += 1 + cut / 3;
    }
    assert!(
        load_error(&bytes[..bytes.len() / 2]).contains("truncated"),
        "{}",
        load_error(&bytes[..bytes.len() / 2])
    );
    // Flipped bytes: each must give an error or a model, never a panic (the fuzzer goes further).
    let mut state = 2022u64;
    for _ in 0..300 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let pos = (state >> 33) as usize % 4096.min(bytes.len());
        let mut corrupt = bytes.clone();
        corrupt[pos] ^= 1 << ((state >> 29) % 8);
        let _ = load_error(&corrupt);
    }
    assert!(load_error(b"PK\x03\x04 a zip file").contains("not a GGUF file"));
}

#[test]
fn wrong_version_architecture_and_shapes_are_named() {
    let gguf_py = read_fixture("bundle", "gguf_py_written.gguf");
    let err = load_error(&gguf_py);
    assert!(err.contains("`vip5-test` architecture, not a VIP5 bundle"), "{err}");

    let header = |version: u32, kind: &str| {
        let mut w = GgufWriter::new();
        w.metadata("general.architecture", MetaValue::String("vip5".into()))
            .metadata("vip5.bundle.version", MetaValue::U32(version))
            .metadata("vip5.bundle.kind", MetaValue::String(kind.into()))
            .metadata("vip5.bundle.quant", MetaValue::String("q8_0".into()));
        w.to_bytes()
    };
    let err = load_error(&header(2, "model"));
    assert!(err.contains("bundle format version 2; this library reads versions 1 to 1"), "{err}");
    let err = load_error(&header(1, "tokenizer"));
    assert!(err.contains("unknown bundle kind `tokenizer`"), "{err}");
    let err = load_error(&header(1, "model"));
    assert!(err.contains("metadata `vip5.config` is missing"), "{err}");

    // A config that does not match the tensors (a different d_ff) names the first mis-shaped
    // tensor.
    let cfg = Vip5Config::tiny();
    let (_, tensors) = model_and_tensors(&cfg, 1);
    let other = Vip5Config { d_ff: 48, ..cfg };
    let bytes =
        write_model_bundle(&other, &tensors, TOKENIZER, &[], None, GgmlType::F32).expect("write");
    let err = load_error(&bytes);
    assert!(err.contains("DenseReluDense.wi.weight") && err.contains("[48, 16]"), "{err}");
}

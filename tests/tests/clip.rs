//! CLIP: preprocessing against HF `CLIPImageProcessor` on real photographs, features against HF
//! `CLIPModel.get_image_features` on a small random CLIP (flex and wgpu), loading by name from a
//! full CLIP checkpoint, the ViT-B/32 tensor names, and clear errors for bad input.

use std::collections::BTreeMap;

use burn::tensor::Device;
use vip5::clip::preprocess::{CLIP_STD, RgbImage};
use vip5::clip::{
    ClipVision, ClipVisionConfig, decode_image, load_clip_vision, pixels_tensor, preprocess,
};
use vip5::weights::expected_tensors;
use vip5_tests::{assert_close, flex, load_arrays, load_outputs, read_fixture, to_vec, wgpu};

const PHOTOS: [&str; 5] =
    ["chelsea_301x200", "coffee_330x220", "astronaut_240x240", "rocket_227x341", "chelsea_150x100"];

#[test]
fn preprocessing_matches_clip_image_processor_on_real_photos() {
    let reference = load_arrays("clip", "pixels.safetensors");
    for name in PHOTOS {
        let png = read_fixture("clip/photos", &format!("{name}.png"));
        let img = decode_image(&png).expect("decode");
        let got = preprocess(&img, 224).expect("preprocess");
        let want = &reference[name].f32;
        assert_eq!(got.len(), want.len());
        let plane = 224 * 224;
        let mut worst_levels = 0.0f32;
        let mut sum = 0.0f64;
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let levels = (g - w).abs() * CLIP_STD[i / plane] * 255.0;
            worst_levels = worst_levels.max(levels);
            sum += (g - w).abs() as f64;
        }
        let mean = sum / got.len() as f64;
        assert!(
            worst_levels <= 1.0 + 1e-3,
            "{name}: worst pixel differs by {worst_levels} uint8 levels"
        );
        assert!(mean < 1e-3, "{name}: mean |diff| {mean}");
    }
}

#[test]
fn rgba_canvas_input_equals_decoded_rgb() {
    let img = decode_image(&read_fixture("clip/photos", "coffee_330x220.png")).unwrap();
    let rgba: Vec<u8> = img.data.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
    let from_canvas = RgbImage::from_rgba(&rgba, img.width, img.height).unwrap();
    assert_eq!(preprocess(&from_canvas, 224).unwrap(), preprocess(&img, 224).unwrap());
    assert!(RgbImage::from_rgba(&rgba[..100], img.width, img.height).is_err());
}

fn tiny_clip(device: &Device) -> ClipVision {
    let cfg = ClipVisionConfig::from_hf_json(
        &String::from_utf8(read_fixture("clip/tiny", "config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!((cfg.hidden_size, cfg.patch_size, cfg.projection_dim), (32, 8, 16));
    let (model, report) = load_clip_vision(
        ClipVision::new(&cfg, device),
        &read_fixture("clip/tiny", "model.safetensors"),
    )
    .unwrap();
    assert!(report.initialised.is_empty());
    // only vision tensors were read: the text tower and logit scale are never touched
    assert!(report.unused.is_empty(), "{:?}", report.unused);
    assert_eq!(report.loaded, expected_tensors(&model).len());
    model
}

fn check_features(device: &Device) {
    let model = tiny_clip(device);
    let out = load_outputs("clip/tiny");
    let px = &out["pixels"];
    let images: Vec<Vec<f32>> = px.f32.chunks_exact(3 * 32 * 32).map(<[f32]>::to_vec).collect();
    let (dims, got) = to_vec(model.forward(pixels_tensor(&images, 32, device)));
    assert_eq!(dims, vec![2, 16]);
    assert_close("tiny CLIP image features", &got, &out["features"].f32, 1e-4);
}

#[test]
fn features_match_hf_get_image_features_on_flex() {
    check_features(&flex());
}

#[test]
fn features_match_hf_get_image_features_on_wgpu() {
    check_features(&wgpu());
}

#[test]
fn vit_b_32_has_hf_tensor_names_and_shapes() {
    let want: BTreeMap<String, Vec<usize>> =
        serde_json::from_slice(&read_fixture("clip", "vit_b_32_names.json")).unwrap();
    let model = ClipVision::new(&ClipVisionConfig::vit_b_32(), &flex());
    let got = expected_tensors(&model);
    assert_eq!(got, want);
}

#[test]
fn bad_inputs_are_clear_errors() {
    let err = decode_image(b"this is a text file, not a photo").unwrap_err();
    assert!(err.to_string().contains("not an image"), "{err}");
    // a PNG header claiming 100000 x 100000 pixels is refused before decoding
    let mut huge = read_fixture("clip/photos", "chelsea_150x100.png");
    huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    huge[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32(&huge[12..29]); // IHDR chunk type + data
    huge[29..33].copy_from_slice(&crc.to_be_bytes());
    let err = decode_image(&huge).unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
    // a T5 checkpoint has no vision tensors
    let cfg = ClipVisionConfig::from_hf_json(
        &String::from_utf8(read_fixture("clip/tiny", "config.json")).unwrap(),
    )
    .unwrap();
    let err = load_clip_vision(
        ClipVision::new(&cfg, &flex()),
        &read_fixture("t5_relu_tied", "model.safetensors"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no CLIP vision tensors"), "{err}");
    assert!(RgbImage::from_rgba(&[], 0, 0).is_err());
}

/// CRC-32 (IEEE), as PNG chunks use.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// The page's Range reader fetches exactly the tensors the core's loader keeps: both rules run
/// over a full CLIP checkpoint's names (the vision tower's, plus text-side names, the
/// `position_ids` buffers and a bias that no CLIP has).
#[test]
fn the_page_fetches_the_tensors_the_loader_keeps() {
    let vision: BTreeMap<String, Vec<usize>> =
        serde_json::from_slice(&read_fixture("clip", "vit_b_32_names.json")).unwrap();
    let mut names: Vec<String> = vision.keys().cloned().collect();
    for other in [
        "vision_model.embeddings.position_ids",
        "text_model.embeddings.position_ids",
        "text_model.embeddings.token_embedding.weight",
        "text_model.final_layer_norm.weight",
        "text_projection.weight",
        "logit_scale",
        "visual_projection.bias",
        "vision_model_extra.weight",
    ] {
        names.push(other.to_string());
    }
    let rust: Vec<bool> = names.iter().map(|n| vip5::clip::is_vision_tensor(n)).collect();
    assert!(rust[..vision.len()].iter().all(|&v| v), "the loader drops a vision tensor");
    assert!(rust[vision.len()..].iter().all(|&v| !v), "the loader keeps a non-vision name");
    let module = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../www/lib/clip-range.js");
    let script = format!(
        "import {{ isVisionTensor }} from {module:?};\n\
         console.log(JSON.stringify({names}.map(isVisionTensor)));",
        module = format!("file://{}", module.canonicalize().unwrap().display()),
        names = serde_json::to_string(&names).unwrap(),
    );
    let out = std::process::Command::new("node")
        .args(["--input-type=module", "-e", &script])
        .output()
        .expect("running node (scripts/setup.sh installs it)");
    assert!(out.status.success(), "node: {}", String::from_utf8_lossy(&out.stderr));
    let js: Vec<bool> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(js, rust, "www/lib/clip-range.js and vip5::clip::is_vision_tensor disagree");
}

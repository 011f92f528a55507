//! The CLIP inputs a page controls: its own `config.json` (any JSON), photo bytes (any format,
//! any header) and canvas pixels of any claimed size, each taken through the preprocessing the
//! tower reads. Errors, never a panic, a division by zero or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vip5::clip::model::ClipVisionConfig;
use vip5::clip::{RgbImage, decode_image, preprocess};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    // A crop size as a config may give it (1..=256), and 224 (ViT-B/32's).
    let size = if selector & 1 == 0 { 224 } else { usize::from(selector >> 1) * 2 + 1 };
    match selector % 3 {
        0 => {
            if let Ok(cfg) = ClipVisionConfig::from_hf_json(&String::from_utf8_lossy(rest)) {
                assert!(cfg.validate().is_ok(), "from_hf_json returned a config validate refuses");
            }
        }
        1 => {
            if let Ok(img) = decode_image(rest) {
                let _ = preprocess(&img, size);
            }
        }
        _ => {
            let Some((dims, pixels)) = rest.split_first_chunk::<4>() else { return };
            let width = usize::from(u16::from_le_bytes([dims[0], dims[1]]));
            let height = usize::from(u16::from_le_bytes([dims[2], dims[3]]));
            if let Ok(img) = RgbImage::from_rgba(pixels, width, height) {
                let _ = preprocess(&img, size);
            }
        }
    }
});

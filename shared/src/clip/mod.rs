//! CLIP image features: the ViT vision tower, its weights by Hugging Face name, and preprocessing.

pub mod model;
pub mod preprocess;

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};

pub use model::{ClipVision, ClipVisionConfig};
pub use preprocess::{RgbImage, preprocess};

use crate::error::{Result, Vip5Error};
use crate::weights::{LoadReport, NamedTensor, apply_checkpoint, read_safetensors_filtered};

/// True for the tensors of a CLIP checkpoint that the vision tower loads: `vision_model.*`
/// without the `position_ids` buffer some exports carry, and `visual_projection.weight`. The one
/// rule for every reader (the loader, `trainer export-clip`, and the page's Range reader
/// `www/lib/clip-range.js`, which a test holds to it).
pub fn is_vision_tensor(name: &str) -> bool {
    (name.starts_with("vision_model.") && !name.ends_with("position_ids"))
        || name == "visual_projection.weight"
}

/// Loads the vision tower from a Hugging Face CLIP `model.safetensors` (full CLIP or
/// `CLIPVisionModelWithProjection`), reading only the vision tensors.
pub fn load_clip_vision(model: ClipVision, safetensors: &[u8]) -> Result<(ClipVision, LoadReport)> {
    let tensors = read_safetensors_filtered(safetensors, is_vision_tensor)?;
    load_clip_vision_tensors(model, tensors)
}

/// Loads the vision tower from already-read tensors (a bundle, or ranges fetched over HTTP).
pub fn load_clip_vision_tensors(
    model: ClipVision,
    tensors: BTreeMap<String, NamedTensor>,
) -> Result<(ClipVision, LoadReport)> {
    if !tensors.keys().any(|k| is_vision_tensor(k)) {
        return Err(Vip5Error::Weights(
            "the checkpoint has no CLIP vision tensors (`vision_model.*`, \
             `visual_projection.weight`)"
                .into(),
        ));
    }
    let tensors = tensors.into_iter().filter(|(k, _)| is_vision_tensor(k)).collect();
    apply_checkpoint(model, tensors, |_| false)
}

/// Preprocessed images `[B, 3, S, S]` on `device`.
pub fn pixels_tensor(images: &[Vec<f32>], size: usize, device: &Device) -> Tensor<4> {
    let data: Vec<f32> = images.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(data, [images.len(), 3, size, size]), device)
}

/// CLIP features of images (one vector of `projection_dim` values each), read back asynchronously
/// so that it runs in a browser.
pub async fn image_features(
    model: &ClipVision,
    cfg: &ClipVisionConfig,
    images: &[RgbImage],
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    if images.is_empty() {
        return Ok(Vec::new());
    }
    let pixels =
        images.iter().map(|img| preprocess(img, cfg.image_size)).collect::<Result<Vec<_>>>()?;
    let out = model.forward(pixels_tensor(&pixels, cfg.image_size, device));
    let data = out
        .into_data_async()
        .await
        .map_err(|e| Vip5Error::Backend(format!("reading image features: {e:?}")))?;
    let values = data
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| Vip5Error::Backend(format!("reading image features: {e:?}")))?;
    Ok(values.chunks(cfg.projection_dim).map(<[f32]>::to_vec).collect())
}

/// Decodes a JPEG, PNG or WebP file to RGB (native tools; a browser decodes with a canvas).
#[cfg(feature = "decode")]
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Vip5Error::Input(format!("reading the image: {e}")))?;
    let format = reader.format().ok_or_else(|| {
        Vip5Error::Input("not an image (unknown format; JPEG, PNG and WebP are supported)".into())
    })?;
    // Check the size from the header before decoding a possibly huge image.
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| Vip5Error::Input(format!("reading the {format:?} header: {e}")))?;
    if w as usize > preprocess::MAX_IMAGE_SIDE || h as usize > preprocess::MAX_IMAGE_SIDE {
        return Err(Vip5Error::Input(format!(
            "image of {w}x{h} is too large (at most {} pixels a side)",
            preprocess::MAX_IMAGE_SIDE
        )));
    }
    let img = image::load_from_memory_with_format(bytes, format)
        .map_err(|e| Vip5Error::Input(format!("decoding the {format:?} image: {e}")))?
        .to_rgb8();
    let (w, h) = img.dimensions();
    RgbImage::from_rgb(img.into_raw(), w as usize, h as usize)
}

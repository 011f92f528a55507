//! CLIP image preprocessing identical to Hugging Face's `CLIPImageProcessor` (transformers 5, whose
//! default backend is torchvision): resize the short side to 224 with antialiased bicubic
//! resampling on 8-bit pixels (PIL's filter, in torch's int16 fixed point), centre crop, scale to
//! [0, 1], normalise with CLIP's mean and std. Input: RGBA bytes as a canvas gives.

use crate::error::{Result, Vip5Error};

/// CLIP's per-channel mean and std (OpenAI).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// Largest accepted image side: bigger inputs are refused rather than exhausting memory.
pub const MAX_IMAGE_SIDE: usize = 16_384;

/// An 8-bit RGB image, row-major, 3 bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl RgbImage {
    /// From RGBA bytes (a canvas `ImageData`); alpha is dropped, as PIL's RGBA -> RGB does.
    pub fn from_rgba(rgba: &[u8], width: usize, height: usize) -> Result<Self> {
        check_size(width, height)?;
        if rgba.len() != width * height * 4 {
            return Err(Vip5Error::Input(format!(
                "RGBA buffer has {} bytes, expected {} for {width}x{height}",
                rgba.len(),
                width * height * 4
            )));
        }
        let data = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        Ok(Self { width, height, data })
    }

    /// From RGB bytes.
    pub fn from_rgb(rgb: Vec<u8>, width: usize, height: usize) -> Result<Self> {
        check_size(width, height)?;
        if rgb.len() != width * height * 3 {
            return Err(Vip5Error::Input(format!(
                "RGB buffer has {} bytes, expected {} for {width}x{height}",
                rgb.len(),
                width * height * 3
            )));
        }
        Ok(Self { width, height, data: rgb })
    }
}

fn check_size(width: usize, height: usize) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Vip5Error::Input(format!("empty image ({width}x{height})")));
    }
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(Vip5Error::Input(format!(
            "image of {width}x{height} is too large (at most {MAX_IMAGE_SIDE} pixels a side)"
        )));
    }
    Ok(())
}

fn bicubic(x: f64) -> f64 {
    // a = -0.5, as PIL and torch's antialiased filter
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Fixed-point filter of one axis: per output pixel the first input index and integer weights,
/// plus the number of fractional bits.
struct AxisFilter {
    taps: Vec<(usize, Vec<i64>)>,
    precision: u32,
}

/// The antialiased bicubic weights of PIL's `precompute_coeffs` (support widened by the scale
/// when shrinking), normalised, then quantised as torch's uint8 kernel does
/// (`_compute_indices_int16_weights_aa`): as many fractional bits as keep the largest weight of
/// the axis within int16. Matching that quantisation makes the result bit-exact.
fn axis_filter(in_size: usize, out_size: usize) -> AxisFilter {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let float_taps: Vec<(usize, Vec<f64>)> = (0..out_size)
        .map(|x| {
            let center = (x as f64 + 0.5) * scale;
            // truncation toward zero, as the C casts
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let mut k: Vec<f64> =
                (xmin..xmax).map(|i| bicubic((i as f64 - center + 0.5) / filterscale)).collect();
            let total: f64 = k.iter().sum();
            if total != 0.0 {
                k.iter_mut().for_each(|w| *w /= total);
            }
            (xmin, k)
        })
        .collect();
    let w_max = float_taps.iter().flat_map(|(_, k)| k.iter().copied()).fold(0.0f64, f64::max);
    let mut precision = 0u32;
    while precision < 22 && ((0.5 + w_max * (1u64 << (precision + 1)) as f64) as i64) < (1 << 15) {
        precision += 1;
    }
    let unit = (1u64 << precision) as f64;
    let taps = float_taps
        .into_iter()
        .map(|(xmin, k)| {
            let fixed = k
                .iter()
                .map(|&w| {
                    let v = w * unit;
                    (if v < 0.0 { v - 0.5 } else { v + 0.5 }) as i64
                })
                .collect();
            (xmin, fixed)
        })
        .collect();
    AxisFilter { taps, precision }
}

/// Resamples one axis of a row-major RGB buffer of `lines` lines across that axis: rows when
/// `horizontal`, columns otherwise.
fn resample_axis(
    src: &[u8],
    in_size: usize,
    out_size: usize,
    lines: usize,
    horizontal: bool,
) -> Vec<u8> {
    let f = axis_filter(in_size, out_size);
    let mut out = vec![0u8; out_size * lines * 3];
    // byte steps along the resampled axis and from one line to the next, in and out
    let (along, across) = if horizontal { (3, in_size * 3) } else { (lines * 3, 3) };
    let (out_along, out_across) = if horizontal { (3, out_size * 3) } else { (lines * 3, 3) };
    let rounding = if f.precision > 0 { 1i64 << (f.precision - 1) } else { 0 };
    for line in 0..lines {
        for (o, (start, k)) in f.taps.iter().enumerate() {
            for c in 0..3 {
                let mut acc = rounding;
                for (i, &w) in k.iter().enumerate() {
                    acc += src[(start + i) * along + line * across + c] as i64 * w;
                }
                out[o * out_along + line * out_across + c] =
                    (acc >> f.precision).clamp(0, 255) as u8;
            }
        }
    }
    out
}

/// Antialiased bicubic resize of an 8-bit RGB image to `out_w` x `out_h`: horizontal pass, then
/// vertical, each rounded to 8 bits (torchvision's uint8 path, which follows PIL).
pub fn resize_bicubic(img: &RgbImage, out_w: usize, out_h: usize) -> RgbImage {
    let (w, h) = (img.width, img.height);
    let mut data = img.data.clone();
    if out_w != w {
        data = resample_axis(&data, w, out_w, h, true);
    }
    if out_h != h {
        data = resample_axis(&data, h, out_h, out_w, false);
    }
    RgbImage { width: out_w, height: out_h, data }
}

/// Size after resizing the short side to `short` (HF `get_resize_output_image_size`: the long
/// side is `int(short * long / short_side)`).
pub fn resized_size(width: usize, height: usize, short: usize) -> (usize, usize) {
    if width <= height {
        (short, (short as f64 * height as f64 / width as f64) as usize)
    } else {
        ((short as f64 * width as f64 / height as f64) as usize, short)
    }
}

/// Centre crop to `size` x `size` (HF's offsets: `int((side - size) / 2)`).
pub fn center_crop(img: &RgbImage, size: usize) -> Result<RgbImage> {
    if img.width < size || img.height < size {
        return Err(Vip5Error::Input(format!(
            "image {}x{} is smaller than the {size} crop",
            img.width, img.height
        )));
    }
    let top = (img.height - size) / 2;
    let left = (img.width - size) / 2;
    let mut data = Vec::with_capacity(size * size * 3);
    for y in top..top + size {
        let row = (y * img.width + left) * 3;
        data.extend_from_slice(&img.data[row..row + size * 3]);
    }
    Ok(RgbImage { width: size, height: size, data })
}

/// The full pipeline: `[3, size, size]` channel-first normalised floats.
pub fn preprocess(img: &RgbImage, size: usize) -> Result<Vec<f32>> {
    let (w, h) = resized_size(img.width, img.height, size);
    let resized = resize_bicubic(img, w, h);
    let cropped = center_crop(&resized, size)?;
    let mut out = vec![0f32; 3 * size * size];
    for (i, px) in cropped.data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * size * size + i] = (px[c] as f32 / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c];
        }
    }
    Ok(out)
}

//! `trainer features`: CLIP image features for a directory of product photos, for the photos a
//! shop's catalogue names, or the original VIP5 `.npy` feature layout, written as one safetensors
//! file keyed by item id (ASIN/SKU).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use vip5::clip::{
    ClipVision, ClipVisionConfig, decode_image, load_clip_vision, pixels_tensor, preprocess,
};
use vip5::data::shop::{CatalogOptions, Delimiter, parse_catalog};

use crate::common::device::{DeviceArg, make_device};
use crate::common::features_file::{FeatureMap, read_features, write_features};

#[derive(Args)]
pub struct FeaturesArgs {
    /// Hugging Face CLIP `model.safetensors` (e.g. openai/clip-vit-base-patch32; only the vision
    /// tensors are read), or a CLIP vision bundle (`.gguf`, from `trainer export-clip`).
    #[arg(long, required_unless_present = "npy_dir")]
    clip: Option<PathBuf>,
    /// The CLIP's `config.json` (default: the file beside `--clip`, else ViT-B/32).
    #[arg(long)]
    clip_config: Option<PathBuf>,
    /// Directory of photos named `<item id>.jpg|jpeg|png|webp` (e.g. `B004ZT0SSG.jpg`); with
    /// `--catalog`, the folder its image paths are relative to.
    #[arg(long, required_unless_present_any = ["npy_dir", "catalog"])]
    images: Option<PathBuf>,
    /// The shop's catalogue (CSV/TSV with a header, as for `trainer prepare --catalog`): each row's
    /// image column names its photo, relative to `--images` when given, else to the catalogue's
    /// folder. Rows without an image are counted and skipped.
    #[arg(long, conflicts_with = "npy_dir")]
    catalog: Option<PathBuf>,
    /// The item column of `--catalog`.
    #[arg(long, default_value = "item_id", requires = "catalog")]
    catalog_item_column: String,
    /// The title column of `--catalog` (read only to check the file is a catalogue).
    #[arg(long, default_value = "title", requires = "catalog")]
    title_column: String,
    /// The image column of `--catalog`.
    #[arg(long, default_value = "image", requires = "catalog")]
    image_column: String,
    /// Instead of computing: import the original VIP5 layout `<type>_features/<split>/<ASIN>.npy`
    /// (give the `<split>` directory).
    #[arg(long, conflicts_with_all = ["clip", "images", "catalog"])]
    npy_dir: Option<PathBuf>,
    /// Output safetensors file: one f32 vector per item, named by the item id.
    #[arg(long)]
    out: PathBuf,
    /// Images per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Device: cpu (burn flex) or wgpu (Vulkan/Metal/DX12).
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    /// Start again instead of resuming from the items already in `--out`.
    #[arg(long)]
    overwrite: bool,
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];

/// The photo of every catalogue row that names one: (item key, path), paths relative to `base`
/// (an absolute path is kept). Returns the rows without an image beside.
fn catalog_photos(args: &FeaturesArgs, catalog: &Path) -> Result<(Vec<(String, PathBuf)>, usize)> {
    let name = catalog.display().to_string();
    let text = std::fs::read_to_string(catalog)
        .with_context(|| format!("reading {}", catalog.display()))?;
    let options = CatalogOptions {
        delimiter: Delimiter::for_file_name(&name),
        item_column: args.catalog_item_column.clone(),
        title_column: args.title_column.clone(),
        image_column: args.image_column.clone(),
        ..Default::default()
    };
    let rows = parse_catalog(&text, &name, &options)?;
    let base = match &args.images {
        Some(dir) => dir.clone(),
        None => catalog.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let without = rows.iter().filter(|r| r.image.is_none()).count();
    if without == rows.len() {
        bail!(
            "{name}: no row names an image in column `{}` (name the column with --image-column)",
            args.image_column
        );
    }
    let mut photos: Vec<(String, PathBuf)> =
        rows.into_iter().filter_map(|r| Some((r.key, base.join(r.image?)))).collect();
    photos.sort();
    Ok((photos, without))
}

fn item_files(dir: &Path, extensions: &[&str]) -> Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if let (Some(stem), Some(ext)) = (path.file_stem().and_then(|s| s.to_str()), ext)
            && extensions.contains(&ext.as_str())
        {
            files.push((stem.to_string(), path));
        }
    }
    files.sort();
    Ok(files)
}

/// Parses a little-endian f32 `.npy` vector (the original's feature files).
pub fn read_npy_f32(bytes: &[u8]) -> Result<Vec<f32>> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        bail!("not a .npy file");
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => {
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => bail!("unsupported .npy version {v}"),
    };
    let header = std::str::from_utf8(
        bytes.get(start..start + header_len).context("truncated .npy header")?,
    )?;
    if !header.contains("'descr': '<f4'") {
        bail!("expected little-endian float32 data ('<f4'), header: {header}");
    }
    if header.contains("'fortran_order': True") {
        bail!("Fortran-ordered arrays are not supported");
    }
    let data = &bytes[start + header_len..];
    if !data.len().is_multiple_of(4) {
        bail!("truncated .npy data");
    }
    Ok(data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

fn import_npy(dir: &Path, out: &Path) -> Result<()> {
    let files = item_files(dir, &["npy"])?;
    if files.is_empty() {
        bail!("no .npy files in {}", dir.display());
    }
    let bar = progress(files.len() as u64, "importing .npy features");
    let mut features = FeatureMap::new();
    let mut dim = None;
    let mut failed = 0usize;
    for (item, path) in files {
        let v = std::fs::read(&path).map_err(anyhow::Error::from).and_then(|b| read_npy_f32(&b));
        match v {
            Ok(v) if dim.is_none_or(|d| d == v.len()) => {
                dim = Some(v.len());
                features.insert(item, v);
            }
            Ok(v) => {
                failed += 1;
                bar.suspend(|| {
                    eprintln!(
                        "skipping {}: {} values, the others have {}",
                        path.display(),
                        v.len(),
                        dim.unwrap_or(0)
                    )
                });
            }
            Err(e) => {
                failed += 1;
                bar.suspend(|| eprintln!("skipping {}: {e:#}", path.display()));
            }
        }
        bar.inc(1);
    }
    bar.finish();
    write_features(out, &features)?;
    println!(
        "wrote {} features of dimension {} to {} ({failed} files skipped)",
        features.len(),
        dim.unwrap_or(0),
        out.display()
    );
    Ok(())
}

pub fn run(args: FeaturesArgs) -> Result<()> {
    if let Some(dir) = &args.npy_dir {
        return import_npy(dir, &args.out);
    }
    let Some(clip_path) = &args.clip else {
        bail!("--clip is required unless --npy-dir is given");
    };
    // Where the photos are: the catalogue's image column, or a folder of `<item id>.<ext>`.
    let (photos, without_image) = match (&args.catalog, &args.images) {
        (Some(catalog), _) => catalog_photos(&args, catalog)?,
        (None, Some(images)) => (item_files(images, &IMAGE_EXTENSIONS)?, 0),
        (None, None) => bail!("give --images or --catalog (or --npy-dir)"),
    };
    if without_image > 0 {
        eprintln!("{without_image} catalogue items have no image (no features; skipped)");
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let device: Device = make_device(args.device)?;
    let weights =
        std::fs::read(clip_path).with_context(|| format!("reading {}", clip_path.display()))?;
    let (model, cfg, report) = if clip_path.extension().is_some_and(|e| e == "gguf") {
        // A CLIP vision bundle (trainer export-clip) carries its own config.
        vip5::bundle::Bundle::from_bytes(&weights)
            .and_then(|b| b.load_clip(&device))
            .with_context(|| format!("loading the CLIP bundle {}", clip_path.display()))?
    } else {
        let config_path = args.clip_config.clone().or_else(|| {
            let beside = clip_path.with_file_name("config.json");
            beside.exists().then_some(beside)
        });
        let cfg = match &config_path {
            Some(p) => ClipVisionConfig::from_hf_json(
                &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            )?,
            None => ClipVisionConfig::vit_b_32(),
        };
        let (model, report) = load_clip_vision(ClipVision::new(&cfg, &device), &weights)
            .with_context(|| {
                format!("loading the CLIP vision tower from {}", clip_path.display())
            })?;
        (model, cfg, report)
    };
    drop(weights);
    eprintln!(
        "loaded {} vision tensors ({}x{} patches of {}, {}-d features)",
        report.loaded, cfg.image_size, cfg.image_size, cfg.patch_size, cfg.projection_dim
    );

    let mut features = if args.out.exists() && !args.overwrite {
        let done = read_features(&args.out)
            .context("resuming from the existing --out file (use --overwrite to start again)")?;
        eprintln!("resuming: {} items already done", done.len());
        done
    } else {
        FeatureMap::new()
    };
    let todo: Vec<(String, PathBuf)> =
        photos.into_iter().filter(|(item, _)| !features.contains_key(item)).collect();
    let bar = progress(todo.len() as u64, "CLIP features");
    let start = Instant::now();
    let (mut done, mut failed) = (0usize, 0usize);
    for chunk in todo.chunks(args.batch_size) {
        let mut items = Vec::with_capacity(chunk.len());
        let mut pixels = Vec::with_capacity(chunk.len());
        for (item, path) in chunk {
            // A bad file is reported with its name; the rest of the batch goes on.
            let result = std::fs::read(path)
                .map_err(|e| vip5::Vip5Error::Input(format!("reading the file: {e}")))
                .and_then(|b| decode_image(&b))
                .and_then(|img| preprocess(&img, cfg.image_size));
            match result {
                Ok(p) => {
                    items.push(item.clone());
                    pixels.push(p);
                }
                Err(e) => {
                    failed += 1;
                    bar.suspend(|| eprintln!("skipping {}: {e}", path.display()));
                }
            }
        }
        if !pixels.is_empty() {
            let out = model.forward(pixels_tensor(&pixels, cfg.image_size, &device));
            let data = out
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            for (item, v) in items.iter().zip(data.chunks_exact(cfg.projection_dim)) {
                features.insert(item.clone(), v.to_vec());
            }
            done += items.len();
            write_features(&args.out, &features)?;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish();
    write_features(&args.out, &features)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "wrote {} features ({done} new, {failed} unreadable) to {} in {secs:.1} s ({:.2} images/s)",
        features.len(),
        args.out.display(),
        done as f64 / secs.max(1e-9)
    );
    Ok(())
}

//! The distribution file: one GGUF holding everything a page needs to recommend, or everything
//! it needs to embed images.
//!
//! A **model bundle** (`vip5.bundle.kind = "model"`) holds the model config, the tokenizer JSON,
//! the prompt templates it was trained with, the item catalogue (stable keys such as ASINs, and
//! titles; item id = position + 1) and the tensors under the module's own (Hugging Face) names. A
//! **CLIP vision bundle** (`"clip-vision"`) holds a CLIP vision config and the vision tower.
//! Matrices are stored as f32, f16, q8_0 or q4_0 (blocks of 32 along each row); norms, biases and
//! small tables stay f32 ([`storage_type`]). Reading works on bytes only, so it runs in wasm.

use std::collections::BTreeMap;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::clip::{ClipVision, ClipVisionConfig, load_clip_vision_tensors};
use crate::config::Vip5Config;
use crate::error::{Result, Vip5Error};
use crate::gguf::{Gguf, GgufWriter, MetaValue, TensorInfo};
use crate::model::Vip5Model;
use crate::prompt::templates::TEMPLATES;
use crate::quant::{self, GgmlType};
use crate::weights::{LoadReport, NamedTensor, apply_checkpoint};

/// The bundle layout version this library writes; it reads this one and older ones it knows.
pub const BUNDLE_VERSION: u32 = 1;
/// `general.architecture` of every bundle.
pub const ARCHITECTURE: &str = "vip5";
/// Matrices with fewer values than this (4 KiB of f32) stay f32: quantizing them saves nothing
/// worth their precision.
pub const SMALL_TABLE: usize = 1024;

/// The optional tensor of item image features, `[items + 1, feat_dim]` (row = item id; row 0 and
/// items without a photo are zero).
pub const ITEM_FEATURES: &str = "vip5.item_features";

const KEY_VERSION: &str = "vip5.bundle.version";
const KEY_KIND: &str = "vip5.bundle.kind";
const KEY_QUANT: &str = "vip5.bundle.quant";
const KEY_CONFIG: &str = "vip5.config";
const KEY_TOKENIZER: &str = "vip5.tokenizer.json";
const KEY_TEMPLATES: &str = "vip5.templates";
const KEY_CATALOG_KEYS: &str = "vip5.catalog.keys";
const KEY_CATALOG_TITLES: &str = "vip5.catalog.titles";

/// What a bundle holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    Model,
    ClipVision,
}

impl BundleKind {
    fn name(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::ClipVision => "clip-vision",
        }
    }
}

/// One catalogue entry; its model id is its position + 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogItem {
    /// The shop's stable key (ASIN, SKU).
    pub key: String,
    pub title: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct TemplateRecord {
    id: String,
    source: String,
}

/// The storage type of a tensor in a bundle quantized as `quant`: matrices (and CLIP's 4-D patch
/// convolution) whose rows fill whole blocks are quantized; 1-D tensors (norm gains, biases) and
/// small tables stay f32.
pub fn storage_type(shape: &[usize], quant: GgmlType) -> GgmlType {
    let numel: usize = shape.iter().product();
    let is_matrix = shape.len() >= 2;
    let rows_fill_blocks = shape.last().is_some_and(|&d| d % quant.block_len() == 0);
    if is_matrix && rows_fill_blocks && numel >= SMALL_TABLE { quant } else { GgmlType::F32 }
}

fn encode_tensors(
    writer: &mut GgufWriter,
    tensors: &BTreeMap<String, NamedTensor>,
    quant: GgmlType,
) -> Result<()> {
    for (name, t) in tensors {
        let ty = storage_type(&t.shape, quant);
        writer.tensor(name.as_str(), &t.shape, ty, quant::quantize(&t.data, ty)?)?;
    }
    Ok(())
}

fn header(writer: &mut GgufWriter, kind: BundleKind, quant: GgmlType, config_json: String) {
    writer
        .metadata("general.architecture", MetaValue::String(ARCHITECTURE.into()))
        .metadata(KEY_VERSION, MetaValue::U32(BUNDLE_VERSION))
        .metadata(KEY_KIND, MetaValue::String(kind.name().into()))
        .metadata(KEY_QUANT, MetaValue::String(quant.name().into()))
        .metadata(KEY_CONFIG, MetaValue::String(config_json));
}

/// A model with item tokens names exactly its catalogue: token N is catalogue entry N.
pub fn check_item_tokens(cfg: &Vip5Config, catalog_items: usize) -> Result<()> {
    if cfg.item_tokens != 0 && cfg.item_tokens != catalog_items {
        return Err(Vip5Error::Bundle(format!(
            "the model has {} item tokens but the catalogue has {catalog_items} items",
            cfg.item_tokens
        )));
    }
    Ok(())
}

/// Writes a model bundle. `tensors` are the model's tensors by name (PyTorch layout), as
/// [`crate::weights::save_safetensors`] writes them.
pub fn write_model_bundle(
    cfg: &Vip5Config,
    tensors: &BTreeMap<String, NamedTensor>,
    tokenizer_json: &str,
    catalog: &[CatalogItem],
    item_features: Option<&[f32]>,
    quant: GgmlType,
) -> Result<Vec<u8>> {
    if !catalog.is_empty() {
        check_item_tokens(cfg, catalog.len())?;
    }
    let mut w = GgufWriter::new();
    let config_json =
        serde_json::to_string(cfg).map_err(|e| Vip5Error::Bundle(format!("config: {e}")))?;
    header(&mut w, BundleKind::Model, quant, config_json);
    let templates: Vec<TemplateRecord> = TEMPLATES
        .iter()
        .map(|t| TemplateRecord { id: t.id.into(), source: t.source.into() })
        .collect();
    let templates = serde_json::to_string(&templates)
        .map_err(|e| Vip5Error::Bundle(format!("templates: {e}")))?;
    // The tokenizer is stored minified: it is read by a parser, and whitespace is download size.
    let tokenizer: serde_json::Value = serde_json::from_str(tokenizer_json)
        .map_err(|e| Vip5Error::Bundle(format!("the tokenizer is not JSON: {e}")))?;
    w.metadata(KEY_TOKENIZER, MetaValue::String(tokenizer.to_string()))
        .metadata(KEY_TEMPLATES, MetaValue::String(templates))
        .metadata(
            KEY_CATALOG_KEYS,
            MetaValue::Array(catalog.iter().map(|c| MetaValue::String(c.key.clone())).collect()),
        )
        .metadata(
            KEY_CATALOG_TITLES,
            MetaValue::Array(catalog.iter().map(|c| MetaValue::String(c.title.clone())).collect()),
        );
    encode_tensors(&mut w, tensors, quant)?;
    if let Some(features) = item_features {
        let shape = [catalog.len() + 1, cfg.feat_dim];
        if features.len() != shape[0] * shape[1] {
            return Err(Vip5Error::Bundle(format!(
                "{} item feature values for {} items of {} dimensions",
                features.len(),
                catalog.len(),
                cfg.feat_dim
            )));
        }
        let ty = storage_type(&shape, quant);
        w.tensor(ITEM_FEATURES, &shape, ty, quant::quantize(features, ty)?)?;
    }
    Ok(w.to_bytes())
}

/// Writes a CLIP vision bundle from the vision tensors (HF names).
pub fn write_clip_bundle(
    cfg: &ClipVisionConfig,
    tensors: &BTreeMap<String, NamedTensor>,
    quant: GgmlType,
) -> Result<Vec<u8>> {
    let mut w = GgufWriter::new();
    let config_json =
        serde_json::to_string(cfg).map_err(|e| Vip5Error::Bundle(format!("config: {e}")))?;
    header(&mut w, BundleKind::ClipVision, quant, config_json);
    encode_tensors(&mut w, tensors, quant)?;
    Ok(w.to_bytes())
}

/// A parsed bundle, borrowing the file's bytes; tensors are decoded on demand.
#[derive(Debug)]
pub struct Bundle<'a> {
    gguf: Gguf<'a>,
    pub kind: BundleKind,
    pub version: u32,
    /// `f32`, `f16`, `q8_0` or `q4_0`.
    pub quant: String,
}

/// What [`Bundle::describe`] reports about a bundle.
#[derive(Debug, Clone, Serialize)]
pub struct BundleSummary {
    pub kind: &'static str,
    pub version: u32,
    pub quant: String,
    pub tensors: usize,
    pub parameters: usize,
    /// Bytes by storage type.
    pub tensor_bytes: BTreeMap<&'static str, usize>,
    pub catalog_items: usize,
}

impl<'a> Bundle<'a> {
    /// Parses and checks a bundle: GGUF structure, architecture, version and kind.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self> {
        let gguf = Gguf::parse(bytes)
            .map_err(|e| Vip5Error::Bundle(format!("not a readable VIP5 bundle: {e}")))?;
        let arch = gguf.get_str("general.architecture")?;
        if arch != ARCHITECTURE {
            return Err(Vip5Error::Bundle(format!(
                "a GGUF file for the `{arch}` architecture, not a VIP5 bundle (export one with \
                 `trainer export`)"
            )));
        }
        let version = gguf.get_u64(KEY_VERSION)?;
        if version == 0 || version > u64::from(BUNDLE_VERSION) {
            return Err(Vip5Error::Bundle(format!(
                "bundle format version {version}; this library reads versions 1 to \
                 {BUNDLE_VERSION}: update vip5 or re-export the bundle"
            )));
        }
        let kind = match gguf.get_str(KEY_KIND)? {
            "model" => BundleKind::Model,
            "clip-vision" => BundleKind::ClipVision,
            other => {
                return Err(Vip5Error::Bundle(format!(
                    "unknown bundle kind `{other}` (expected model or clip-vision)"
                )));
            }
        };
        let quant = gguf.get_str(KEY_QUANT)?.to_string();
        Ok(Self { kind, version: version as u32, quant, gguf })
    }

    fn expect_kind(&self, kind: BundleKind) -> Result<()> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(Vip5Error::Bundle(format!(
                "this is a {} bundle, but a {} bundle is needed here",
                self.kind.name(),
                kind.name()
            )))
        }
    }

    /// The model config of a model bundle.
    pub fn config(&self) -> Result<Vip5Config> {
        self.expect_kind(BundleKind::Model)?;
        let cfg: Vip5Config = serde_json::from_str(self.gguf.get_str(KEY_CONFIG)?)
            .map_err(|e| Vip5Error::Bundle(format!("the bundle's model config is invalid: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The vision config of a CLIP bundle.
    pub fn clip_config(&self) -> Result<ClipVisionConfig> {
        self.expect_kind(BundleKind::ClipVision)?;
        let cfg: ClipVisionConfig = serde_json::from_str(self.gguf.get_str(KEY_CONFIG)?)
            .map_err(|e| Vip5Error::Bundle(format!("the bundle's CLIP config is invalid: {e}")))?;
        cfg.validate()
            .map_err(|e| Vip5Error::Bundle(format!("the bundle's CLIP config is invalid: {e}")))?;
        Ok(cfg)
    }

    /// The tokenizer JSON of a model bundle.
    pub fn tokenizer_json(&self) -> Result<&str> {
        self.expect_kind(BundleKind::Model)?;
        self.gguf.get_str(KEY_TOKENIZER)
    }

    /// The item catalogue (model id = index + 1).
    pub fn catalog(&self) -> Result<Vec<CatalogItem>> {
        self.expect_kind(BundleKind::Model)?;
        let strings = |key: &str| -> Result<Vec<&str>> {
            self.gguf
                .get(key)
                .ok_or_else(|| Vip5Error::Bundle(format!("metadata `{key}` is missing")))?
                .as_strings()
                .ok_or_else(|| {
                    Vip5Error::Bundle(format!("metadata `{key}` is not an array of strings"))
                })
        };
        let keys = strings(KEY_CATALOG_KEYS)?;
        let titles = strings(KEY_CATALOG_TITLES)?;
        if keys.len() != titles.len() {
            return Err(Vip5Error::Bundle(format!(
                "the catalogue has {} keys but {} titles",
                keys.len(),
                titles.len()
            )));
        }
        Ok(keys
            .into_iter()
            .zip(titles)
            .map(|(k, t)| CatalogItem { key: k.into(), title: t.into() })
            .collect())
    }

    /// Checks that the bundle's templates are this library's, byte for byte: a model trained on
    /// other prompt text would get prompts it never saw.
    pub fn check_templates(&self) -> Result<()> {
        self.expect_kind(BundleKind::Model)?;
        let records: Vec<TemplateRecord> = serde_json::from_str(self.gguf.get_str(KEY_TEMPLATES)?)
            .map_err(|e| Vip5Error::Bundle(format!("the bundle's templates are invalid: {e}")))?;
        for r in &records {
            match TEMPLATES.iter().find(|t| t.id == r.id) {
                Some(t) if t.source == r.source => {}
                Some(_) => {
                    return Err(Vip5Error::Bundle(format!(
                        "template {} in the bundle differs from this library's",
                        r.id
                    )));
                }
                None => {
                    return Err(Vip5Error::Bundle(format!(
                        "the bundle's template {} is unknown to this library",
                        r.id
                    )));
                }
            }
        }
        Ok(())
    }

    pub fn tensor_infos(&self) -> &[TensorInfo] {
        &self.gguf.tensors
    }

    fn decode(&self, info: &TensorInfo) -> Result<Vec<f32>> {
        quant::dequantize(self.gguf.tensor_bytes(info), info.ty, info.numel())
            .map_err(|e| Vip5Error::Bundle(format!("tensor `{}`: {e}", info.name)))
    }

    /// The item image features, when the bundle has them, checked against the catalogue and the
    /// model's feature size.
    pub fn item_features(&self, items: usize, feat_dim: usize) -> Result<Option<Vec<f32>>> {
        let Some(info) = self.gguf.tensors.iter().find(|t| t.name == ITEM_FEATURES) else {
            return Ok(None);
        };
        if info.shape != [items + 1, feat_dim] {
            return Err(Vip5Error::Bundle(format!(
                "item features have shape {:?}; {} catalogue items of {feat_dim}-d features \
                 need [{}, {feat_dim}]",
                info.shape,
                items,
                items + 1
            )));
        }
        self.decode(info).map(Some)
    }

    /// Every model tensor decoded to f32 (the item features are not model weights).
    pub fn tensors(&self) -> Result<BTreeMap<String, NamedTensor>> {
        self.gguf
            .tensors
            .iter()
            .filter(|info| info.name != ITEM_FEATURES)
            .map(|info| {
                Ok((
                    info.name.clone(),
                    NamedTensor { shape: info.shape.clone(), data: self.decode(info)? },
                ))
            })
            .collect()
    }

    /// Builds the VIP5 model on `device` (every tensor must be present with its shape).
    pub fn load_model(&self, device: &Device) -> Result<(Vip5Model, Vip5Config)> {
        let cfg = self.config()?;
        self.check_templates()?;
        let model = Vip5Model::new(&cfg, device);
        let (model, _) = apply_checkpoint(model, self.tensors()?, |_| false)?;
        Ok((model, cfg))
    }

    /// Builds the CLIP vision tower on `device`.
    pub fn load_clip(&self, device: &Device) -> Result<(ClipVision, ClipVisionConfig, LoadReport)> {
        let cfg = self.clip_config()?;
        let model = ClipVision::new(&cfg, device);
        let (model, report) = load_clip_vision_tensors(model, self.tensors()?)?;
        Ok((model, cfg, report))
    }

    /// Sizes and counts, for `trainer export` and the page.
    pub fn describe(&self) -> BundleSummary {
        let mut tensor_bytes = BTreeMap::new();
        for t in &self.gguf.tensors {
            *tensor_bytes.entry(t.ty.name()).or_insert(0) += t.len;
        }
        BundleSummary {
            kind: self.kind.name(),
            version: self.version,
            quant: self.quant.clone(),
            tensors: self.gguf.tensors.len(),
            parameters: self.gguf.tensors.iter().map(TensorInfo::numel).sum(),
            tensor_bytes,
            catalog_items: self.catalog().map(|c| c.len()).unwrap_or(0),
        }
    }
}

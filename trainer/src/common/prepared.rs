//! The prepared data folder `trainer prepare` writes and the other commands read.
//!
//! - `manifest.json`: counts, sources, the re-indexing seed, warnings
//! - `sequences.txt`: `user item item ...` in time order (model item numbers)
//! - `items.tsv`: `id<TAB>key<TAB>title` (key = ASIN/SKU, the stable id a shop uses)
//! - `users.tsv`: `id<TAB>key`
//! - `training_only_users.txt` (temporal split only): the users who train but are not evaluated,
//!   one id per line
//! - `features.safetensors` (optional): `features` `[items + 1, dim]` f32, row = item id (row 0 and
//!   items without a photo are zero: the documented placeholder), `has_photo` `[items + 1]` u8

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use vip5::data::temporal::TemporalSummary;
use vip5::data::{UserSequence, parse_sequential_data};

use super::features_file::f32_le_bytes;
use super::files::{read_text, write_atomic};

/// `manifest.json` of a prepared folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub users: usize,
    pub items: usize,
    pub interactions: usize,
    pub reindex_seed: Option<u64>,
    /// Items numbered along training successor chains (`--successor-index`).
    #[serde(default)]
    pub successor_index: bool,
    pub titles: usize,
    pub feature_dim: Option<usize>,
    pub items_with_photo: usize,
    pub warnings: BTreeMap<String, usize>,
    pub sources: BTreeMap<String, String>,
    /// A temporal split's cutoff and counts; `None`: leave-one-out. Its training-only users are
    /// listed in `training_only_users.txt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporal: Option<TemporalSummary>,
}

pub const FORMAT: &str = "vip5-prepared-1";

/// A prepared data set in memory.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub manifest: Manifest,
    pub sequences: Vec<UserSequence>,
    /// Item key (ASIN) of item `id` at `id - 1`.
    pub item_keys: Vec<String>,
    pub titles: HashMap<u32, String>,
    pub user_keys: Vec<String>,
    /// `[items + 1] x dim` row-major, when features were given.
    pub features: Option<(usize, Vec<f32>)>,
}

impl Prepared {
    /// Every item number, 1..=I.
    pub fn all_items(&self) -> Vec<u32> {
        (1..=self.item_keys.len() as u32).collect()
    }

    /// Errors when the prepared image features are not `feat_dim`-d (a model for another CLIP):
    /// otherwise every item would silently get a zero feature.
    pub fn check_feature_dim(&self, dir: &Path, feat_dim: usize) -> Result<()> {
        match &self.features {
            Some((dim, _)) if *dim != feat_dim => {
                bail!(
                    "{} has {dim}-d image features but the model takes {feat_dim}-d ones",
                    dir.display()
                )
            }
            _ => Ok(()),
        }
    }

    /// What the prompts call user `user`: their key (e.g. the reviewer id), else their number.
    pub fn user_description(&self, user: u32) -> String {
        (user as usize)
            .checked_sub(1)
            .and_then(|i| self.user_keys.get(i))
            .cloned()
            .unwrap_or_else(|| user.to_string())
    }

    /// The feature row of an item (zeros when it has no photo or no features were given).
    pub fn feature(&self, item: u32, dim: usize) -> Vec<f32> {
        match &self.features {
            Some((d, data)) if *d == dim => {
                let i = item as usize;
                data.get(i * d..(i + 1) * d).map(<[f32]>::to_vec).unwrap_or_else(|| vec![0.0; dim])
            }
            _ => vec![0.0; dim],
        }
    }
}

pub fn write_prepared(dir: &Path, p: &Prepared) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut seq = Vec::new();
    for s in &p.sequences {
        write!(seq, "{}", s.user)?;
        for i in &s.items {
            write!(seq, " {i}")?;
        }
        writeln!(seq)?;
    }
    write_atomic(&dir.join("sequences.txt"), &seq)?;
    let mut items = Vec::new();
    for (i, key) in p.item_keys.iter().enumerate() {
        let title = p.titles.get(&(i as u32 + 1)).map(String::as_str).unwrap_or("");
        writeln!(items, "{}\t{key}\t{}", i + 1, title.replace(['\t', '\n'], " "))?;
    }
    write_atomic(&dir.join("items.tsv"), &items)?;
    let mut users = Vec::new();
    for (i, key) in p.user_keys.iter().enumerate() {
        writeln!(users, "{}\t{key}", i + 1)?;
    }
    write_atomic(&dir.join("users.tsv"), &users)?;
    let training_only = dir.join("training_only_users.txt");
    if p.manifest.temporal.is_some() {
        let mut ids = Vec::new();
        for s in p.sequences.iter().filter(|s| !s.evaluated) {
            writeln!(ids, "{}", s.user)?;
        }
        write_atomic(&training_only, &ids)?;
    } else if training_only.exists() {
        // A leave-one-out folder prepared over a temporal one: no user is training-only.
        std::fs::remove_file(&training_only)
            .with_context(|| format!("removing {}", training_only.display()))?;
    }
    if let Some((dim, data)) = &p.features {
        let rows = data.len() / dim;
        let mut has = vec![0u8; rows];
        for (r, flag) in has.iter_mut().enumerate() {
            *flag = u8::from(data[r * dim..(r + 1) * dim].iter().any(|&x| x != 0.0));
        }
        let bytes = f32_le_bytes(data);
        let views = vec![
            (
                "features".to_string(),
                safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    vec![rows, *dim],
                    &bytes,
                )?,
            ),
            (
                "has_photo".to_string(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::U8, vec![rows], &has)?,
            ),
        ];
        write_atomic(&dir.join("features.safetensors"), &safetensors::serialize(views, None)?)?;
    }
    write_atomic(&dir.join("manifest.json"), serde_json::to_string_pretty(&p.manifest)?.as_bytes())
}

/// Reads a prepared folder.
pub fn read_prepared(dir: &Path) -> Result<Prepared> {
    let manifest: Manifest = serde_json::from_str(&read_text(&dir.join("manifest.json"))?)
        .with_context(|| format!("{}/manifest.json is not a prepared manifest", dir.display()))?;
    if manifest.format != FORMAT {
        bail!(
            "{}: format `{}`, expected `{FORMAT}` (re-run trainer prepare)",
            dir.display(),
            manifest.format
        );
    }
    let mut sequences = parse_sequential_data(&read_text(&dir.join("sequences.txt"))?)
        .with_context(|| format!("in {}/sequences.txt", dir.display()))?;
    if manifest.temporal.is_some() {
        let path = dir.join("training_only_users.txt");
        let mut training_only = std::collections::HashSet::new();
        for (n, line) in read_text(&path)?.lines().enumerate() {
            let id: u32 = line.trim().parse().with_context(|| {
                format!("{} line {}: `{line}` is not a user id", path.display(), n + 1)
            })?;
            training_only.insert(id);
        }
        for s in &mut sequences {
            s.evaluated = !training_only.contains(&s.user);
        }
    }
    let mut item_keys = Vec::new();
    let mut titles = HashMap::new();
    for (n, line) in read_text(&dir.join("items.tsv"))?.lines().enumerate() {
        let mut f = line.splitn(3, '\t');
        let (Some(id), Some(key)) = (f.next(), f.next()) else {
            bail!("{}/items.tsv line {}: expected `id<TAB>key<TAB>title`", dir.display(), n + 1);
        };
        if id.parse::<usize>().ok() != Some(n + 1) {
            bail!("{}/items.tsv line {}: id `{id}` out of order", dir.display(), n + 1);
        }
        item_keys.push(key.to_string());
        if let Some(t) = f.next().filter(|t| !t.is_empty()) {
            titles.insert(n as u32 + 1, t.to_string());
        }
    }
    let user_keys = read_text(&dir.join("users.tsv"))?
        .lines()
        .map(|l| l.split_once('\t').map(|(_, k)| k.to_string()).unwrap_or_default())
        .collect();
    let features = if manifest.feature_dim.is_some() {
        let path = dir.join("features.safetensors");
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let t = vip5::weights::read_safetensors(&bytes)?;
        let f = t
            .get("features")
            .with_context(|| format!("{}: no `features` tensor", path.display()))?;
        let rows = item_keys.len() + 1;
        let &[got_rows, dim] = f.shape.as_slice() else {
            bail!(
                "{}: `features` has shape {:?}, expected [{rows}, dim] (re-run trainer prepare)",
                path.display(),
                f.shape
            );
        };
        if got_rows != rows || dim == 0 {
            bail!(
                "{}: `features` has shape {:?}, expected [{rows}, dim] for {} items (re-run trainer prepare)",
                path.display(),
                f.shape,
                item_keys.len()
            );
        }
        Some((dim, f.data.clone()))
    } else {
        None
    };
    Ok(Prepared { manifest, sequences, item_keys, titles, user_keys, features })
}

//! `trainer prepare`: reads a data set (the P5/VIP5 layout, a raw one, or a shop's orders and
//! catalogue as CSV/TSV), optional titles and image features, optionally re-indexes the items,
//! and writes a prepared folder (its layout: [`crate::common::prepared`]) the other commands read.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use vip5::data::shop::{
    CatalogOptions, Delimiter, InteractionOptions, Repeats, parse_catalog, parse_interactions,
    parse_timestamp,
};
use vip5::data::temporal::{TemporalSummary, cutoff_for_last_days, temporal_split};
use vip5::data::{
    ItemPermutation, UserSequence, dataset_stats, parse_raw_sequences, parse_sequential_data,
    reindex_items,
};

use crate::common::features_file::read_features;
use crate::common::files::read_text;
use crate::common::prepared::{FORMAT, Manifest, Prepared, write_prepared};

#[derive(Args)]
pub struct PrepareArgs {
    /// P5/VIP5 layout: `sequential_data.txt` (`user item item ...`); needs `--datamaps`.
    #[arg(long, conflicts_with = "raw")]
    sequential: Option<PathBuf>,
    /// P5/VIP5 `datamaps.json` (`id2item`, `id2user`): item and user keys of the numbered data.
    #[arg(long, requires = "sequential")]
    datamaps: Option<PathBuf>,
    /// Raw layout instead: one line per user, `reviewer-id ASIN ASIN ...` in time order. Items are
    /// numbered by first appearance, users by line.
    #[arg(long)]
    raw: Option<PathBuf>,
    /// A shop's orders instead: CSV (or TSV, by the `.tsv` extension) with a header and a user,
    /// an item and a timestamp column (Unix seconds or ISO 8601). Each user's rows in time order,
    /// equal timestamps in file order.
    #[arg(long, conflicts_with_all = ["raw", "sequential"])]
    interactions: Option<PathBuf>,
    /// The user column of `--interactions`.
    #[arg(long, default_value = "user_id", requires = "interactions")]
    user_column: String,
    /// The item column of `--interactions`.
    #[arg(long, default_value = "item_id", requires = "interactions")]
    item_column: String,
    /// The timestamp column of `--interactions`.
    #[arg(long, default_value = "timestamp", requires = "interactions")]
    time_column: String,
    /// A user's repeat purchases of an item: `collapse` keeps the first, `keep` keeps them all.
    #[arg(long, value_enum, default_value = "collapse", requires = "interactions")]
    repeats: RepeatsArg,
    /// k-core filter of `--interactions`: users with fewer interactions are dropped (at least 3:
    /// leave-one-out needs a training, a validation and a test item).
    #[arg(long, default_value_t = 5, requires = "interactions")]
    min_user_interactions: usize,
    /// Temporal split of `--interactions` instead of leave-one-out: purchases at or after this
    /// time (ISO 8601 date or date-time, or Unix seconds) are the test period; each user's first
    /// one is that user's test target, and everything before it trains.
    #[arg(long, requires = "interactions", conflicts_with = "test_days")]
    test_after: Option<String>,
    /// Temporal split holding out the last N days (before the newest purchase) as the test
    /// period, e.g. 30 for "how would it have done last month".
    #[arg(long, requires = "interactions")]
    test_days: Option<u32>,
    /// k-core filter of `--interactions`: items bought fewer times are dropped.
    #[arg(long, default_value_t = 5, requires = "interactions")]
    min_item_interactions: usize,
    /// The shop's catalogue: CSV/TSV with `item_id,title[,category][,image]`; gives the titles.
    #[arg(long, conflicts_with = "titles")]
    catalog: Option<PathBuf>,
    /// The item column of `--catalog`.
    #[arg(long, default_value = "item_id", requires = "catalog")]
    catalog_item_column: String,
    /// The title column of `--catalog`.
    #[arg(long, default_value = "title", requires = "catalog")]
    title_column: String,
    /// Optional `ASIN title` lines (item titles for the B-3/B-4 prompts and the demo page).
    #[arg(long)]
    titles: Option<PathBuf>,
    /// Optional image features keyed by item key (`trainer features` output).
    #[arg(long)]
    features: Option<PathBuf>,
    /// Re-number the items with a seeded random permutation (removes the id leak of
    /// first-appearance numbering, where max(history)+1 is often the answer).
    #[arg(long)]
    reindex_seed: Option<u64>,
    /// Then number the items along chains of the training successor graph (after
    /// `--reindex-seed`, if given): an item's most frequent next purchase in the training parts
    /// gets the next id, so ids that share T5 word pieces are items bought one after another. Only
    /// training positions are read (never a validation or test target), so this is an item
    /// tokenization learned from the training data, not a leak.
    #[arg(long)]
    successor_index: bool,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RepeatsArg {
    Keep,
    Collapse,
}

/// `id2item` / `id2user` of a datamaps.json as key vectors indexed by `id - 1`.
fn datamaps_keys(json: &serde_json::Value, field: &str, path: &Path) -> Result<Vec<String>> {
    let map = json
        .get(field)
        .and_then(|m| m.as_object())
        .with_context(|| format!("{}: no `{field}` object", path.display()))?;
    let mut keys = vec![String::new(); map.len()];
    for (id, key) in map {
        let i: usize =
            id.parse().ok().filter(|&i| i >= 1 && i <= map.len()).with_context(|| {
                format!(
                    "{}: `{field}` has id `{id}`; ids must be 1..={}",
                    path.display(),
                    map.len()
                )
            })?;
        keys[i - 1] = key
            .as_str()
            .with_context(|| format!("{}: `{field}`.`{id}` is not a string", path.display()))?
            .to_string();
    }
    Ok(keys)
}

pub fn run(args: PrepareArgs) -> Result<()> {
    let mut warnings: BTreeMap<String, usize> = BTreeMap::new();
    let mut sources = BTreeMap::new();
    let mut temporal = None;
    let (mut sequences, item_keys, user_keys) =
        match (&args.sequential, &args.raw, &args.interactions) {
            (Some(seq_path), None, None) => {
                let dm_path = args
                    .datamaps
                    .as_ref()
                    .context("--sequential needs --datamaps (the item keys)")?;
                let sequences = parse_sequential_data(&read_text(seq_path)?)
                    .with_context(|| format!("in {}", seq_path.display()))?;
                let dm: serde_json::Value = serde_json::from_str(&read_text(dm_path)?)
                    .with_context(|| format!("{} is not JSON", dm_path.display()))?;
                let item_keys = datamaps_keys(&dm, "id2item", dm_path)?;
                let user_keys = datamaps_keys(&dm, "id2user", dm_path)?;
                for (line, s) in sequences.iter().enumerate() {
                    if s.user as usize > user_keys.len() {
                        bail!(
                            "{} line {}: user {} is not in {} (`id2user`)",
                            seq_path.display(),
                            line + 1,
                            s.user,
                            dm_path.display()
                        );
                    }
                    if let Some(&bad) = s.items.iter().find(|&&i| i as usize > item_keys.len()) {
                        bail!(
                            "{} line {}: item {bad} is not in {} (`id2item`)",
                            seq_path.display(),
                            line + 1,
                            dm_path.display()
                        );
                    }
                }
                sources.insert("sequential".into(), seq_path.display().to_string());
                sources.insert("datamaps".into(), dm_path.display().to_string());
                (sequences, item_keys, user_keys)
            }
            (None, Some(raw_path), None) => {
                let remapped = parse_raw_sequences(&read_text(raw_path)?)
                    .with_context(|| format!("in {}", raw_path.display()))?;
                sources.insert("raw".into(), raw_path.display().to_string());
                (remapped.sequences, remapped.item_names, remapped.user_names)
            }
            (None, None, Some(path)) => {
                read_shop_interactions(path, &args, &mut sources, &mut warnings, &mut temporal)?
            }
            _ => bail!("give either --sequential with --datamaps, --raw, or --interactions"),
        };

    // An evaluated user needs a training item, a validation item and a test item.
    let before = sequences.len();
    sequences.retain(|s| s.items.len() >= if s.evaluated { 3 } else { 1 });
    if before != sequences.len() {
        warnings.insert("users with fewer than 3 items (skipped)".into(), before - sequences.len());
    }
    if sequences.is_empty() {
        bail!("no user has the 3 items leave-one-out splits need");
    }

    let mut item_keys = item_keys;
    if let Some(seed) = args.reindex_seed {
        let (reindexed, perm) = reindex_items(&sequences, seed)?;
        sequences = reindexed;
        item_keys = renumber_keys(item_keys, &perm)?;
    }
    if args.successor_index {
        let perm = ItemPermutation::successor_chains(&sequences);
        sequences = perm.apply(&sequences)?;
        item_keys = renumber_keys(item_keys, &perm)?;
    }
    let key_to_id: HashMap<&str, u32> =
        item_keys.iter().enumerate().map(|(i, k)| (k.as_str(), i as u32 + 1)).collect();

    let mut titles = HashMap::new();
    // A title by item key: kept for a known key with a title, counted otherwise.
    let mut add_title = |key: &str, title: &str, unknown: &str| match key_to_id.get(key) {
        Some(&id) if !title.is_empty() => {
            titles.insert(id, title.to_string());
        }
        Some(_) => *warnings.entry("items with an empty title".into()).or_default() += 1,
        None => *warnings.entry(unknown.into()).or_default() += 1,
    };
    if let Some(path) = &args.titles {
        for line in read_text(path)?.lines() {
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            let (key, title) = line.split_once(' ').unwrap_or((line, ""));
            add_title(key, title.trim(), "titles of unknown items (ignored)");
        }
        sources.insert("titles".into(), path.display().to_string());
    }
    let mut catalog_rows = None;
    if let Some(path) = &args.catalog {
        let name = path.display().to_string();
        let options = CatalogOptions {
            delimiter: Delimiter::for_file_name(&name),
            item_column: args.catalog_item_column.clone(),
            title_column: args.title_column.clone(),
            ..Default::default()
        };
        let rows = parse_catalog(&read_text(path)?, &name, &options)?;
        let listed: std::collections::HashSet<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        let unlisted = item_keys.iter().filter(|k| !listed.contains(k.as_str())).count();
        for row in &rows {
            add_title(
                &row.key,
                &row.title,
                "catalogue items without an interaction (not recommendable)",
            );
        }
        catalog_rows = Some(unlisted);
        sources.insert("catalog".into(), name);
    }
    if let Some(unlisted) = catalog_rows.filter(|&n| n > 0) {
        warnings.insert("items missing from the catalogue".into(), unlisted);
    }

    let mut features = None;
    let mut items_with_photo = 0;
    if let Some(path) = &args.features {
        let map = read_features(path)?;
        let dim = map.values().next().map(Vec::len).context("the features file is empty")?;
        let mut matrix = vec![0f32; (item_keys.len() + 1) * dim];
        for (key, v) in &map {
            if v.len() != dim {
                bail!(
                    "{}: feature `{key}` has {} values, the others {dim}",
                    path.display(),
                    v.len()
                );
            }
            match key_to_id.get(key.as_str()) {
                Some(&id) => {
                    matrix[id as usize * dim..(id as usize + 1) * dim].copy_from_slice(v);
                    items_with_photo += 1;
                }
                None => {
                    *warnings.entry("features of unknown items (ignored)".into()).or_default() += 1
                }
            }
        }
        let missing = item_keys.len() - items_with_photo;
        if missing > 0 {
            warnings.insert("items without a photo (zero-vector placeholder)".into(), missing);
        }
        features = Some((dim, matrix));
        sources.insert("features".into(), path.display().to_string());
    }

    let stats = dataset_stats(&sequences);
    let manifest = Manifest {
        format: FORMAT.into(),
        users: stats.users,
        items: item_keys.len(),
        interactions: stats.interactions,
        reindex_seed: args.reindex_seed,
        successor_index: args.successor_index,
        titles: titles.len(),
        feature_dim: features.as_ref().map(|(d, _)| *d),
        items_with_photo,
        warnings,
        sources,
        temporal,
    };
    let prepared = Prepared { manifest, sequences, item_keys, titles, user_keys, features };
    write_prepared(&args.out, &prepared)?;
    let m = &prepared.manifest;
    println!(
        "prepared {}: {} users, {} items, {} interactions, {} titles, features: {}{}{}",
        args.out.display(),
        m.users,
        m.items,
        m.interactions,
        m.titles,
        m.feature_dim
            .map(|d| format!("{d}-d for {} items", m.items_with_photo))
            .unwrap_or_else(|| "none (zero placeholder)".into()),
        m.reindex_seed.map(|s| format!(", items re-indexed with seed {s}")).unwrap_or_default(),
        if m.successor_index { ", numbered along training successor chains" } else { "" }
    );
    if let Some(t) = &m.temporal {
        println!(
            "temporal split at {} (Unix seconds): {} users evaluated (test = first purchase from \
             then on), {} train only (nothing after the cutoff), {} with one purchase before it \
             (train only), {} with every purchase after it (dropped); {} later purchases dropped",
            t.cutoff,
            t.evaluated_users,
            t.training_only_users,
            t.too_little_history,
            t.only_after_cutoff,
            t.later_purchases_dropped
        );
    }
    for (what, n) in &m.warnings {
        eprintln!("warning: {n} {what}");
    }
    Ok(())
}

/// `--interactions`: the shop's orders as numbered sequences; what was skipped goes to the
/// manifest's warnings.
fn read_shop_interactions(
    path: &Path,
    args: &PrepareArgs,
    sources: &mut BTreeMap<String, String>,
    warnings: &mut BTreeMap<String, usize>,
    temporal: &mut Option<TemporalSummary>,
) -> Result<(Vec<UserSequence>, Vec<String>, Vec<String>)> {
    if args.min_user_interactions < 3 {
        bail!(
            "--min-user-interactions must be at least 3 (leave-one-out needs a training, a \
             validation and a test item)"
        );
    }
    let name = path.display().to_string();
    let options = InteractionOptions {
        delimiter: Delimiter::for_file_name(&name),
        user_column: args.user_column.clone(),
        item_column: args.item_column.clone(),
        time_column: args.time_column.clone(),
        repeats: match args.repeats {
            RepeatsArg::Keep => Repeats::Keep,
            RepeatsArg::Collapse => Repeats::Collapse,
        },
        min_user_interactions: args.min_user_interactions,
        min_item_interactions: args.min_item_interactions,
    };
    let shop = parse_interactions(&read_text(path)?, &name, &options)?;
    let summary = &shop.summary;
    eprintln!(
        "{name}: {} rows, {} interactions kept ({} k-core rounds)",
        summary.rows, summary.kept, summary.k_core_rounds
    );
    for (reason, n) in &summary.skipped {
        warnings.insert(reason.clone(), *n);
    }
    sources.insert("interactions".into(), name.clone());
    let cutoff = match (&args.test_after, args.test_days) {
        (Some(text), _) => Some(parse_timestamp(text).with_context(|| {
            format!(
                "--test-after `{text}`: expected an ISO 8601 date or date-time, or Unix seconds"
            )
        })?),
        (None, Some(days)) => Some(cutoff_for_last_days(&shop.timestamps, days)?),
        (None, None) => None,
    };
    let mut sequences = shop.remapped.sequences;
    if let Some(cutoff) = cutoff {
        let (split, summary) = temporal_split(&sequences, &shop.timestamps, cutoff)
            .with_context(|| format!("temporal split of {name}"))?;
        sequences = split;
        *temporal = Some(summary);
    }
    Ok((sequences, shop.remapped.item_names, shop.remapped.user_names))
}

/// Item keys in the order of a renumbering (`keys[id - 1]` is item `id`'s key).
fn renumber_keys(keys: Vec<String>, perm: &ItemPermutation) -> Result<Vec<String>> {
    let mut out = vec![String::new(); keys.len()];
    for (old, key) in (1u32..).zip(keys) {
        let new = perm.new_id(old).with_context(|| {
            format!(
                "re-numbering lost item {old} ({key}): it is in the item map but in no sequence"
            )
        })?;
        *out.get_mut(new as usize - 1).context("re-numbering gave an id past the item map")? = key;
    }
    Ok(out)
}

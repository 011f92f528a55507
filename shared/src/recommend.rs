//! The recommender a page (or `trainer recommend`) runs: a bundle's model, tokenizer and
//! catalogue, and a visitor's history given as the shop's stable item keys. Everything that turns
//! a history into answers lives here once, so the browser and the native tool give the same
//! results for the same bundle.
//!
//! Visitors are anonymous: prompts use `{user_desc}` templates with
//! [`crate::prompt::personalize::ANONYMOUS_VISITOR`]. Keys
//! the bundle does not know are skipped (and counted), so a history outlives a re-indexed bundle.

use std::collections::HashMap;

use burn::tensor::Device;
use serde::Serialize;

use crate::Task;
use crate::batch::{EncoderBatch, EncoderSample};
use crate::bundle::{Bundle, CatalogItem};
use crate::config::Vip5Config;
use crate::decode::{BeamConfig, TokenConstraint, beam_search, yes_probability};
use crate::error::{Result, Vip5Error};
use crate::model::Vip5Model;
use crate::prompt::personalize::{
    PersonalRequest, Truncation, build_personal_prompt, prompt_history,
};
use crate::prompt::tokens::PromptTokenizer;
use crate::prompt::{NO_TOKEN_ID, YES_TOKEN_ID};
use crate::trie::{ItemConstraint, ItemTrie, TrieMask};

/// Templates used for visitors (seen in training, `{user_desc}` slot).
pub const SEQUENTIAL_TEMPLATE: &str = "A-6";
pub const YES_NO_TEMPLATE: &str = "A-8";
pub const CANDIDATES_TEMPLATE: &str = "B-5";
/// Input budget in tokens (VIP5's).
pub const MAX_INPUT_TOKENS: usize = 512;

/// One recommended or ranked item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredItem {
    /// Model id (1-based position in the catalogue).
    pub id: u32,
    pub key: String,
    pub title: String,
    /// Length-normalised log-probability of the beam (sequential/candidates) or P(yes).
    pub score: f32,
}

/// A history resolved against the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedHistory {
    pub ids: Vec<u32>,
    /// Keys the bundle does not know (kept by the caller, skipped in prompts).
    pub unknown: usize,
}

/// A VIP5 model ready to answer for one device.
pub struct Recommender {
    pub model: Vip5Model,
    pub cfg: Vip5Config,
    pub tokenizer: PromptTokenizer,
    pub catalog: Vec<CatalogItem>,
    key_to_id: HashMap<String, u32>,
    trie: ItemTrie,
    /// `[items + 1] x feat_dim` image features (row = item id), or none: zero placeholders.
    item_features: Option<Vec<f32>>,
    device: Device,
}

impl Recommender {
    /// Builds the model of a bundle on `device`.
    pub fn from_bundle(bytes: &[u8], device: Device) -> Result<Self> {
        Self::from_bundle_timed(bytes, device, &mut |_| {})
    }

    /// [`Self::from_bundle`], calling `step` after each loading step ("parse", "model",
    /// "tokenizer", "catalog", "item trie") so a caller can time them (the page does).
    pub fn from_bundle_timed(
        bytes: &[u8],
        device: Device,
        step: &mut dyn FnMut(&'static str),
    ) -> Result<Self> {
        let bundle = Bundle::from_bytes(bytes)?;
        step("parse");
        let (model, cfg) = bundle.load_model(&device)?;
        step("model");
        let tokenizer = PromptTokenizer::for_config(bundle.tokenizer_json()?.as_bytes(), &cfg)?;
        step("tokenizer");
        let catalog = bundle.catalog()?;
        if catalog.is_empty() {
            return Err(Vip5Error::Bundle(
                "the bundle has no item catalogue (export it with `trainer export --data`)".into(),
            ));
        }
        let item_features = bundle.item_features(catalog.len(), cfg.feat_dim)?;
        step("catalog");
        let recommender = Self::new(model, cfg, tokenizer, catalog, item_features, device)?;
        step("item trie");
        Ok(recommender)
    }

    pub fn new(
        model: Vip5Model,
        cfg: Vip5Config,
        tokenizer: PromptTokenizer,
        catalog: Vec<CatalogItem>,
        item_features: Option<Vec<f32>>,
        device: Device,
    ) -> Result<Self> {
        crate::bundle::check_item_tokens(&cfg, catalog.len())?;
        let mut key_to_id = HashMap::with_capacity(catalog.len());
        for (id, item) in (1u32..).zip(&catalog) {
            if key_to_id.insert(item.key.clone(), id).is_some() {
                return Err(Vip5Error::Bundle(format!(
                    "item key `{}` appears twice in the catalogue",
                    item.key
                )));
            }
        }
        let trie = ItemTrie::from_item_numbers(&tokenizer, 1..=catalog.len() as u32)?;
        Ok(Self { model, cfg, tokenizer, catalog, key_to_id, trie, item_features, device })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn item_id(&self, key: &str) -> Option<u32> {
        self.key_to_id.get(key).copied()
    }

    /// Model ids of the known keys, in order; unknown keys are counted and skipped.
    pub fn resolve(&self, keys: &[String]) -> ResolvedHistory {
        let ids: Vec<u32> = keys.iter().filter_map(|k| self.item_id(k)).collect();
        ResolvedHistory { unknown: keys.len() - ids.len(), ids }
    }

    fn resolve_known(&self, keys: &[String], what: &str) -> Result<Vec<u32>> {
        keys.iter()
            .map(|k| {
                self.item_id(k).ok_or_else(|| {
                    Vip5Error::Input(format!(
                        "{what}: item `{k}` is not in this bundle's catalogue"
                    ))
                })
            })
            .collect()
    }

    fn scored(&self, id: u32, score: f32) -> ScoredItem {
        let item = &self.catalog[id as usize - 1];
        ScoredItem { id, key: item.key.clone(), title: item.title.clone(), score }
    }

    /// The encoder input `recommend_next` builds for a history of model ids (oldest first): the
    /// visitor template, the newest `max_history_items`, the bundle's photo features.
    pub fn next_item_sample(&self, history: &[u32]) -> Result<EncoderSample> {
        self.sample(history, SEQUENTIAL_TEMPLATE, None, &[])
    }

    fn sample(
        &self,
        history: &[u32],
        template_id: &str,
        item: Option<u32>,
        candidates: &[u32],
    ) -> Result<EncoderSample> {
        self.sample_with_photo(history, template_id, item, candidates, None)
    }

    /// `photo`: features for one item id that override the bundle's (a visitor's own photo).
    fn sample_with_photo(
        &self,
        history: &[u32],
        template_id: &str,
        item: Option<u32>,
        candidates: &[u32],
        photo: Option<(u32, &[f32])>,
    ) -> Result<EncoderSample> {
        // The newest items the model was trained with; older ones still count as seen.
        let history = prompt_history(history, self.cfg.max_history_items);
        let prompt = build_personal_prompt(
            &self.tokenizer,
            &PersonalRequest {
                history,
                user: None,
                template_id,
                item,
                // the photo's product is outside the catalogue
                item_is_new: photo.is_some_and(|(photo_id, _)| Some(photo_id) == item),
                candidates,
                n_vis_tokens: self.cfg.n_vis_tokens,
                max_input_tokens: MAX_INPUT_TOKENS,
                truncation: Truncation::DropOldestItems,
            },
        )?;
        Ok(prompt.encoded.into_sample(&prompt.image_items, |id| {
            match (&self.item_features, photo) {
                (_, Some((photo_id, features))) if photo_id == id => features.to_vec(),
                (Some(f), _) if (id as usize) < self.catalog.len() + 1 => f
                    [id as usize * self.cfg.feat_dim..(id as usize + 1) * self.cfg.feat_dim]
                    .to_vec(),
                _ => vec![0.0; self.cfg.feat_dim],
            }
        }))
    }

    /// The history's catalogue ids; an error when none is known (the prompts need one).
    fn known_history(&self, history: &[String]) -> Result<ResolvedHistory> {
        let resolved = self.resolve(history);
        if resolved.ids.is_empty() {
            return Err(Vip5Error::Input(
                "the history holds no item of this catalogue yet: record one first".into(),
            ));
        }
        Ok(resolved)
    }

    /// P(yes) of each yes/no prompt, one batch.
    async fn yes_probabilities(&self, samples: &[EncoderSample]) -> Result<Vec<f32>> {
        let x = EncoderBatch::new(samples, &self.cfg)?.to_tensors(&self.device);
        yes_probability(
            &self.model,
            &x,
            Task::Sequential,
            self.cfg.decoder_start_token_id,
            YES_TOKEN_ID,
            NO_TOKEN_ID,
        )
        .await
    }

    /// Beam search over the items `mask` allows, one prompt: the distinct items the beams spell,
    /// best first, with their beam scores.
    async fn constrained_beams(
        &self,
        sample: EncoderSample,
        task: Task,
        mask: TrieMask,
        beams: usize,
    ) -> Result<Vec<ScoredItem>> {
        let x = EncoderBatch::new(&[sample], &self.cfg)?.to_tensors(&self.device);
        let constraint = ItemConstraint { trie: &self.trie, masks: vec![mask] };
        let beam = BeamConfig::returning(beams);
        let hyps = beam_search(
            &self.model,
            &x,
            task,
            &beam,
            self.cfg.eos_token_id,
            self.cfg.decoder_start_token_id,
            Some(&constraint as &dyn TokenConstraint),
        )
        .await?;
        let mut out: Vec<ScoredItem> = Vec::new();
        for h in hyps.into_iter().flatten() {
            if let Some(id) = self.trie.item_of(&h.tokens)
                && !out.iter().any(|s| s.id == id)
            {
                out.push(self.scored(id, h.score));
            }
        }
        Ok(out)
    }

    /// The next items for a visitor with this history (item keys, oldest first): beam search over
    /// real catalogue items only, never one already in the history nor in `exclude`; with `only`,
    /// among those items alone. Returns at most `k` items, best first.
    pub async fn recommend_next(
        &self,
        history: &[String],
        k: usize,
        exclude: &[String],
        only: Option<&[String]>,
    ) -> Result<Vec<ScoredItem>> {
        let resolved = self.known_history(history)?;
        let mut banned = resolved.ids.clone();
        banned.extend(self.resolve(exclude).ids);
        let mask = match only {
            Some(keys) => {
                // A shop's stock list names new arrivals the bundle has not seen: skipped, as
                // unknown keys in the history and in `exclude` are.
                let allowed: Vec<u32> =
                    self.resolve(keys).ids.into_iter().filter(|i| !banned.contains(i)).collect();
                self.trie.allow_only(allowed)
            }
            None => self.trie.allow_all_except(banned),
        };
        let allowed = mask.allowed_items();
        if allowed == 0 {
            return Err(Vip5Error::Input(
                "no catalogue item is left to recommend after the history and the filters".into(),
            ));
        }
        let sample = self.next_item_sample(&resolved.ids)?;
        let mut out =
            self.constrained_beams(sample, Task::Sequential, mask, k.clamp(1, allowed)).await?;
        out.truncate(k.max(1));
        Ok(out)
    }

    /// The stages of the forward pass `recommend_next` runs (this history's prompt through the
    /// encoder and `steps` decoding steps over `beams` rows), each read back: run it on two
    /// devices and [`crate::trace::compare`] finds the first tensor where they part.
    pub async fn trace(
        &self,
        history: &[String],
        beams: usize,
        steps: usize,
    ) -> Result<Vec<crate::trace::Stage>> {
        let resolved = self.known_history(history)?;
        let sample = self.next_item_sample(&resolved.ids)?;
        let x = EncoderBatch::new(&[sample], &self.cfg)?.to_tensors(&self.device);
        crate::trace::trace_decoding(
            &self.model,
            &x,
            Task::Sequential,
            self.cfg.decoder_start_token_id,
            beams,
            steps,
        )
        .await
    }

    /// P(yes) that the visitor would buy each item next (A-8, one batch).
    pub async fn score(&self, history: &[String], items: &[String]) -> Result<Vec<ScoredItem>> {
        let resolved = self.known_history(history)?;
        let ids = self.resolve_known(items, "score")?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let samples = ids
            .iter()
            .map(|&id| self.sample(&resolved.ids, YES_NO_TEMPLATE, Some(id), &[]))
            .collect::<Result<Vec<_>>>()?;
        let p = self.yes_probabilities(&samples).await?;
        Ok(ids.iter().zip(p).map(|(&id, p)| self.scored(id, p)).collect())
    }

    /// P(yes) that the visitor would buy the product in a photo: the photo's CLIP features fill
    /// the visual tokens of a new item (numbers: the id one past the catalogue; item tokens:
    /// `<unk>`), so only the picture speaks for it. Meaningful with a model trained on real
    /// photos; the demo model's visual tokens carry no signal.
    pub async fn score_photo(&self, history: &[String], features: &[f32]) -> Result<f32> {
        if features.len() != self.cfg.feat_dim {
            return Err(Vip5Error::Input(format!(
                "image features have {} values; this model takes {} (a CLIP with \
                 projection_dim {})",
                features.len(),
                self.cfg.feat_dim,
                self.cfg.feat_dim
            )));
        }
        let resolved = self.known_history(history)?;
        let new_item = self.catalog.len() as u32 + 1;
        let sample = self.sample_with_photo(
            &resolved.ids,
            YES_NO_TEMPLATE,
            Some(new_item),
            &[],
            Some((new_item, features)),
        )?;
        let p = self.yes_probabilities(&[sample]).await?;
        p.first().copied().ok_or_else(|| Vip5Error::Backend("no probability came back".into()))
    }

    /// Orders candidate items for the visitor (B-5: the model picks among the candidates; the
    /// beams give the order). Candidates the beams do not reach come last, in the given order.
    pub async fn rank_candidates(
        &self,
        history: &[String],
        candidates: &[String],
    ) -> Result<Vec<ScoredItem>> {
        let resolved = self.known_history(history)?;
        let ids = self.resolve_known(candidates, "rankCandidates")?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sample = self.sample(&resolved.ids, CANDIDATES_TEMPLATE, None, &ids)?;
        let mask = self.trie.allow_only(ids.iter().copied());
        let mut out = self.constrained_beams(sample, Task::Direct, mask, ids.len().min(20)).await?;
        for id in ids {
            if !out.iter().any(|s| s.id == id) {
                out.push(self.scored(id, f32::NEG_INFINITY));
            }
        }
        Ok(out)
    }
}

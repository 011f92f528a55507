//! Training and evaluation samples for the A (sequential) and B (direct) families and the C
//! (explanation) family, as docs/vip5.md §2.3 describes them. Every random choice comes from the
//! RNG passed in, so a seeded run is reproducible.

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};

use crate::adapter::Task;
pub use crate::data::Split;
use crate::data::{UserSequence, split_example, training_part};
use crate::error::{Result, Vip5Error};
use crate::prompt::personalize::{ANONYMOUS_VISITOR, prompt_history};
use crate::prompt::render::{HistorySeparator, ItemNaming, RenderedPrompt, Slots, render};
use crate::prompt::templates::{TEMPLATES, TargetKind, Template};

/// A user's interactions in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The number in `user_{id}`.
    pub id: u32,
    /// `{user_desc}` for this user (reviewer name, else reviewer id).
    pub desc: String,
    pub items: Vec<u32>,
    /// [`UserSequence::evaluated`]: whether the last two items are held out.
    pub evaluated: bool,
}

impl UserRecord {
    /// The items this user trains on ([`crate::data::training_items`]).
    pub fn training_items(&self) -> &[u32] {
        training_part(&self.items, self.evaluated)
    }

    fn sequence(&self) -> UserSequence {
        UserSequence { user: self.id, items: self.items.clone(), evaluated: self.evaluated }
    }
}

/// A prompt with its target text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingSample {
    pub template_id: &'static str,
    pub task: Task,
    pub prompt: RenderedPrompt,
    pub target: String,
    /// For sequential samples: the history in the prompt (oldest first) and the item that came
    /// next (the target of A-1..A-6; what asked about on a "yes"). Training objectives
    /// that need more than the target text (soft targets from counts) read it here.
    pub window: Option<(Vec<u32>, u32)>,
}

/// Options shared by the samplers.
#[derive(Debug, Clone)]
pub struct SamplerConfig {
    /// Visual tokens per image (k).
    pub n_vis_tokens: usize,
    /// Negatives in a B-5..B-8 candidate list (99 in VIP5).
    pub num_candidates_negatives: usize,
    /// Share of samples that speak of an anonymous visitor (a `{user_desc}` template with
    /// [`ANONYMOUS_VISITOR`]) instead of a known user, so the model serves visitors who were never
    /// training users. 0 reproduces the original.
    pub anonymous_share: f64,
    /// Share of sequential samples that ask yes/no instead of naming the next item.
    /// `None` draws uniformly among the templates, as the original (a quarter are yes/no). A
    /// yes/no sample teaches one bit about its item where a named target ranks all of them, so a
    /// recommender trained for ranking spends fewer of its samples there.
    pub yes_no_share: Option<f64>,
    /// Keep at most this many of the newest history items (whole items, oldest dropped first, as
    /// on the device). `None` keeps all, as the original.
    pub max_history_items: Option<usize>,
    /// How items are written in prompts and targets (the model's item tokenization).
    pub item_naming: ItemNaming,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            n_vis_tokens: 2,
            num_candidates_negatives: 99,
            anonymous_share: 0.0,
            yes_no_share: None,
            max_history_items: None,
            item_naming: ItemNaming::Numbers,
        }
    }
}

/// The templates a family trains on (A-1..A-8, B-1..B-7, C-1..C-11: the unseen ones never train).
pub fn training_templates(task: Task) -> Vec<&'static Template> {
    TEMPLATES.iter().filter(|t| t.task == task && !t.unseen).collect()
}

/// History and target of a user's sequence for `split`:
/// train draws `end` in [max(2, len-6), len-4] and `start` in [1, min(3, end-1)] over the
/// sequence with the user in front (len = items + 1), history = seq[start..=end], target =
/// seq[end+1]; validation and test are the leave-one-out examples of [`split_example`].
pub fn sequential_window(
    items: &[u32],
    split: Split,
    rng: &mut impl Rng,
) -> Result<(Vec<u32>, u32)> {
    let n = items.len();
    match split {
        Split::Train => {
            if n < 5 {
                return Err(Vip5Error::Input(format!(
                    "a training window needs at least 5 items (the user has {n})"
                )));
            }
            training_window(&items[..n - 2], rng)
        }
        Split::Validation | Split::Test => {
            held_out_window(&UserSequence::new(0, items.to_vec()), split)
        }
    }
}

/// The validation or test (history, target) of `sequence` ([`split_example`]).
fn held_out_window(sequence: &UserSequence, split: Split) -> Result<(Vec<u32>, u32)> {
    let ex = split_example(sequence, split)?;
    Ok((ex.history.to_vec(), ex.target))
}

/// The fewest training items a [`training_window`] can be drawn from.
pub const MIN_TRAINING_WINDOW_ITEMS: usize = 3;

/// [`sequential_window`]'s training draw over a user's training items alone (`t` of them, at
/// least 3): the same positions, written for the training part (the full sequence with the
/// user in front has t + 3 positions), so a training-only user draws from all its items.
pub fn training_window(train: &[u32], rng: &mut impl Rng) -> Result<(Vec<u32>, u32)> {
    let t = train.len();
    if t < MIN_TRAINING_WINDOW_ITEMS {
        return Err(Vip5Error::Input(format!(
            "a training window needs at least 3 training items (the user has {t})"
        )));
    }
    let len = t + 3;
    let end = rng.random_range(2.max(len - 6)..=len - 4);
    let start = rng.random_range(1..=3.min(end - 1));
    // positions count the user at 0, so item position p is train[p - 1]
    Ok((train[start - 1..end].to_vec(), train[end]))
}

/// One uniformly random item of `all_items` the user never interacted with.
pub fn sample_negative(all_items: &[u32], user_items: &[u32], rng: &mut impl Rng) -> Result<u32> {
    sample_negatives(all_items, user_items, 1, rng).map(|v| v[0])
}

/// `count` distinct uniformly random items of `all_items` the user never interacted with.
pub fn sample_negatives(
    all_items: &[u32],
    user_items: &[u32],
    count: usize,
    rng: &mut impl Rng,
) -> Result<Vec<u32>> {
    let available = all_items.len().saturating_sub(user_items.len());
    if available < count {
        return Err(Vip5Error::Input(format!(
            "only {available} items are left to draw {count} negatives from"
        )));
    }
    let mut out = Vec::with_capacity(count);
    // Rejection sampling: histories are tiny next to the catalogue.
    while out.len() < count {
        let &item =
            all_items.choose(rng).ok_or_else(|| Vip5Error::Input("empty catalogue".into()))?;
        if !user_items.contains(&item) && !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(out)
}

/// The original's rating jitter for C-7/C-8 targets in training: a normal draw with the mean of
/// the star's bin and a quarter of its width as std, rounded to one decimal and clipped to [1, 5].
pub fn jitter_rating(star: u8, rng: &mut impl Rng) -> String {
    let (lo, hi) = match star {
        1 => (1.0, 1.4),
        2 => (1.5, 2.4),
        3 => (2.5, 3.4),
        4 => (3.5, 4.4),
        _ => (4.5, 5.0),
    };
    let (mean, std) = ((lo + hi) / 2.0, (hi - lo) / 4.0);
    // Box-Muller: one standard normal draw
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    let r = ((mean + std * z) * 10.0).round() / 10.0;
    format!("{:.1}", r.clamp(1.0, 5.0))
}

fn separator(rng: &mut impl Rng) -> HistorySeparator {
    // The original draws `random.random() > 0.5` for a comma.
    if rng.random::<f64>() > 0.5 { HistorySeparator::Comma } else { HistorySeparator::Arrow }
}

/// Picks a training template of `task`; with probability `anonymous_share` only among the
/// `{user_desc}` templates, which then speak of the anonymous visitor.
fn pick_template(task: Task, cfg: &SamplerConfig, rng: &mut impl Rng) -> (&'static Template, bool) {
    let anonymous = cfg.anonymous_share > 0.0 && rng.random::<f64>() < cfg.anonymous_share;
    let mut pool: Vec<&'static Template> = training_templates(task)
        .into_iter()
        .filter(|t| !anonymous || !t.source.contains("{user_id}"))
        .collect();
    if let (Task::Sequential, Some(share)) = (task, cfg.yes_no_share) {
        let yes_no = rng.random::<f64>() < share;
        pool.retain(|t| (t.target == TargetKind::YesNo) == yes_no);
    }
    (pool.choose(rng).copied().unwrap_or(&TEMPLATES[0]), anonymous)
}

fn user_slots(user: &UserRecord, anonymous: bool, naming: ItemNaming) -> Slots {
    Slots {
        item_naming: naming,
        user_id: Some(user.id.to_string()),
        user_desc: Some(if anonymous { ANONYMOUS_VISITOR.to_string() } else { user.desc.clone() }),
        ..Slots::default()
    }
}

/// A sequential (A-family) sample with `template` (or a random training template when `None`).
pub fn sequential_sample(
    user: &UserRecord,
    split: Split,
    template: Option<&'static Template>,
    all_items: &[u32],
    cfg: &SamplerConfig,
    rng: &mut impl Rng,
) -> Result<TrainingSample> {
    let (history, target) = match split {
        Split::Train => training_window(user.training_items(), rng)?,
        Split::Validation | Split::Test => held_out_window(&user.sequence(), split)?,
    };
    sequential_sample_from(user, history, target, template, all_items, cfg, rng)
}

/// A sequential (A-family) training sample whose target is `user.items[end]` (a training item)
/// and whose history
/// is the items before it (the newest `max_history_items`): every position of a training part
/// can be a target, not only the last few that [`sequential_window`] draws from.
pub fn sequential_sample_at(
    user: &UserRecord,
    end: usize,
    template: Option<&'static Template>,
    all_items: &[u32],
    cfg: &SamplerConfig,
    rng: &mut impl Rng,
) -> Result<TrainingSample> {
    let train = user.training_items().len();
    if end == 0 || end >= train {
        return Err(Vip5Error::Input(format!(
            "a window ending at position {end} needs 1 <= end < {train} (the user's training items)"
        )));
    }
    sequential_sample_from(
        user,
        user.items[..end].to_vec(),
        user.items[end],
        template,
        all_items,
        cfg,
        rng,
    )
}

fn sequential_sample_from(
    user: &UserRecord,
    history: Vec<u32>,
    target: u32,
    template: Option<&'static Template>,
    all_items: &[u32],
    cfg: &SamplerConfig,
    rng: &mut impl Rng,
) -> Result<TrainingSample> {
    let history = prompt_history(&history, cfg.max_history_items).to_vec();
    let (template, anonymous) = match template {
        Some(t) => (t, false),
        None => pick_template(Task::Sequential, cfg, rng),
    };
    let mut slots = user_slots(user, anonymous, cfg.item_naming);
    slots.history = history.clone();
    let sep = separator(rng);
    let target_text = match template.target {
        TargetKind::YesNo => {
            // the true next item (yes) or one the user never touched (no), 50/50.
            if rng.random::<f64>() > 0.5 {
                slots.item = Some(target);
                "yes".to_string()
            } else {
                slots.item = Some(sample_negative(all_items, &user.items, rng)?);
                "no".to_string()
            }
        }
        _ => cfg.item_naming.text(target)?,
    };
    Ok(TrainingSample {
        template_id: template.id,
        task: Task::Sequential,
        prompt: render(template, &slots, cfg.n_vis_tokens, sep)?,
        target: target_text,
        window: Some((history, target)),
    })
}

/// A direct (B-family) sample. Train targets are a random earlier item (never the val/test
/// item); val/test use the held-out item. B-1..B-4 ask yes/no about the target or a negative
/// (50/50); B-5..B-8 list the target among `num_candidates_negatives` negatives, shuffled.
/// `title_of` gives an item's title (`unknown title` when it returns `None`).
pub fn direct_sample(
    user: &UserRecord,
    split: Split,
    template: Option<&'static Template>,
    all_items: &[u32],
    title_of: &dyn Fn(u32) -> Option<String>,
    cfg: &SamplerConfig,
    rng: &mut impl Rng,
) -> Result<TrainingSample> {
    let target = match split {
        Split::Train => *user.training_items().choose(rng).ok_or_else(|| {
            Vip5Error::Input(format!(
                "a training direct sample needs a training item (the user has {} items)",
                user.items.len()
            ))
        })?,
        Split::Validation | Split::Test => split_example(&user.sequence(), split)?.target,
    };
    let (template, anonymous) = match template {
        Some(t) => (t, false),
        None => pick_template(Task::Direct, cfg, rng),
    };
    let mut slots = user_slots(user, anonymous, cfg.item_naming);
    let target_text = match template.target {
        TargetKind::YesNo => {
            let (item, answer) = if rng.random::<f64>() > 0.5 {
                (target, "yes")
            } else {
                (sample_negative(all_items, &user.items, rng)?, "no")
            };
            slots.item = Some(item);
            slots.item_title = Some(title_of(item).unwrap_or_else(|| "unknown title".to_string()));
            answer.to_string()
        }
        _ => {
            let mut candidates =
                sample_negatives(all_items, &user.items, cfg.num_candidates_negatives, rng)?;
            candidates.push(target);
            candidates.shuffle(rng);
            slots.candidates = candidates;
            cfg.item_naming.text(target)?
        }
    };
    Ok(TrainingSample {
        template_id: template.id,
        task: Task::Direct,
        prompt: render(template, &slots, cfg.n_vis_tokens, HistorySeparator::Comma)?,
        target: target_text,
        window: None,
    })
}

/// One review with an explanation (the original's `exp_splits` record).
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewRecord {
    pub user: u32,
    pub user_desc: String,
    pub item: u32,
    pub item_title: Option<String>,
    pub star: u8,
    pub review_headline: String,
    pub feature: String,
    pub explanation: String,
}

/// An explanation (C-family) sample; the rating is jittered in training for C-7/C-8 targets only.
pub fn explanation_sample(
    review: &ReviewRecord,
    split: Split,
    template: Option<&'static Template>,
    cfg: &SamplerConfig,
    rng: &mut impl Rng,
) -> Result<TrainingSample> {
    let template = match template {
        Some(t) => t,
        None => {
            pick_template(
                Task::Explanation,
                &SamplerConfig { anonymous_share: 0.0, ..cfg.clone() },
                rng,
            )
            .0
        }
    };
    let star = match (template.target, split) {
        (TargetKind::RatingExplanation, Split::Train) => jitter_rating(review.star, rng),
        _ => review.star.to_string(),
    };
    let slots = Slots {
        user_id: Some(review.user.to_string()),
        user_desc: Some(review.user_desc.clone()),
        item: Some(review.item),
        item_title: Some(review.item_title.clone().unwrap_or_else(|| "unknown title".to_string())),
        star_rating: Some(star.clone()),
        feature: Some(review.feature.clone()),
        review_headline: Some(review.review_headline.clone()),
        item_naming: cfg.item_naming,
        ..Slots::default()
    };
    let target = match template.target {
        TargetKind::RatingExplanation => format!("{star} , {}", review.explanation),
        _ => review.explanation.clone(),
    };
    Ok(TrainingSample {
        template_id: template.id,
        task: Task::Explanation,
        prompt: render(template, &slots, cfg.n_vis_tokens, HistorySeparator::Comma)?,
        target,
        window: None,
    })
}

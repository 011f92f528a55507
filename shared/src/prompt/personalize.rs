//! On-device personalization: a prompt built from a history that never leaves the device.

use crate::error::{Result, Vip5Error};
use crate::prompt::render::{HistorySeparator, ItemNaming, RenderedPrompt, Slots, render};
use crate::prompt::template;
use crate::prompt::templates::{TargetKind, Template};
use crate::prompt::tokens::{EncodedPrompt, PromptTokenizer, encode_rendered};

/// The `{user_desc}` a visitor gets: browser visitors were never training users, so they have no
/// `user_N`. The trainer uses the same label on a share of its samples so the model serves them.
pub const ANONYMOUS_VISITOR: &str = "a visitor";

/// How a prompt over the token budget is shortened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Truncation {
    /// Drop whole history items, oldest first, until the prompt fits (default). The newest items
    /// (the strongest signal) and the instruction always survive.
    #[default]
    DropOldestItems,
    /// The original's behaviour, kept for comparability: the tokenizer cuts tokens from the right,
    /// losing the newest items and the instruction first.
    RightTokens,
}

/// Who the prompt is for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserLabel {
    /// A training user's number (`user_{id}` templates).
    pub id: Option<String>,
    /// A name for `{user_desc}` templates; anonymous visitors get [`ANONYMOUS_VISITOR`].
    pub desc: Option<String>,
}

/// A request for a personalized prompt.
#[derive(Debug, Clone)]
pub struct PersonalRequest<'a> {
    /// Item numbers in time order, oldest first.
    pub history: &'a [u32],
    /// `None` for an anonymous visitor.
    pub user: Option<UserLabel>,
    /// Template id, e.g. `A-6` (a `{user_desc}` template for visitors) or `A-3`.
    pub template_id: &'a str,
    /// The item asked about, for yes/no templates and single-item templates.
    pub item: Option<u32>,
    /// `item` is a product outside the catalogue (a visitor's photo): see [`Slots::item_is_new`].
    pub item_is_new: bool,
    /// Candidate items, for B-5..B-8.
    pub candidates: &'a [u32],
    /// Visual tokens per image (k).
    pub n_vis_tokens: usize,
    /// Maximum input length in tokens, `</s>` included.
    pub max_input_tokens: usize,
    pub truncation: Truncation,
}

/// A ready-to-encode prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalPrompt {
    pub text: String,
    pub encoded: EncodedPrompt,
    /// Items whose image features fill the placeholders, in order (k tokens each).
    pub image_items: Vec<u32>,
    /// Oldest history items left out to fit the budget.
    pub dropped_items: usize,
}

fn slots_for(
    template: &Template,
    req: &PersonalRequest<'_>,
    history: &[u32],
    naming: ItemNaming,
) -> Result<Slots> {
    let needs_id = template.source.contains("{user_id}");
    let user = req.user.clone().unwrap_or_default();
    if needs_id && user.id.is_none() {
        return Err(Vip5Error::Input(format!(
            "template {} names a training user (`user_{{user_id}}`); an anonymous visitor needs a \
             `{{user_desc}}` template such as A-4, A-5, A-6, A-8, A-9, B-2, B-3, B-5 or B-6",
            template.id
        )));
    }
    Ok(Slots {
        user_id: user.id,
        user_desc: Some(user.desc.unwrap_or_else(|| ANONYMOUS_VISITOR.to_string())),
        history: history.to_vec(),
        candidates: req.candidates.to_vec(),
        item: req.item,
        item_is_new: req.item_is_new,
        item_naming: naming,
        ..Slots::default()
    })
}

/// Builds the prompt for a history on the device. Commas separate history items (the
/// deterministic choice at inference; training draws `,` or `->` 50/50).
/// The newest `cap` items of `history` (at least one is kept): what a prompt holds when a model
/// was trained with `max_history_items = cap`. Every history item still counts as seen. The one
/// history cap of training samples, evaluation cases and the recommender.
pub fn prompt_history(history: &[u32], cap: Option<usize>) -> &[u32] {
    let keep = cap.unwrap_or(usize::MAX).max(1);
    &history[history.len().saturating_sub(keep)..]
}

pub fn build_personal_prompt(
    tokenizer: &PromptTokenizer,
    req: &PersonalRequest<'_>,
) -> Result<PersonalPrompt> {
    let template = template(req.template_id)?;
    if template.target == TargetKind::Explanation
        || template.target == TargetKind::RatingExplanation
    {
        return Err(Vip5Error::Input(format!(
            "template {} is an explanation template; personalized prompts are built for \
             families A and B",
            template.id
        )));
    }
    let uses_history = template.source.contains("{purchase_history}");
    if uses_history && req.history.is_empty() {
        return Err(Vip5Error::Input(
            "the history is empty: record at least one item first".into(),
        ));
    }
    let max = (req.truncation == Truncation::RightTokens).then_some(req.max_input_tokens);
    let build = |history: &[u32]| -> Result<(RenderedPrompt, EncodedPrompt, Vec<u32>)> {
        let r = render(
            template,
            &slots_for(template, req, history, tokenizer.item_naming())?,
            req.n_vis_tokens,
            HistorySeparator::Comma,
        )?;
        let (e, images) = encode_rendered(tokenizer, &r, max, req.n_vis_tokens)?;
        Ok((r, e, images))
    };
    let (full, enc, images) = build(req.history)?;
    if enc.input_ids.len() <= req.max_input_tokens
        || req.truncation == Truncation::RightTokens
        || !uses_history
    {
        if enc.input_ids.len() > req.max_input_tokens {
            return Err(Vip5Error::Input(format!(
                "template {} needs {} tokens, over the budget of {}",
                template.id,
                enc.input_ids.len(),
                req.max_input_tokens
            )));
        }
        return Ok(PersonalPrompt {
            text: full.text,
            encoded: enc,
            image_items: images,
            dropped_items: 0,
        });
    }
    // The token count grows with the items kept: binary-search the fewest items to drop.
    let n = req.history.len();
    let (mut lo, mut hi) = (1usize, n); // dropping `hi` items leaves nothing: test it last
    let mut best: Option<(usize, RenderedPrompt, EncodedPrompt)> = None;
    while lo < hi {
        let mid = (lo + hi) / 2;
        let (r, e, _) = build(&req.history[mid..])?;
        if e.input_ids.len() <= req.max_input_tokens {
            best = Some((mid, r, e));
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let (dropped, r, e) = match best {
        Some(b) if b.0 == lo => b,
        _ if lo < n => {
            let (r, e, _) = build(&req.history[lo..])?;
            if e.input_ids.len() > req.max_input_tokens {
                return Err(budget_error(template, req.max_input_tokens));
            }
            (lo, r, e)
        }
        _ => return Err(budget_error(template, req.max_input_tokens)),
    };
    Ok(PersonalPrompt {
        text: r.text,
        encoded: e,
        image_items: r.image_items,
        dropped_items: dropped,
    })
}

fn budget_error(template: &Template, budget: usize) -> Vip5Error {
    Vip5Error::Input(format!(
        "template {} does not fit in {budget} tokens even with a single history item",
        template.id
    ))
}

#[cfg(test)]
mod tests {
    use super::prompt_history;

    #[test]
    fn prompt_history_keeps_the_newest_items() {
        assert_eq!(prompt_history(&[1, 2, 3], Some(2)), &[2, 3]);
        assert_eq!(prompt_history(&[1, 2, 3], None), &[1, 2, 3]);
        assert_eq!(prompt_history(&[1, 2, 3], Some(0)), &[3]);
    }
}

//! Filling a template's slots (VIP5-SPEC 2.1 and 2.3), exactly as the original formats them.

use crate::error::{Result, Vip5Error};
use crate::prompt::templates::Template;

/// The visual placeholder token's text.
pub const VISUAL_PLACEHOLDER: &str = "<extra_id_0>";

/// Separator between the items of a purchase history (drawn 50/50 per sample in training).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistorySeparator {
    Comma,
    Arrow,
}

impl HistorySeparator {
    fn as_str(self) -> &'static str {
        match self {
            Self::Comma => ",",
            Self::Arrow => "->",
        }
    }
}

/// Values for a template's slots. Items are the catalogue's item numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Slots {
    /// `{user_id}`: the number after `user_`.
    pub user_id: Option<String>,
    /// `{user_desc}`: a name, or the anonymous visitor label.
    pub user_desc: Option<String>,
    /// `{purchase_history}`: items in time order.
    pub history: Vec<u32>,
    /// `{candidates}`: items of a candidate list.
    pub candidates: Vec<u32>,
    /// `{item_id}` and the item shown by `{item_photo}`.
    pub item: Option<u32>,
    pub item_title: Option<String>,
    pub star_rating: Option<String>,
    pub feature: Option<String>,
    pub review_headline: Option<String>,
}

/// A rendered prompt: its text and the items whose image features fill its visual
/// placeholders, in order (k placeholders per item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedPrompt {
    pub text: String,
    pub image_items: Vec<u32>,
}

/// `k` placeholders joined by single spaces (one item's `{item_photo}`).
pub fn item_photo(k: usize) -> String {
    vec![VISUAL_PLACEHOLDER; k].join(" ")
}

/// An item list with k placeholders after each item, as the original builds it:
/// `' {ph}{sep} '.join(items) + ' <extra_id_0>' * k` where `ph` is k placeholders each followed by
/// a space. E.g. k = 2: `1024 <extra_id_0> <extra_id_0> , 1025 <extra_id_0> <extra_id_0>`.
pub fn item_list(items: &[u32], k: usize, separator: HistorySeparator) -> String {
    let placeholders = format!("{VISUAL_PLACEHOLDER} ").repeat(k);
    let joiner = format!(" {placeholders}{} ", separator.as_str());
    let mut out = items.iter().map(u32::to_string).collect::<Vec<_>>().join(&joiner);
    out.push_str(&format!(" {VISUAL_PLACEHOLDER}").repeat(k));
    out
}

/// Fills every `{slot}` of `template`. A slot without a value is an error naming it.
pub fn render(template: &Template, slots: &Slots, k: usize, separator: HistorySeparator) -> Result<RenderedPrompt> {
    let src = template.source;
    let mut text = String::with_capacity(src.len() + 64);
    let mut image_items = Vec::new();
    let mut rest = src;
    let missing = |slot: &str| Vip5Error::Input(format!("template {} needs a value for `{{{slot}}}`", template.id));
    while let Some(open) = rest.find('{') {
        text.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .ok_or_else(|| Vip5Error::Input(format!("template {}: unclosed slot", template.id)))?;
        let slot = &rest[open + 1..close];
        match slot {
            "user_id" => text.push_str(slots.user_id.as_deref().ok_or_else(|| missing(slot))?),
            "user_desc" => text.push_str(slots.user_desc.as_deref().ok_or_else(|| missing(slot))?),
            "purchase_history" => {
                if slots.history.is_empty() {
                    return Err(missing(slot));
                }
                text.push_str(&item_list(&slots.history, k, separator));
                image_items.extend_from_slice(&slots.history);
            }
            "candidates" => {
                if slots.candidates.is_empty() {
                    return Err(missing(slot));
                }
                // Candidate lists always use commas.
                text.push_str(&item_list(&slots.candidates, k, HistorySeparator::Comma));
                image_items.extend_from_slice(&slots.candidates);
            }
            "item_id" => text.push_str(&slots.item.ok_or_else(|| missing(slot))?.to_string()),
            "item_photo" => {
                image_items.push(slots.item.ok_or_else(|| missing(slot))?);
                text.push_str(&item_photo(k));
            }
            "item_title" => text.push_str(slots.item_title.as_deref().ok_or_else(|| missing(slot))?),
            "star_rating" => text.push_str(slots.star_rating.as_deref().ok_or_else(|| missing(slot))?),
            "feature" => text.push_str(slots.feature.as_deref().ok_or_else(|| missing(slot))?),
            "review_headline" => text.push_str(slots.review_headline.as_deref().ok_or_else(|| missing(slot))?),
            other => {
                return Err(Vip5Error::Input(format!("template {}: unknown slot `{{{other}}}`", template.id)));
            }
        }
        rest = &rest[close + 1..];
    }
    text.push_str(rest);
    Ok(RenderedPrompt { text, image_items })
}

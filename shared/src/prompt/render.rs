//! Filling a template's slots (docs/vip5.md §2.1 and §2.3), exactly as the original formats them.

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

/// How item numbers are written in prompts and targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ItemNaming {
    /// P5/VIP5: the decimal number, which SentencePiece splits into several pieces
    /// (`1024` -> `▁10`, `24`), so the model writes an item as a short token sequence.
    #[default]
    Numbers,
    /// One vocabulary token per item, `<item_N>` for N in 1..=count ("independent indexing",
    /// Hua et al. 2023): the decoder's first step is a softmax over the catalogue, and no item is
    /// preferred for being short. The tokenizer must have the tokens
    /// ([`crate::prompt::PromptTokenizer::with_item_tokens`]).
    Tokens { count: u32 },
}

impl ItemNaming {
    /// The text of item `item`; an item outside a token vocabulary is an error, never a silent
    /// fall-back to pieces.
    pub fn text(self, item: u32) -> Result<String> {
        match self {
            Self::Numbers => Ok(item.to_string()),
            Self::Tokens { count } if (1..=count).contains(&item) => Ok(item_token(item)),
            Self::Tokens { count } => Err(Vip5Error::Input(format!(
                "item {item} has no item token (this model has tokens for items 1..={count})"
            ))),
        }
    }

    /// The item a generated text names, under item tokens: exactly one `<item_N>` (surrounding
    /// whitespace aside) with N in range; `None` for anything else. Number naming is read by
    /// [`crate::metrics::scores_from_beams`], which follows the original's Python `int()`.
    pub fn parse_token_text(self, text: &str) -> Option<u32> {
        let Self::Tokens { count } = self else { return None };
        let n = text.trim().strip_prefix("<item_")?.strip_suffix('>')?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.starts_with('0') {
            return None;
        }
        n.parse::<u32>().ok().filter(|i| (1..=count).contains(i))
    }
}

/// What item tokens write for a product outside the catalogue: t5-small's `<unk>`.
pub const UNKNOWN_ITEM_TOKEN: &str = "<unk>";

/// The token text of item `item` under [`ItemNaming::Tokens`].
pub fn item_token(item: u32) -> String {
    format!("<item_{item}>")
}

/// Values for a template's slots. Items are the catalogue's item numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Slots {
    /// How the item slots are written (the model's item tokenization).
    pub item_naming: ItemNaming,
    /// `{item_id}` is a product outside the catalogue (a visitor's photo): numbers write it as
    /// given (the next free number), item tokens as `<unk>`, since no token names it.
    pub item_is_new: bool,
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
pub fn item_list(
    items: &[u32],
    k: usize,
    separator: HistorySeparator,
    naming: ItemNaming,
) -> Result<String> {
    let placeholders = format!("{VISUAL_PLACEHOLDER} ").repeat(k);
    let joiner = format!(" {placeholders}{} ", separator.as_str());
    let names = items.iter().map(|&i| naming.text(i)).collect::<Result<Vec<_>>>()?;
    let mut out = names.join(&joiner);
    out.push_str(&format!(" {VISUAL_PLACEHOLDER}").repeat(k));
    Ok(out)
}

/// Fills every `{slot}` of `template`. A slot without a value is an error naming it.
pub fn render(
    template: &Template,
    slots: &Slots,
    k: usize,
    separator: HistorySeparator,
) -> Result<RenderedPrompt> {
    let src = template.source;
    let mut text = String::with_capacity(src.len() + 64);
    let mut image_items = Vec::new();
    let mut rest = src;
    let missing = |slot: &str| {
        Vip5Error::Input(format!("template {} needs a value for `{{{slot}}}`", template.id))
    };
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
                text.push_str(&item_list(&slots.history, k, separator, slots.item_naming)?);
                image_items.extend_from_slice(&slots.history);
            }
            "candidates" => {
                if slots.candidates.is_empty() {
                    return Err(missing(slot));
                }
                // Candidate lists always use commas.
                text.push_str(&item_list(
                    &slots.candidates,
                    k,
                    HistorySeparator::Comma,
                    slots.item_naming,
                )?);
                image_items.extend_from_slice(&slots.candidates);
            }
            "item_id" => {
                let item = slots.item.ok_or_else(|| missing(slot))?;
                match slots.item_naming {
                    ItemNaming::Tokens { .. } if slots.item_is_new => {
                        text.push_str(UNKNOWN_ITEM_TOKEN)
                    }
                    naming => text.push_str(&naming.text(item)?),
                }
            }
            "item_photo" => {
                image_items.push(slots.item.ok_or_else(|| missing(slot))?);
                text.push_str(&item_photo(k));
            }
            "item_title" => {
                text.push_str(slots.item_title.as_deref().ok_or_else(|| missing(slot))?)
            }
            "star_rating" => {
                text.push_str(slots.star_rating.as_deref().ok_or_else(|| missing(slot))?)
            }
            "feature" => text.push_str(slots.feature.as_deref().ok_or_else(|| missing(slot))?),
            "review_headline" => {
                text.push_str(slots.review_headline.as_deref().ok_or_else(|| missing(slot))?)
            }
            other => {
                return Err(Vip5Error::Input(format!(
                    "template {}: unknown slot `{{{other}}}`",
                    template.id
                )));
            }
        }
        rest = &rest[close + 1..];
    }
    text.push_str(rest);
    Ok(RenderedPrompt { text, image_items })
}

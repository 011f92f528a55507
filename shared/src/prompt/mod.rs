//! VIP5's prompts: the 29 templates, slot filling, token/whole-word/category ids, on-device
//! personalization and the training samplers.

pub mod personalize;
pub mod render;
pub mod sampling;
pub mod templates;
pub mod tokens;

use crate::error::{Result, Vip5Error};
pub use personalize::{
    ANONYMOUS_VISITOR, PersonalPrompt, PersonalRequest, Truncation, UserLabel,
    build_personal_prompt, prompt_history,
};
pub use render::{
    HistorySeparator, ItemNaming, RenderedPrompt, Slots, UNKNOWN_ITEM_TOKEN, VISUAL_PLACEHOLDER,
    item_list, item_photo, item_token, render,
};
pub use templates::{TEMPLATES, TargetKind, Template};
pub use tokens::{EncodedPrompt, PromptTokenizer, category_ids, encode_rendered, encode_sample};

/// The template with this id (`A-1` .. `C-12`).
pub fn template(id: &str) -> Result<&'static Template> {
    TEMPLATES.iter().find(|t| t.id == id).ok_or_else(|| {
        Vip5Error::Input(format!(
            "unknown template `{id}` (expected A-1..A-9, B-1..B-8, C-1..C-12)"
        ))
    })
}

/// Token id of `yes` in t5-small's vocabulary.
pub const YES_TOKEN_ID: u32 = 4273;
/// Token id of `no` in t5-small's vocabulary.
pub const NO_TOKEN_ID: u32 = 150;

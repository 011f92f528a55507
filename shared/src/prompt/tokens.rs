//! Token ids, whole-word ids and category ids of a prompt (docs/vip5.md §1.2, §2.1).

use tokenizers::{AddedToken, Tokenizer};

use crate::batch::EncoderSample;
use crate::config::Vip5Config;
use crate::error::{Result, Vip5Error};
use crate::prompt::render::{ItemNaming, VISUAL_PLACEHOLDER, item_token};

/// SentencePiece's word-start marker.
const WORD_START: char = '\u{2581}';

/// An encoded prompt: token ids ending in `</s>`, and one whole-word id per token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPrompt {
    pub input_ids: Vec<u32>,
    pub whole_word_ids: Vec<u32>,
}

impl EncodedPrompt {
    /// The encoder input of this prompt: one feature row per image it kept, in prompt order,
    /// from `feature(item)`.
    pub fn into_sample(
        self,
        images: &[u32],
        feature: impl FnMut(u32) -> Vec<f32>,
    ) -> EncoderSample {
        EncoderSample {
            input_ids: self.input_ids,
            whole_word_ids: self.whole_word_ids,
            vis_feats: images.iter().copied().map(feature).collect(),
        }
    }
}

/// The t5-small tokenizer plus VIP5's id rules.
#[derive(Clone)]
pub struct PromptTokenizer {
    tokenizer: Tokenizer,
    eos_id: u32,
    visual_token_id: u32,
    /// Item tokens `<item_1>`.. take ids `item_token_base`.. (none when `item_tokens` = 0).
    item_token_base: u32,
    item_tokens: u32,
}

impl std::fmt::Debug for PromptTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptTokenizer")
            .field("vocab", &self.tokenizer.get_vocab_size(true))
            .finish()
    }
}

impl PromptTokenizer {
    /// From a Hugging Face `tokenizer.json` (bytes, so it works in a browser too).
    pub fn from_json_bytes(json: &[u8]) -> Result<Self> {
        let tokenizer = Tokenizer::from_bytes(json)
            .map_err(|e| Vip5Error::Input(format!("not a Hugging Face tokenizer.json: {e}")))?;
        let id = |tok: &str| {
            tokenizer
                .token_to_id(tok)
                .ok_or_else(|| Vip5Error::Input(format!("tokenizer has no `{tok}` token")))
        };
        let base = tokenizer.get_vocab_size(true) as u32;
        Ok(Self {
            eos_id: id("</s>")?,
            visual_token_id: id(VISUAL_PLACEHOLDER)?,
            item_token_base: base,
            item_tokens: 0,
            tokenizer,
        })
    }

    /// The tokenizer a model with `cfg` reads: `tokenizer.json` plus the model's item tokens, if
    /// it has any, and a check that every id it can produce has an embedding row.
    pub fn for_config(json: &[u8], cfg: &Vip5Config) -> Result<Self> {
        let tok = Self::from_json_bytes(json)?.with_item_tokens(cfg.item_tokens)?;
        if tok.vocab_size() > cfg.vocab_size {
            return Err(Vip5Error::Config(format!(
                "the tokenizer has {} tokens ({} of them item tokens) but the model only {} \
                 embedding rows",
                tok.vocab_size(),
                tok.item_tokens,
                cfg.vocab_size
            )));
        }
        Ok(tok)
    }

    /// Adds one token per item, `<item_1>`..`<item_{count}>`, with consecutive ids after the
    /// vocabulary ([`ItemNaming::Tokens`]). `count` = 0 leaves the tokenizer as it is.
    pub fn with_item_tokens(mut self, count: usize) -> Result<Self> {
        if count == 0 {
            return Ok(self);
        }
        if self.item_tokens != 0 {
            return Err(Vip5Error::Input("the tokenizer already has item tokens".into()));
        }
        let count = u32::try_from(count)
            .map_err(|_| Vip5Error::Config(format!("{count} item tokens is too many")))?;
        let base = self.tokenizer.get_vocab_size(true) as u32;
        // Not special: decoding keeps them, so generated text names the item.
        self.tokenizer
            .add_tokens((1..=count).map(|i| AddedToken::from(item_token(i), false)))
            .map_err(|e| Vip5Error::Input(format!("adding item tokens: {e}")))?;
        // Ids must be consecutive from the end of the vocabulary: the model's rows depend on it.
        for probe in [1, count] {
            let id = self.tokenizer.token_to_id(&item_token(probe));
            if id != Some(base + probe - 1) {
                return Err(Vip5Error::Input(format!(
                    "item token {} got id {id:?}, expected {} (the tokenizer already has \
                     tokens after its vocabulary)",
                    item_token(probe),
                    base + probe - 1
                )));
            }
        }
        self.item_token_base = base;
        self.item_tokens = count;
        Ok(self)
    }

    /// How this tokenizer's model writes items.
    pub fn item_naming(&self) -> ItemNaming {
        if self.item_tokens == 0 {
            ItemNaming::Numbers
        } else {
            ItemNaming::Tokens { count: self.item_tokens }
        }
    }

    /// The id of `<item_1>` (item N is `item_token_base() + N - 1`); `None` without item tokens.
    pub fn item_token_base(&self) -> Option<u32> {
        (self.item_tokens > 0).then_some(self.item_token_base)
    }

    fn is_item_token(&self, id: u32) -> bool {
        id >= self.item_token_base && id - self.item_token_base < self.item_tokens
    }

    pub fn visual_token_id(&self) -> u32 {
        self.visual_token_id
    }

    pub fn eos_id(&self) -> u32 {
        self.eos_id
    }

    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// Pieces and ids of `text` without `</s>`.
    fn pieces(&self, text: &str) -> Result<(Vec<u32>, Vec<String>)> {
        let enc = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| Vip5Error::Input(format!("tokenizing the prompt: {e}")))?;
        Ok((enc.get_ids().to_vec(), enc.get_tokens().to_vec()))
    }

    /// Token ids (with `</s>`) and whole-word ids. A new word starts at each piece beginning with
    /// `▁`, at each visual placeholder and at each item token; ids count from 1, `</s>` gets 0.
    ///
    /// `max_len` (tokens, `</s>` included) truncates from the right as the original tokenizer
    /// does; [`crate::prompt::personalize`] avoids ever needing it by dropping whole items.
    pub fn encode(&self, text: &str, max_len: Option<usize>) -> Result<EncodedPrompt> {
        let (mut ids, pieces) = self.pieces(text)?;
        let mut whole_word_ids = Vec::with_capacity(ids.len() + 1);
        let mut word = 0u32;
        for (id, piece) in ids.iter().zip(&pieces) {
            if piece.starts_with(WORD_START)
                || *id == self.visual_token_id
                || self.is_item_token(*id)
            {
                word += 1;
            }
            whole_word_ids.push(word);
        }
        if let Some(max) = max_len {
            let keep = max.saturating_sub(1);
            ids.truncate(keep);
            whole_word_ids.truncate(keep);
        }
        ids.push(self.eos_id);
        whole_word_ids.push(0);
        Ok(EncodedPrompt { input_ids: ids, whole_word_ids })
    }

    /// Target ids with `</s>`, truncated to `max_len` tokens before it (the original's
    /// `gen_max_length` = 64).
    pub fn encode_target(&self, text: &str, max_len: usize) -> Result<Vec<u32>> {
        let (mut ids, _) = self.pieces(text)?;
        ids.truncate(max_len);
        ids.push(self.eos_id);
        Ok(ids)
    }

    /// Number of tokens `text` encodes to, `</s>` included.
    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(self.pieces(text)?.0.len() + 1)
    }

    /// Text of generated ids, special tokens skipped (as HF `decode(skip_special_tokens=True)`).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids, true).map_err(|e| Vip5Error::Input(format!("decoding ids: {e}")))
    }
}

/// Category ids: 1 at the visual placeholder, else 0.
pub fn category_ids(input_ids: &[u32], visual_token_id: u32) -> Vec<u32> {
    input_ids.iter().map(|&id| u32::from(id == visual_token_id)).collect()
}

/// Encodes a rendered prompt with the original's right truncation at `max_len` tokens and returns
/// the items whose images still have placeholders (truncation can cut the last ones).
pub fn encode_rendered(
    tokenizer: &PromptTokenizer,
    rendered: &crate::prompt::RenderedPrompt,
    max_len: Option<usize>,
    n_vis_tokens: usize,
) -> Result<(EncodedPrompt, Vec<u32>)> {
    let enc = tokenizer.encode(&rendered.text, max_len)?;
    let kept = enc.input_ids.iter().filter(|&&id| id == tokenizer.visual_token_id()).count();
    let mut images = rendered.image_items.clone();
    images.truncate(kept.div_ceil(n_vis_tokens.max(1)));
    Ok((enc, images))
}

/// A rendered prompt as the encoder's input: [`encode_rendered`], then each kept image's
/// features from `feature(item)`.
pub fn encode_sample(
    tokenizer: &PromptTokenizer,
    rendered: &crate::prompt::RenderedPrompt,
    max_len: Option<usize>,
    n_vis_tokens: usize,
    feature: impl FnMut(u32) -> Vec<f32>,
) -> Result<EncoderSample> {
    let (encoded, images) = encode_rendered(tokenizer, rendered, max_len, n_vis_tokens)?;
    Ok(encoded.into_sample(&images, feature))
}

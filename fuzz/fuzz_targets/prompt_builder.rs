//! Builds personalised prompts from arbitrary requests: any template, history, item, candidates,
//! visitor name (arbitrary Unicode), k and token budget, with number ids and with item tokens.
//! `build_personal_prompt` must return a prompt or an error, never panic; a prompt it returns
//! fits its budget and names only ids the tokenizer has.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vip5::prompt::{
    PersonalRequest, PromptTokenizer, TEMPLATES, Truncation, UserLabel, build_personal_prompt,
};

const TOKENIZER_JSON: &[u8] = include_bytes!("../../data/tokenizers/t5-small/tokenizer.json");
const ITEM_TOKENS: usize = 300;

fn tokenizers() -> &'static [PromptTokenizer; 2] {
    static TOKENIZERS: OnceLock<[PromptTokenizer; 2]> = OnceLock::new();
    TOKENIZERS.get_or_init(|| {
        let numbers = PromptTokenizer::from_json_bytes(TOKENIZER_JSON).expect("t5-small tokenizer");
        let tokens = PromptTokenizer::from_json_bytes(TOKENIZER_JSON)
            .and_then(|t| t.with_item_tokens(ITEM_TOKENS))
            .expect("item tokens");
        [numbers, tokens]
    })
}

/// Reads the request's numbers from the front of the input, the visitor's name from the rest.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }
    fn item(&mut self) -> u32 {
        // Mostly small ids (inside the catalogue), now and then any u32.
        let b = self.byte();
        if b == 255 { u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()]) } else { u32::from(b) + 1 }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let flags = input.byte();
    let template = &TEMPLATES[usize::from(input.byte()) % TEMPLATES.len()];
    let history: Vec<u32> = (0..input.byte() % 64).map(|_| input.item()).collect();
    let candidates: Vec<u32> = (0..input.byte() % 32).map(|_| input.item()).collect();
    let item = (flags & 1 != 0).then(|| input.item());
    let n_vis_tokens = usize::from(input.byte() % 5);
    let max_input_tokens = usize::from(input.byte()) * 4;
    let name = String::from_utf8_lossy(input.0).into_owned();
    let user = match flags >> 1 & 3 {
        0 => None,
        1 => Some(UserLabel { id: Some(name.clone()), desc: None }),
        _ => Some(UserLabel { id: None, desc: Some(name.clone()) }),
    };
    let tokenizer = &tokenizers()[usize::from(flags >> 3 & 1)];
    let request = PersonalRequest {
        history: &history,
        user,
        template_id: template.id,
        item,
        item_is_new: flags & 16 != 0,
        candidates: &candidates,
        n_vis_tokens,
        max_input_tokens,
        truncation: if flags & 32 != 0 { Truncation::RightTokens } else { Truncation::DropOldestItems },
    };
    if let Ok(prompt) = build_personal_prompt(tokenizer, &request) {
        assert!(prompt.encoded.input_ids.len() <= max_input_tokens, "prompt over its budget");
        let vocab = tokenizer.vocab_size() as u32;
        assert!(prompt.encoded.input_ids.iter().all(|&id| id < vocab), "id outside the vocabulary");
    }
});

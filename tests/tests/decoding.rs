//! Decoding against Hugging Face `generate` (greedy and beam search, same sequences and scores),
//! item-id constrained generation, and yes/no scoring.

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use vip5::batch::{EncoderBatch, EncoderSample};
use vip5::decode::{BeamConfig, beam_search, greedy, yes_probability};
use vip5::prompt::{NO_TOKEN_ID, PromptTokenizer, YES_TOKEN_ID};
use vip5::trie::{ItemConstraint, ItemTrie};
use vip5::{Task, Vip5Config, Vip5Model};
use vip5_tests::{Array, fixture_encoder_batch, fixture_model, flex, load_outputs, to_vec, wgpu};

const TOL: f32 = 1e-4;

fn padded(tokens: &[u32], len: usize, fill: u32) -> Vec<i64> {
    let mut v: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    v.resize(len, fill as i64);
    v
}

/// HF pads finished sequences with `pad_token_id or eos_token_id`: 0 is falsy in Python, so with
/// pad = 0 the fill value is the eos id.
fn hf_fill(cfg: &Vip5Config) -> u32 {
    if cfg.pad_token_id == 0 { cfg.eos_token_id } else { cfg.pad_token_id }
}

fn check_beams(name: &str, device: &Device, prefix: &str, beam: &BeamConfig) {
    let (cfg, model) = fixture_model(name, device);
    let out = load_outputs(name);
    let x = fixture_encoder_batch(&out, &cfg).to_tensors(device);
    let hyps = pollster::block_on(beam_search(
        &model,
        &x,
        Task::Sequential,
        beam,
        cfg.eos_token_id,
        cfg.decoder_start_token_id,
        None,
    ))
    .expect("beam search");
    let want_seq: &Array = &out[&format!("{prefix}_sequences")];
    let want_scores: &Array = &out[&format!("{prefix}_scores")];
    let width = want_seq.shape[1];
    let mut row = 0;
    for (n, per_input) in hyps.iter().enumerate() {
        assert_eq!(
            per_input.len(),
            beam.num_return_sequences,
            "{name} input {n}: number of returned sequences"
        );
        for h in per_input {
            let want = &want_seq.i64[row * width + 1..(row + 1) * width]; // skip the start token
            assert_eq!(
                padded(&h.tokens, width - 1, hf_fill(&cfg)),
                want,
                "{name} {prefix}: sequence {row}"
            );
            let diff = (h.score - want_scores.f32[row]).abs();
            assert!(
                diff <= TOL,
                "{name} {prefix}: score {row}: got {}, want {}",
                h.score,
                want_scores.f32[row]
            );
            row += 1;
        }
    }
}

fn beam4() -> BeamConfig {
    BeamConfig {
        num_beams: 4,
        num_return_sequences: 4,
        max_length: 8,
        length_penalty: 1.0,
        early_stopping: true,
    }
}

fn beam3() -> BeamConfig {
    BeamConfig {
        num_beams: 3,
        num_return_sequences: 2,
        max_length: 10,
        length_penalty: 0.7,
        early_stopping: false,
    }
}

#[test]
fn beam_search_matches_hf_generate_on_flex() {
    for name in ["t5_relu_tied", "t5_gated_untied"] {
        check_beams(name, &flex(), "beam", &beam4());
        check_beams(name, &flex(), "beam2", &beam3());
    }
}

#[test]
fn beam_search_matches_hf_generate_on_wgpu() {
    check_beams("t5_gated_untied", &wgpu(), "beam", &beam4());
}

#[test]
fn greedy_matches_hf_generate() {
    for name in ["t5_relu_tied", "t5_gated_untied"] {
        let device = flex();
        let (cfg, model) = fixture_model(name, &device);
        let out = load_outputs(name);
        let x = fixture_encoder_batch(&out, &cfg).to_tensors(&device);
        let got = pollster::block_on(greedy(&model, &x, Task::Sequential, 8, cfg.eos_token_id, 0))
            .unwrap();
        let want = &out["greedy_sequences"];
        for (b, tokens) in got.iter().enumerate() {
            assert_eq!(
                padded(tokens, 7, hf_fill(&cfg)),
                &want.i64[b * 8 + 1..(b + 1) * 8],
                "{name}: greedy row {b}"
            );
        }
    }
}

#[test]
fn bad_beam_settings_are_clear_errors() {
    let device = flex();
    let (cfg, model) = fixture_model("t5_relu_tied", &device);
    let out = load_outputs("t5_relu_tied");
    let x = fixture_encoder_batch(&out, &cfg).to_tensors(&device);
    let bad = BeamConfig { num_beams: 2, num_return_sequences: 3, ..beam4() };
    let err = pollster::block_on(beam_search(&model, &x, Task::Sequential, &bad, 1, 0, None))
        .unwrap_err();
    assert!(err.to_string().contains("num_return_sequences"), "{err}");
}

fn tokenizer_for(cfg: &Vip5Config) -> PromptTokenizer {
    let json = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/tokenizers/t5-small/tokenizer.json"
    ))
    .unwrap();
    PromptTokenizer::for_config(&json, cfg).unwrap()
}

fn tokenizer() -> PromptTokenizer {
    tokenizer_for(&Vip5Config::tiny())
}

/// A visitor's A-6-style prompt over two items written `first` and `second`, with two item images.
fn two_item_sample(
    tok: &PromptTokenizer,
    cfg: &Vip5Config,
    first: &str,
    second: &str,
) -> EncoderSample {
    let text = format!(
        "Here is the purchase history of a visitor : \n {first} <extra_id_0> <extra_id_0> , \
         {second} <extra_id_0> <extra_id_0> \n What to recommend next for the user ?"
    );
    let enc = tok.encode(&text, None).unwrap();
    EncoderSample {
        input_ids: enc.input_ids,
        whole_word_ids: enc.whole_word_ids,
        vis_feats: vec![vec![0.3; cfg.feat_dim], vec![-0.7; cfg.feat_dim]],
    }
}

/// A tiny random VIP5 with the real vocabulary and a prompt with two item images.
fn tiny_model_and_prompt(device: &Device) -> (Vip5Config, Vip5Model, EncoderBatch) {
    device.seed(11);
    let cfg = Vip5Config::tiny();
    let model = Vip5Model::new(&cfg, device);
    let sample = two_item_sample(&tokenizer(), &cfg, "3", "17");
    let batch = EncoderBatch::new(&[sample.clone(), sample], &cfg).unwrap();
    (cfg, model, batch)
}

#[test]
fn constrained_beam_search_returns_only_real_unseen_items() {
    let device = flex();
    let (cfg, model, batch) = tiny_model_and_prompt(&device);
    let x = batch.to_tensors(&device);
    let tok = tokenizer();
    let catalogue: Vec<u32> = (1..=300).collect();
    let trie = ItemTrie::from_item_numbers(&tok, catalogue.iter().copied()).unwrap();
    let history = [3u32, 17];
    let only: Vec<u32> = (100..110).collect();
    let constraint = ItemConstraint {
        trie: &trie,
        masks: vec![trie.allow_all_except(history), trie.allow_only(only.iter().copied())],
    };
    let beam = BeamConfig {
        num_beams: 6,
        num_return_sequences: 6,
        max_length: 10,
        length_penalty: 1.0,
        early_stopping: true,
    };
    let hyps = pollster::block_on(beam_search(
        &model,
        &x,
        Task::Sequential,
        &beam,
        cfg.eos_token_id,
        0,
        Some(&constraint),
    ))
    .unwrap();
    assert_eq!(hyps[0].len(), 6);
    assert_eq!(hyps[1].len(), 6);
    let mut seen = std::collections::HashSet::new();
    for h in &hyps[0] {
        let item = trie.item_of(&h.tokens).unwrap_or_else(|| panic!("not an item: {:?}", h.tokens));
        assert!(!history.contains(&item), "history item {item} recommended");
        assert!(seen.insert(item), "item {item} returned twice");
        // the text the model wrote is the item number
        assert_eq!(tok.decode(&h.tokens).unwrap(), item.to_string());
    }
    for h in &hyps[1] {
        let item = trie.item_of(&h.tokens).expect("an item");
        assert!(only.contains(&item), "item {item} is not on the candidate list");
    }
    // Scores come sorted best first.
    for w in hyps[0].windows(2) {
        assert!(w[0].score >= w[1].score);
    }
}

#[test]
fn unconstrained_random_model_can_emit_non_items() {
    // The original decodes without constraint; a random model shows why the trie matters.
    let device = flex();
    let (cfg, model, batch) = tiny_model_and_prompt(&device);
    let x = batch.to_tensors(&device);
    let trie = ItemTrie::from_item_numbers(&tokenizer(), 1..=300).unwrap();
    let beam = BeamConfig {
        num_beams: 4,
        num_return_sequences: 4,
        max_length: 6,
        length_penalty: 1.0,
        early_stopping: true,
    };
    let hyps = pollster::block_on(beam_search(
        &model,
        &x,
        Task::Sequential,
        &beam,
        cfg.eos_token_id,
        0,
        None,
    ))
    .unwrap();
    assert!(hyps[0].iter().any(|h| trie.item_of(&h.tokens).is_none()));
}

#[test]
fn yes_probability_is_the_two_way_softmax_of_the_first_step() {
    let device = flex();
    let (_, model, batch) = tiny_model_and_prompt(&device);
    let x = batch.to_tensors(&device);
    let p =
        pollster::block_on(yes_probability(&model, &x, Task::Direct, 0, YES_TOKEN_ID, NO_TOKEN_ID))
            .unwrap();
    // independent computation from the full first-step logits
    let enc = model.encode(&x, Task::Direct);
    let mut cache = model.start_decoding(enc, x.attention_mask.clone());
    let start = Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 0], [2, 1]), &device);
    let logits = model.decode(start, &mut cache, Task::Direct);
    let (_, l) = to_vec(logits);
    let vocab = l.len() / 2;
    for b in 0..2 {
        let pair = Tensor::<1>::from_data(
            TensorData::new(
                vec![l[b * vocab + YES_TOKEN_ID as usize], l[b * vocab + NO_TOKEN_ID as usize]],
                [2],
            ),
            &device,
        );
        let (_, sm) = to_vec(softmax(pair, 0));
        assert!((p[b] - sm[0]).abs() < 1e-6, "row {b}: {} vs {}", p[b], sm[0]);
        assert!(p[b] > 0.0 && p[b] < 1.0);
    }
}

#[test]
fn item_token_models_decode_one_token_per_item_under_constraints() {
    // Independent indexing: 300 item tokens after t5-small's vocabulary.
    let device = flex();
    device.seed(12);
    let cfg = Vip5Config { item_tokens: 300, vocab_size: 32_400, ..Vip5Config::tiny() };
    let model = Vip5Model::new(&cfg, &device);
    let tok = tokenizer_for(&cfg);
    let trie = ItemTrie::from_item_numbers(&tok, 1..=300).unwrap();
    assert_eq!(trie.num_items(), 300);
    assert_eq!(trie.item_of(&[32_099 + 17, 1]), Some(17));
    assert_eq!(
        trie.allowed_next(&[], &trie.allow_all()).len(),
        300,
        "every item is its own first token"
    );
    let sample = two_item_sample(&tok, &cfg, "<item_3>", "<item_17>");
    let x = EncoderBatch::new(&[sample], &cfg).unwrap().to_tensors(&device);
    let constraint = ItemConstraint { trie: &trie, masks: vec![trie.allow_all_except([3, 17])] };
    let beam = BeamConfig {
        num_beams: 8,
        num_return_sequences: 8,
        max_length: 10,
        length_penalty: 1.0,
        early_stopping: true,
    };
    let hyps = pollster::block_on(beam_search(
        &model,
        &x,
        Task::Sequential,
        &beam,
        cfg.eos_token_id,
        0,
        Some(&constraint),
    ))
    .unwrap();
    let mut seen = std::collections::HashSet::new();
    for h in &hyps[0] {
        assert_eq!(h.tokens.len(), 2, "one item token and </s>: {:?}", h.tokens);
        let item = trie.item_of(&h.tokens).expect("an item");
        assert!(item != 3 && item != 17 && seen.insert(item));
        assert_eq!(tok.decode(&h.tokens).unwrap(), format!("<item_{item}>"));
    }
    assert_eq!(seen.len(), 8);
}

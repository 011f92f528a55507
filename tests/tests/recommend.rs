//! The recommender a page runs, natively: history by item keys, constrained answers, filters,
//! unknown keys, and clear errors. (The browser tests compare the wasm build against these same
//! calls on the same bundle.)

use vip5::bundle::{CatalogItem, write_model_bundle};
use vip5::quant::GgmlType;
use vip5::recommend::Recommender;
use vip5::weights::{read_safetensors, save_safetensors};
use vip5::{Vip5Config, Vip5Model};
use vip5_tests::{T5_TOKENIZER, flex, keys, tiny_recommender};

fn recommender(items: usize) -> Recommender {
    tiny_recommender(items, 11)
}

#[test]
fn recommendations_are_real_unseen_items_and_respect_filters() {
    let r = recommender(40);
    let history = keys(&["SKU003", "SKU017", "NOT-IN-BUNDLE", "SKU025"]);
    assert_eq!(r.resolve(&history).ids, vec![3, 17, 25]);
    assert_eq!(r.resolve(&history).unknown, 1);
    let recs = pollster::block_on(r.recommend_next(&history, 10, &keys(&["SKU001"]), None))
        .expect("recommend");
    assert_eq!(recs.len(), 10);
    for s in &recs {
        assert!((1..=40).contains(&s.id));
        assert_eq!(s.key, format!("SKU{:03}", s.id));
        assert!(
            ![1, 3, 17, 25].contains(&s.id),
            "recommended {} from the history or the exclusions",
            s.id
        );
    }
    // Beam scores come best first, items once each.
    assert!(recs.windows(2).all(|w| w[0].score >= w[1].score), "{recs:?}");
    let mut ids: Vec<u32> = recs.iter().map(|s| s.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10);

    let only = keys(&["SKU003", "SKU010", "SKU011", "SKU012"]);
    let recs = pollster::block_on(r.recommend_next(&history, 10, &[], Some(&only))).expect("only");
    let got: Vec<u32> = recs.iter().map(|s| s.id).collect();
    assert_eq!(got.len(), 3, "SKU003 is in the history: 3 candidates remain, got {got:?}");
    assert!(got.iter().all(|id| [10, 11, 12].contains(id)));
}

#[test]
fn scores_and_candidate_rankings() {
    let r = recommender(30);
    let history = keys(&["SKU002", "SKU009"]);
    let items = keys(&["SKU004", "SKU005", "SKU030"]);
    let scored = pollster::block_on(r.score(&history, &items)).expect("score");
    assert_eq!(scored.iter().map(|s| s.id).collect::<Vec<_>>(), vec![4, 5, 30]);
    assert!(scored.iter().all(|s| s.score > 0.0 && s.score < 1.0));
    // One item scored alone gets the same probability as in the batch (padding is masked).
    let alone = pollster::block_on(r.score(&history, &items[1..2])).expect("score");
    assert!((alone[0].score - scored[1].score).abs() < 1e-5);

    let ranked = pollster::block_on(r.rank_candidates(&history, &items)).expect("rank");
    let mut ids: Vec<u32> = ranked.iter().map(|s| s.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![4, 5, 30], "a permutation of the candidates");
}

#[test]
fn clear_errors_for_empty_or_unknown_input() {
    let r = recommender(12);
    let err = pollster::block_on(r.recommend_next(&keys(&["UNKNOWN"]), 5, &[], None))
        .expect_err("no known item");
    assert!(err.to_string().contains("record one first"), "{err}");
    let err = pollster::block_on(r.score(&keys(&["SKU001"]), &keys(&["NOPE"])))
        .expect_err("unknown item");
    assert!(err.to_string().contains("item `NOPE` is not in this bundle's catalogue"), "{err}");
    let all: Vec<String> = (1..=12).map(|i| format!("SKU{i:03}")).collect();
    let err = pollster::block_on(r.recommend_next(&all, 5, &[], None)).expect_err("nothing left");
    assert!(err.to_string().contains("no catalogue item is left"), "{err}");
}

#[test]
fn item_token_bundles_recommend_and_check_their_catalogue() {
    let cfg = Vip5Config { item_tokens: 40, vocab_size: 32_140, ..Vip5Config::tiny() };
    let device = flex();
    device.seed(5);
    let model = Vip5Model::new(&cfg, &device);
    let tensors = read_safetensors(&save_safetensors(&model).expect("save")).expect("read");
    let catalog: Vec<CatalogItem> = (1..=40)
        .map(|i| CatalogItem { key: format!("SKU{i:03}"), title: format!("item {i}") })
        .collect();
    let bytes = write_model_bundle(&cfg, &tensors, T5_TOKENIZER, &catalog, None, GgmlType::F32)
        .expect("bundle");
    let r = Recommender::from_bundle(&bytes, device.clone()).expect("recommender");
    let history = keys(&["SKU003", "SKU017"]);
    let recs = pollster::block_on(r.recommend_next(&history, 10, &[], None)).expect("recommend");
    assert_eq!(recs.len(), 10);
    assert!(recs.iter().all(|s| (1..=40).contains(&s.id) && s.id != 3 && s.id != 17), "{recs:?}");
    let scored = pollster::block_on(r.score(&history, &keys(&["SKU004"]))).expect("score");
    assert!(scored[0].score > 0.0 && scored[0].score < 1.0);

    // a catalogue that does not match the model's item tokens is refused at load
    let err = write_model_bundle(&cfg, &tensors, T5_TOKENIZER, &catalog[..39], None, GgmlType::F32)
        .and_then(|b| Recommender::from_bundle(&b, device).map(|_| ()))
        .expect_err("39 items for 40 item tokens");
    assert!(err.to_string().contains("40 item tokens but the catalogue has 39 items"), "{err}");
}

/// The model the demo site ships (`www/assets/demo-q8_0.gguf`) loads with today's code, names the
/// Beauty catalogue with one token per item, and answers with real, unseen products.
#[test]
fn the_bundled_demo_model_loads_and_recommends() {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../www/assets/demo-q8_0.gguf"))
        .expect("the bundled demo model");
    let r = Recommender::from_bundle(&bytes, flex()).expect("demo bundle");
    assert_eq!(r.catalog.len(), 12_101);
    assert_eq!(r.cfg.item_tokens, 12_101);
    assert_eq!(r.cfg.vocab_size, 32_100 + 12_101);
    assert_eq!(r.cfg.max_history_items, Some(10), "trained on the newest 10 items");
    assert_eq!(r.tokenizer.vocab_size(), 32_100 + 12_101);
    let history: Vec<String> = r.catalog[..3].iter().map(|c| c.key.clone()).collect();
    assert!(history.iter().all(|k| k.starts_with('B') && k.len() == 10), "ASINs: {history:?}");
    let reads_before = vip5::decode::readback_count();
    let recs = pollster::block_on(r.recommend_next(&history, 10, &[], None)).expect("recommend");
    // The read-back budget: one device-to-host read per decoding step (the item token, then the
    // end of sequence its trie leaf allows), nothing else.
    assert_eq!(vip5::decode::readback_count() - reads_before, 2, "reads per recommend_next");
    assert_eq!(recs.len(), 10);
    let mut ids: Vec<u32> = recs.iter().map(|s| s.id).collect();
    assert!(ids.iter().all(|&id| id > 3 && id <= 12_101), "{ids:?}");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10);
    assert!(recs.iter().all(|s| s.score.is_finite()));
}

#[test]
fn prompts_hold_the_newest_items_the_model_was_trained_with() {
    let build = |max_history_items: Option<usize>| {
        let cfg = Vip5Config { max_history_items, ..Vip5Config::tiny() };
        let device = flex();
        device.seed(11);
        let model = Vip5Model::new(&cfg, &device);
        let tensors = read_safetensors(&save_safetensors(&model).expect("save")).expect("read");
        let catalog: Vec<CatalogItem> = (1..=30)
            .map(|i| CatalogItem { key: format!("SKU{i:03}"), title: String::new() })
            .collect();
        let bytes = write_model_bundle(&cfg, &tensors, T5_TOKENIZER, &catalog, None, GgmlType::F32)
            .expect("bundle");
        Recommender::from_bundle(&bytes, device).expect("recommender")
    };
    let long = keys(&["SKU001", "SKU002", "SKU003", "SKU004", "SKU005"]);
    let newest = keys(&["SKU004", "SKU005"]);
    let items = keys(&["SKU010", "SKU020"]);
    let capped = build(Some(2));
    let a = pollster::block_on(capped.score(&long, &items)).expect("score");
    let b = pollster::block_on(capped.score(&newest, &items)).expect("score");
    assert_eq!(a, b, "a model trained on 2 items sees the newest 2");
    // older items still count as seen: never recommended
    let recs = pollster::block_on(capped.recommend_next(&long, 10, &[], None)).expect("recommend");
    assert!(recs.iter().all(|s| s.id > 5), "{recs:?}");
    // without the cap the whole history is in the prompt, and the answer differs
    let uncapped = build(None);
    let a = pollster::block_on(uncapped.score(&long, &items)).expect("score");
    let b = pollster::block_on(uncapped.score(&newest, &items)).expect("score");
    assert_ne!(a, b);
}

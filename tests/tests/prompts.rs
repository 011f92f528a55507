//! Prompts: the 29 templates, rendering and token/whole-word ids against the original's formatting
//! and the HF fast tokenizer (tests/gen/gen_prompt_fixtures.py), the worked A-1 example of
//! docs/vip5.md §2.1, on-device personalization, and the seeded training samplers.

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use vip5::Task;
use vip5::prompt::sampling::{
    SamplerConfig, Split, UserRecord, direct_sample, jitter_rating, sequential_sample,
    sequential_window,
};
use vip5::prompt::{
    ANONYMOUS_VISITOR, HistorySeparator, ItemNaming, PersonalRequest, PromptTokenizer, Slots,
    TEMPLATES, Truncation, UserLabel, build_personal_prompt, category_ids, render, template,
};

fn tokenizer() -> PromptTokenizer {
    let json = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/tokenizers/t5-small/tokenizer.json"
    ))
    .unwrap();
    PromptTokenizer::from_json_bytes(&json).unwrap()
}

#[test]
fn the_29_templates_with_ids_and_the_unseen_split() {
    assert_eq!(TEMPLATES.len(), 29);
    let ids: Vec<&str> = TEMPLATES.iter().map(|t| t.id).collect();
    let want: Vec<String> = (1..=9)
        .map(|i| format!("A-{i}"))
        .chain((1..=8).map(|i| format!("B-{i}")))
        .chain((1..=12).map(|i| format!("C-{i}")))
        .collect();
    assert_eq!(ids, want);
    let unseen: Vec<&str> = TEMPLATES.iter().filter(|t| t.unseen).map(|t| t.id).collect();
    assert_eq!(unseen, ["A-9", "B-8", "C-12"]);
    // byte-exact spot checks, including the double space of B-8 and the newlines
    assert_eq!(
        template("B-8").unwrap().source,
        "We want to make recommendation for user_{user_id} .  Select the best item from \
         these candidates : \n {candidates}"
    );
    assert_eq!(
        template("A-3").unwrap().source,
        "Here is the purchase history list of user_{user_id} : \n {purchase_history} \n try \
         to recommend next item to the user"
    );
    assert_eq!(template("C-5").unwrap().task, Task::Explanation);
    assert!(template("D-1").is_err());
}

fn slots_from_json(case: &Value) -> (Slots, usize, HistorySeparator) {
    let s = &case["slots"];
    let items = |key: &str| -> Vec<u32> {
        s.get(key)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().map(|x| x.as_u64().unwrap() as u32).collect())
            .unwrap_or_default()
    };
    let text = |key: &str| s.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let slots = Slots {
        item_naming: ItemNaming::Numbers,
        item_is_new: false,
        user_id: text("user_id"),
        user_desc: text("user_desc"),
        history: items("history"),
        candidates: items("candidates"),
        item: s.get("item").and_then(|v| v.as_u64()).map(|v| v as u32),
        item_title: text("item_title"),
        star_rating: text("star_rating"),
        feature: text("feature"),
        review_headline: text("review_headline"),
    };
    let sep = if text("sep").as_deref() == Some("->") {
        HistorySeparator::Arrow
    } else {
        HistorySeparator::Comma
    };
    (slots, s["k"].as_u64().unwrap() as usize, sep)
}

#[test]
fn rendering_and_ids_match_the_original_formatting_and_hf_tokenizer() {
    let tok = tokenizer();
    let cases: Vec<Value> = serde_json::from_str(include_str!("../fixtures/prompt_cases.json"))
        .expect("prompt fixture");
    assert_eq!(cases.len(), 6);
    for case in &cases {
        let id = case["template"].as_str().unwrap();
        let (slots, k, sep) = slots_from_json(case);
        let rendered = render(template(id).unwrap(), &slots, k, sep).unwrap();
        assert_eq!(rendered.text, case["text"].as_str().unwrap(), "{id}: text");
        let enc = tok.encode(&rendered.text, None).unwrap();
        let ids: Vec<u32> = case["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        let ww: Vec<u32> = case["whole_word_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(enc.input_ids, ids, "{id}: token ids");
        assert_eq!(enc.whole_word_ids, ww, "{id}: whole-word ids");
        // k placeholders per image, images in prompt order
        let placeholders = enc.input_ids.iter().filter(|&&t| t == 32099).count();
        assert_eq!(placeholders, rendered.image_items.len() * k, "{id}: placeholders vs images");
    }
}

#[test]
fn the_spec_worked_a1_example() {
    // docs/vip5.md §2.1: user 251, history [1024, 1025, 7], k = 2, commas.
    let tok = tokenizer();
    let slots =
        Slots { user_id: Some("251".into()), history: vec![1024, 1025, 7], ..Slots::default() };
    let r = render(template("A-1").unwrap(), &slots, 2, HistorySeparator::Comma).unwrap();
    assert_eq!(
        r.text,
        "Given the following purchase history of user_251 : \n 1024 <extra_id_0> <extra_id_0> , \
         1025 <extra_id_0> <extra_id_0> , 7 <extra_id_0> <extra_id_0> \n predict next possible \
         item to be purchased by the user ?"
    );
    assert_eq!(r.image_items, vec![1024, 1025, 7]);
    let enc = tok.encode(&r.text, None).unwrap();
    assert_eq!(
        enc.input_ids,
        vec![
            9246, 8, 826, 1242, 892, 13, 1139, 834, 1828, 536, 3, 10, 335, 2266, 32099, 32099, 3,
            6, 335, 1828, 32099, 32099, 3, 6, 489, 32099, 32099, 9689, 416, 487, 2118, 12, 36,
            3907, 57, 8, 1139, 3, 58, 1
        ]
    );
    // docs/vip5.md §2.1 lists the first 28 whole-word ids and the tail `30, 30, 0`.
    assert_eq!(
        enc.whole_word_ids[..28],
        [
            1, 2, 3, 4, 5, 6, 7, 7, 7, 7, 8, 8, 9, 9, 10, 11, 12, 12, 13, 13, 14, 15, 16, 16, 17,
            18, 19, 20
        ]
    );
    assert_eq!(enc.whole_word_ids[enc.whole_word_ids.len() - 3..], [30, 30, 0]);
    let cats = category_ids(&enc.input_ids, tok.visual_token_id());
    assert_eq!(cats.iter().sum::<u32>(), 6);
    assert_eq!(cats[14], 1);
}

fn personal<'a>(
    history: &'a [u32],
    template_id: &'a str,
    budget: usize,
    truncation: Truncation,
) -> PersonalRequest<'a> {
    PersonalRequest {
        history,
        user: None,
        template_id,
        item: None,
        item_is_new: false,
        candidates: &[],
        n_vis_tokens: 2,
        max_input_tokens: budget,
        truncation,
    }
}

#[test]
fn visitor_prompt_uses_the_neutral_label_and_keeps_image_order() {
    let tok = tokenizer();
    let history = [11u32, 4021, 77];
    let p =
        build_personal_prompt(&tok, &personal(&history, "A-6", 512, Truncation::DropOldestItems))
            .unwrap();
    assert!(p.text.starts_with(&format!(
        "Here is the purchase history of {ANONYMOUS_VISITOR} : \n 11 <extra_id_0>"
    )));
    assert_eq!(p.image_items, history);
    assert_eq!(p.dropped_items, 0);
    assert_eq!(*p.encoded.input_ids.last().unwrap(), 1);
    // a visitor has no user_N: A-3 is refused with the alternatives named
    let err =
        build_personal_prompt(&tok, &personal(&history, "A-3", 512, Truncation::DropOldestItems))
            .unwrap_err();
    assert!(err.to_string().contains("A-6"), "{err}");
    // a known user can use A-3
    let mut req = personal(&history, "A-3", 512, Truncation::DropOldestItems);
    req.user = Some(UserLabel { id: Some("251".into()), desc: None });
    assert!(build_personal_prompt(&tok, &req).unwrap().text.contains("user_251 :"));
}

#[test]
fn long_history_drops_oldest_items_and_keeps_the_instruction() {
    let tok = tokenizer();
    let history: Vec<u32> = (1000..1200).collect();
    let budget = 120;
    let p = build_personal_prompt(
        &tok,
        &personal(&history, "A-6", budget, Truncation::DropOldestItems),
    )
    .unwrap();
    assert!(p.encoded.input_ids.len() <= budget);
    assert!(p.dropped_items > 0);
    // the kept items are the newest ones, and one more item would not fit
    assert_eq!(p.image_items, history[p.dropped_items..]);
    let one_more = build_personal_prompt(
        &tok,
        &personal(&history[p.dropped_items - 1..], "A-6", 10_000, Truncation::DropOldestItems),
    )
    .unwrap();
    assert!(one_more.encoded.input_ids.len() > budget);
    assert!(p.text.ends_with("What to recommend next for the user ?"));
    let placeholders = p.encoded.input_ids.iter().filter(|&&t| t == 32099).count();
    assert_eq!(placeholders, 2 * p.image_items.len());

    // The original's right truncation loses the newest items and the instruction.
    let r =
        build_personal_prompt(&tok, &personal(&history, "A-6", budget, Truncation::RightTokens))
            .unwrap();
    assert_eq!(r.encoded.input_ids.len(), budget);
    assert_eq!(r.image_items[0], 1000, "right truncation keeps the oldest items");
    let decoded = tok.decode(&r.encoded.input_ids).unwrap();
    assert!(!decoded.contains("recommend next"), "{decoded}");
}

#[test]
fn training_windows_follow_the_original_ranges() {
    let items: Vec<u32> = (101..=110).collect(); // n = 10, len = 11
    let mut rng = StdRng::seed_from_u64(5);
    let mut ends = std::collections::BTreeSet::new();
    for _ in 0..2000 {
        let (hist, target) = sequential_window(&items, Split::Train, &mut rng).unwrap();
        // end in [max(2, 11-6) = 5, 11-4 = 7] (positions with the user at 0) -> target is item
        // position 6..=8, i.e. items[5..=7]; never the val (items[8]) or test (items[9]) item
        assert!((106..=108).contains(&target), "target {target}");
        assert!([101, 102, 103].contains(&hist[0]), "start {:?}", hist);
        assert_eq!(*hist.last().unwrap() + 1, target);
        ends.insert(target);
    }
    assert_eq!(ends.len(), 3, "every end position is drawn");
    assert_eq!(
        sequential_window(&items, Split::Validation, &mut rng).unwrap(),
        ((101..=108).collect(), 109)
    );
    assert_eq!(
        sequential_window(&items, Split::Test, &mut rng).unwrap(),
        ((101..=109).collect(), 110)
    );
    assert!(sequential_window(&items[..4], Split::Train, &mut rng).is_err());
}

#[test]
fn samplers_are_seeded_and_build_the_original_samples() {
    let user = UserRecord {
        id: 7,
        desc: "A2XYZ".into(),
        items: vec![3, 9, 27, 81, 243, 5, 6],
        evaluated: true,
    };
    let all_items: Vec<u32> = (1..=500).collect();
    let cfg = SamplerConfig::default();
    let titles = |i: u32| i.is_multiple_of(2).then(|| format!("title {i}"));
    let run = |seed: u64| {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..50)
            .map(|_| {
                (
                    sequential_sample(&user, Split::Train, None, &all_items, &cfg, &mut rng)
                        .unwrap(),
                    direct_sample(&user, Split::Train, None, &all_items, &titles, &cfg, &mut rng)
                        .unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(42), run(42), "same seed, same samples");
    assert_ne!(run(42), run(43));

    let mut rng = StdRng::seed_from_u64(1);
    let (mut commas, mut arrows, mut yes, mut no) = (0, 0, 0, 0);
    for _ in 0..400 {
        let s = sequential_sample(&user, Split::Train, None, &all_items, &cfg, &mut rng).unwrap();
        assert!(!s.template_id.ends_with("-9"), "A-9 is never trained");
        if s.prompt.text.contains(" , ") {
            commas += 1;
        }
        if s.prompt.text.contains(" -> ") {
            arrows += 1;
        }
        match s.target.as_str() {
            "yes" => yes += 1,
            "no" => {
                no += 1;
                // the queried item (last image) is one the user never touched
                assert!(!user.items.contains(s.prompt.image_items.last().unwrap()));
            }
            t => assert!(user.items.contains(&t.parse().unwrap())),
        }
    }
    assert!(commas > 120 && arrows > 120, "separators 50/50: {commas} / {arrows}");
    assert!(yes > 20 && no > 20, "yes/no 50/50: {yes} / {no}");

    let b5 = direct_sample(
        &user,
        Split::Test,
        Some(template("B-5").unwrap()),
        &all_items,
        &titles,
        &cfg,
        &mut rng,
    )
    .unwrap();
    assert_eq!(b5.target, "6");
    assert_eq!(b5.prompt.image_items.len(), 100);
    let unique: std::collections::HashSet<_> = b5.prompt.image_items.iter().collect();
    assert_eq!(unique.len(), 100);
    assert!(b5.prompt.image_items.contains(&6));
    for item in &b5.prompt.image_items {
        assert!(*item == 6 || !user.items.contains(item), "negative {item} was interacted with");
    }
    let b3 = direct_sample(
        &user,
        Split::Validation,
        Some(template("B-3").unwrap()),
        &all_items,
        &titles,
        &cfg,
        &mut rng,
    )
    .unwrap();
    assert!(b3.prompt.text.starts_with("For A2XYZ, do you think it is good to recommend "));
    assert!(b3.prompt.text.contains("title ") || b3.prompt.text.contains("unknown title"));
}

#[test]
fn anonymous_share_speaks_of_the_visitor() {
    let user = UserRecord {
        id: 7,
        desc: "A2XYZ".into(),
        items: vec![3, 9, 27, 81, 243, 5, 6],
        evaluated: true,
    };
    let all_items: Vec<u32> = (1..=500).collect();
    let cfg = SamplerConfig { anonymous_share: 1.0, ..SamplerConfig::default() };
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..100 {
        let s = sequential_sample(&user, Split::Train, None, &all_items, &cfg, &mut rng).unwrap();
        assert!(s.prompt.text.contains(ANONYMOUS_VISITOR), "{}", s.prompt.text);
        assert!(!s.prompt.text.contains("user_7"));
    }
}

#[test]
fn yes_no_share_sets_how_many_sequential_samples_ask_yes_or_no() {
    let user = UserRecord {
        id: 7,
        desc: "A2XYZ".into(),
        items: vec![3, 9, 27, 81, 243, 5, 6],
        evaluated: true,
    };
    let all_items: Vec<u32> = (1..=500).collect();
    let yes_no_count = |share: Option<f64>, anonymous_share: f64| {
        let cfg =
            SamplerConfig { yes_no_share: share, anonymous_share, ..SamplerConfig::default() };
        let mut rng = StdRng::seed_from_u64(11);
        (0..2000)
            .filter(|_| {
                let s = sequential_sample(&user, Split::Train, None, &all_items, &cfg, &mut rng)
                    .unwrap();
                let yes_no = ["A-7", "A-8"].contains(&s.template_id);
                assert_eq!(yes_no, s.target == "yes" || s.target == "no", "{}", s.template_id);
                yes_no
            })
            .count()
    };
    // the original's uniform draw over A-1..A-8: a quarter (binomial sd about 19)
    assert!((440..=560).contains(&yes_no_count(None, 0.0)));
    assert_eq!(yes_no_count(Some(0.0), 0.2), 0);
    assert_eq!(yes_no_count(Some(1.0), 0.2), 2000);
    // 10 %: binomial sd about 13, with anonymous visitors (their pool holds A-8 only)
    assert!((150..=250).contains(&yes_no_count(Some(0.1), 0.2)));
}

#[test]
fn rating_jitter_stays_in_its_bin_on_average() {
    let mut rng = StdRng::seed_from_u64(9);
    for (star, mean) in [(1u8, 1.2f64), (3, 2.95), (5, 4.75)] {
        let draws: Vec<f64> =
            (0..2000).map(|_| jitter_rating(star, &mut rng).parse().unwrap()).collect();
        let avg = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((avg - mean).abs() < 0.05, "star {star}: mean {avg}");
        assert!(draws.iter().all(|&d| (1.0..=5.0).contains(&d)));
        assert!(draws.iter().all(|&d| ((d * 10.0).round() - d * 10.0).abs() < 1e-9), "one decimal");
    }
}

#[test]
fn item_tokens_write_each_item_as_one_token_and_one_word() {
    let tok = tokenizer().with_item_tokens(100).unwrap();
    assert_eq!(tok.vocab_size(), 32_200);
    assert_eq!(tok.item_naming(), ItemNaming::Tokens { count: 100 });
    let slots = Slots {
        user_id: Some("7".into()),
        history: vec![5, 42, 100],
        item_naming: tok.item_naming(),
        ..Slots::default()
    };
    let r = render(template("A-3").unwrap(), &slots, 1, HistorySeparator::Comma).unwrap();
    assert!(
        r.text
            .contains(" <item_5> <extra_id_0> , <item_42> <extra_id_0> , <item_100> <extra_id_0> "),
        "{}",
        r.text
    );
    assert!(r.text.contains("user_7 "), "user ids stay numbers: {}", r.text);
    let enc = tok.encode(&r.text, None).unwrap();
    for item in [5u32, 42, 100] {
        let id = 32_099 + item; // <item_1> is the first id after t5-small's 32,100
        let at: Vec<usize> = (0..enc.input_ids.len()).filter(|&i| enc.input_ids[i] == id).collect();
        assert_eq!(at.len(), 1, "item {item} is exactly one token: {:?}", enc.input_ids);
        let p = at[0];
        // its own word: a new whole-word id, and the placeholder after it starts the next one
        assert_eq!(enc.whole_word_ids[p], enc.whole_word_ids[p - 1] + 1, "item {item}");
        assert_eq!(enc.input_ids[p + 1], 32_099);
        assert_eq!(enc.whole_word_ids[p + 1], enc.whole_word_ids[p] + 1);
    }
    // `user_7` is text, not item 7's token; no id beyond the 100 item tokens exists
    assert!(!enc.input_ids.contains(&(32_099 + 7)));
    assert!(enc.input_ids.iter().all(|&id| id < 32_200));
    assert_eq!(tok.decode(&[32_099 + 42]).unwrap(), "<item_42>");
    // reading generated text back: exactly one item token in range names an item
    let naming = tok.item_naming();
    assert_eq!(naming.parse_token_text("<item_42>"), Some(42));
    assert_eq!(naming.parse_token_text(" <item_100> "), Some(100));
    for not_an_item in
        ["<item_0>", "<item_101>", "<item_042>", "<item_4> <item_5>", "42", "<item_>", "<item_-3>"]
    {
        assert_eq!(naming.parse_token_text(not_an_item), None, "{not_an_item}");
    }
    assert_eq!(ItemNaming::Numbers.parse_token_text("<item_42>"), None);
    // the notebook's beam scores over items: rank j -> -(j+1), a repeated item keeps its later rank
    assert_eq!(
        vip5::metrics::scores_from_beam_items([Some(5), None, Some(7), Some(5)]),
        vec![(5, -4.0), (7, -3.0)]
    );
    // the target of a sequential sample is the one token and `</s>`
    assert_eq!(tok.encode_target("<item_42>", 64).unwrap(), vec![32_099 + 42, 1]);

    // a visitor's photo of a product outside the catalogue: `<unk>` (id 2) names it, its image
    // follows
    let photo = Slots {
        item: Some(101),
        item_is_new: true,
        user_desc: Some("a visitor".into()),
        ..slots.clone()
    };
    let r = render(template("A-8").unwrap(), &photo, 1, HistorySeparator::Comma).unwrap();
    assert!(r.text.contains("purchase <unk> <extra_id_0> next ?"), "{}", r.text);
    assert_eq!(r.image_items.last(), Some(&101));
    assert!(tok.encode(&r.text, None).unwrap().input_ids.contains(&2));
    let numbers = Slots { item_naming: ItemNaming::Numbers, ..photo };
    assert!(
        render(template("A-8").unwrap(), &numbers, 1, HistorySeparator::Comma)
            .unwrap()
            .text
            .contains("purchase 101 <extra_id_0> next ?")
    );
    // an item outside the tokens is an error, never a silent fall-back to text pieces
    let bad = Slots { history: vec![3, 101], ..slots };
    let err = render(template("A-3").unwrap(), &bad, 1, HistorySeparator::Comma).unwrap_err();
    assert!(
        err.to_string()
            .contains("item 101 has no item token (this model has tokens for items 1..=100)"),
        "{err}"
    );
    // the sampler writes targets the same way
    let user =
        UserRecord { id: 7, desc: "v".into(), items: vec![5, 42, 100, 9, 11], evaluated: true };
    let cfg = SamplerConfig { item_naming: tok.item_naming(), ..SamplerConfig::default() };
    let all: Vec<u32> = (1..=100).collect();
    let mut rng = StdRng::seed_from_u64(3);
    let s =
        sequential_sample(&user, Split::Test, Some(template("A-3").unwrap()), &all, &cfg, &mut rng)
            .unwrap();
    assert_eq!(s.target, "<item_11>");
    assert!(s.prompt.text.contains("<item_9>"), "{}", s.prompt.text);
}

#[test]
fn item_tokens_must_fit_the_model_vocabulary() {
    let json = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/tokenizers/t5-small/tokenizer.json"
    ))
    .unwrap();
    let cfg = vip5::Vip5Config { item_tokens: 50, ..vip5::Vip5Config::tiny() };
    let err = PromptTokenizer::for_config(&json, &cfg).unwrap_err();
    assert!(
        err.to_string().contains(
            "32150 tokens (50 of them item tokens) but the model only 32100 embedding rows"
        ),
        "{err}"
    );
    let cfg = vip5::Vip5Config { vocab_size: 32_150, ..cfg };
    assert_eq!(
        PromptTokenizer::for_config(&json, &cfg).unwrap().item_naming(),
        ItemNaming::Tokens { count: 50 }
    );
    // without item tokens the tokenizer is t5-small's and items are numbers
    assert_eq!(
        PromptTokenizer::for_config(&json, &vip5::Vip5Config::tiny()).unwrap().item_naming(),
        ItemNaming::Numbers
    );
}

//! Bad input, one case per row of the README's reliability table: every case is a specific,
//! clear error or a documented acceptance, never a panic. (Bundles: `bundle.rs`; photos beyond
//! these: `clip.rs`; a shop's CSV files: `shop.rs` in the core crate and
//! `trainer/tests/shop_cli.rs`.)

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vip5::clip::preprocess::preprocess;
use vip5::clip::{RgbImage, decode_image};
use vip5::data::{parse_raw_sequences, parse_sequential_data};
use vip5::prompt::PromptTokenizer;
use vip5::recommend::Recommender;
use vip5_tests::{T5_TOKENIZER, keys, tiny_recommender};

fn recommender(items: usize) -> Recommender {
    tiny_recommender(items, 3)
}

fn err_text<T: std::fmt::Debug>(r: vip5::Result<T>) -> String {
    r.expect_err("an error").to_string()
}

#[test]
fn dataset_files_accept_crlf_and_a_bom_and_name_the_line_of_what_they_refuse() {
    // a BOM (as spreadsheet exports write) and CRLF line endings are read as the plain file
    let plain = parse_sequential_data("1 10 11 12\n2 11 13\n").expect("plain");
    assert_eq!(
        parse_sequential_data("\u{feff}1 10 11 12\r\n2 11 13\r\n").expect("BOM + CRLF"),
        plain
    );
    let raw = parse_raw_sequences("\u{feff}A1 B1 B2\r\nA2 B2 B3\r\n").expect("raw BOM + CRLF");
    assert_eq!(raw.user_names, vec!["A1", "A2"]);
    assert_eq!(raw.item_names, vec!["B1", "B2", "B3"]);
    // what is refused names the line and the reason
    let cases = [
        ("1 10 11\n\n2 11 12\n", "line 2: the line is empty"),
        ("1 10 11\n2 11 x12\n", "line 2: `x12` is not a valid item id"),
        ("1 10 11\n-2 11\n", "line 2: `-2` is not a valid user id"),
        ("1 10 11\n2 0\n", "line 2: `0` is not a valid item id"),
        ("1 10 11\n1 12 13\n", "line 2: user 1 was already given on line 1"),
        ("1 10 11\n2\n", "line 2: user 2 has no items"),
        ("1 10 99999999999\n", "line 1: `99999999999` is not a valid item id"),
    ];
    for (text, want) in cases {
        let err = err_text(parse_sequential_data(text));
        assert!(err.contains(want), "{text:?}: {err}");
    }
    let err = err_text(parse_raw_sequences("A1 B1\nA1 B2\n").map(|r| r.sequences));
    assert!(err.contains("line 2: reviewer `A1` was already given on line 1"), "{err}");
}

#[test]
fn histories_long_repeated_or_unknown_and_candidate_lists_empty_or_unknown() {
    let r = recommender(40);
    // 10,000 items, every catalogue item many times over and unknown keys between them: the
    // prompt keeps the newest items (the config's cap), the answer excludes everything seen
    let history: Vec<String> = (0..10_000)
        .map(|i| if i % 7 == 0 { format!("GONE{i}") } else { format!("SKU{:03}", i % 31 + 1) })
        .collect();
    let resolved = r.resolve(&history);
    assert_eq!(resolved.unknown, 10_000usize.div_ceil(7));
    let recs =
        pollster::block_on(r.recommend_next(&history, 5, &[], None)).expect("a long history");
    assert_eq!(recs.len(), 5);
    assert!(recs.iter().all(|s| s.id > 31), "recommended a seen item: {recs:?}");
    // the same item recorded three times is one item of the history
    let recs =
        pollster::block_on(r.recommend_next(&keys(&["SKU005", "SKU005", "SKU005"]), 39, &[], None))
            .expect("repeats");
    assert_eq!(recs.len(), 39);
    assert!(recs.iter().all(|s| s.id != 5));
    // only unknown keys: nothing to personalise from
    let err =
        err_text(pollster::block_on(r.recommend_next(&keys(&["GONE1", "GONE2"]), 5, &[], None)));
    assert!(err.contains("record one first"), "{err}");
    // candidates: none gives none; an unknown key is named
    let ranked =
        pollster::block_on(r.rank_candidates(&keys(&["SKU001"]), &[])).expect("no candidates");
    assert!(ranked.is_empty());
    let err = err_text(pollster::block_on(
        r.rank_candidates(&keys(&["SKU001"]), &keys(&["SKU002", "NOPE"])),
    ));
    assert!(err.contains("rankCandidates: item `NOPE` is not in this bundle's catalogue"), "{err}");
    let err = err_text(pollster::block_on(r.score(&keys(&["SKU001"]), &keys(&["NOPE"]))));
    assert!(err.contains("item `NOPE`"), "{err}");
    // a filter that leaves nothing, and one of unknown keys only
    let err = err_text(pollster::block_on(r.recommend_next(
        &keys(&["SKU001"]),
        5,
        &[],
        Some(&keys(&["SKU001"])),
    )));
    assert!(err.contains("no catalogue item is left"), "{err}");
    // `only` (a stock list) skips keys the bundle lacks, as `exclude` and the history do
    let recs = pollster::block_on(r.recommend_next(
        &keys(&["SKU001"]),
        5,
        &keys(&["GONE"]),
        Some(&keys(&["NEW1", "SKU007", "NEW2"])),
    ))
    .expect("only");
    assert_eq!(recs.iter().map(|s| s.id).collect::<Vec<_>>(), vec![7]);
    let err = err_text(pollster::block_on(r.recommend_next(
        &keys(&["SKU001"]),
        5,
        &[],
        Some(&keys(&["NOPE"])),
    )));
    assert!(err.contains("no catalogue item is left"), "{err}");
}

#[test]
fn the_tokenizer_takes_arbitrary_unicode_without_panicking() {
    let tok = PromptTokenizer::from_json_bytes(T5_TOKENIZER.as_bytes()).expect("tokenizer");
    let mut rng = StdRng::seed_from_u64(0x9e37_79b9_7f4a_7c15);
    // code points from every plane, controls, combining marks, RTL, NUL, private use
    let fixed = [
        "",
        " ",
        "\0",
        "\u{301}\u{301}\u{301}",
        "مرحبا بالعالم",
        "👩‍👩‍👧‍👦🏳️‍🌈",
        "\u{10FFFF}\u{E000}",
        "\t\r\n\u{2028}",
        "<extra_id_0> </s> <pad>",
    ];
    let mut texts: Vec<String> = fixed.iter().map(|s| s.to_string()).collect();
    for _ in 0..2_000 {
        let len = rng.random_range(0..40);
        let s: String = (0..len)
            .filter_map(|_| {
                // half ASCII-ish, half anywhere in Unicode (surrogates are not chars: skipped)
                let top = if rng.random::<bool>() { 0x80 } else { 0x11_0000 };
                char::from_u32(rng.random_range(0..top))
            })
            .collect();
        texts.push(s);
    }
    for text in &texts {
        let encoded = tok.encode(text, Some(512)).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert!(encoded.input_ids.len() <= 512);
        assert!(encoded.input_ids.iter().all(|&id| (id as usize) < tok.vocab_size()), "{text:?}");
        assert_eq!(encoded.input_ids.last(), Some(&tok.eos_id()), "{text:?} ends with </s>");
    }
}

#[test]
fn photos_that_are_tiny_truncated_or_of_the_wrong_byte_length() {
    // 1x1: upscaled and cropped like any photo
    let one = RgbImage::from_rgb(vec![200, 100, 50], 1, 1).expect("1x1");
    let pixels = preprocess(&one, 224).expect("a 1x1 photo preprocesses");
    assert_eq!(pixels.len(), 3 * 224 * 224);
    assert!(pixels.iter().all(|v| v.is_finite()));
    // truncated halfway: an error, not a panic or a half-grey image
    let png = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/clip/photos/chelsea_150x100.png"
    ))
    .expect("fixture");
    assert!(decode_image(&png).is_ok());
    for cut in [8, 33, png.len() / 2, png.len() - 12] {
        let err = err_text(decode_image(&png[..cut]));
        assert!(
            err.contains("image") || err.contains("PNG") || err.contains("Png"),
            "cut at {cut}: {err}"
        );
    }
    // a canvas whose byte length does not match its size
    let err = err_text(RgbImage::from_rgba(&[0; 10], 2, 2));
    assert!(err.contains("RGBA buffer has 10 bytes, expected 16 for 2x2"), "{err}");
    // 20000 x 20000 is refused from its size alone (no 1.6 GB buffer is asked for)
    let err = err_text(RgbImage::from_rgba(&[], 20_000, 20_000));
    assert!(err.contains("20000x20000 is too large"), "{err}");
}

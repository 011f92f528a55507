//! Feeds arbitrary text to every dataset reader a user's files reach: P5's `sequential_data.txt`,
//! the raw "one line per user" layout, a shop's interactions and catalogue tables (CSV and TSV)
//! and the timestamp parser, then splits what was read. Each must return a value or an error,
//! never panic or overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vip5::data::shop::{
    CatalogOptions, Delimiter, InteractionOptions, Repeats, parse_catalog, parse_interactions,
    parse_timestamp,
};
use vip5::data::{Split, parse_raw_sequences, parse_sequential_data, split_examples};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    if let Ok(sequences) = parse_sequential_data(&text) {
        for split in [Split::Train, Split::Validation, Split::Test] {
            let _ = split_examples(&sequences, split);
        }
    }
    let _ = parse_raw_sequences(&text);
    let delimiter = if flags & 1 == 0 { Delimiter::Comma } else { Delimiter::Tab };
    let options = InteractionOptions {
        delimiter,
        repeats: if flags & 2 == 0 { Repeats::Keep } else { Repeats::Collapse },
        min_user_interactions: usize::from(flags >> 2 & 3),
        min_item_interactions: usize::from(flags >> 4 & 3),
        ..InteractionOptions::default()
    };
    let _ = parse_interactions(&text, "orders.csv", &options);
    let _ = parse_catalog(&text, "products.csv", &CatalogOptions { delimiter, ..Default::default() });
    for line in text.lines().take(64) {
        let _ = parse_timestamp(line);
    }
});

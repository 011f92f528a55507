//! Feeds arbitrary bytes to the bundle reader: parsing, metadata, catalogue, templates and tensor
//! decoding must return errors, never panic, overflow or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vip5::bundle::Bundle;

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = Bundle::from_bytes(data) else { return };
    let _ = bundle.config();
    let _ = bundle.clip_config();
    let _ = bundle.catalog();
    let _ = bundle.check_templates();
    let _ = bundle.tokenizer_json();
    let _ = bundle.describe();
    let _ = bundle.tensors();
});

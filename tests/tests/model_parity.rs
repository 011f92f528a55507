//! Parity of the burn model with Hugging Face `transformers` (T5) and with the independent
//! PyTorch VIP5 reference, on small random configs (fixtures from
//! `tests/gen/gen_model_fixtures.py`), on the CPU (flex) and on wgpu (lavapipe in CI).

use burn::tensor::{Device, Int, Tensor, TensorData};
use vip5::Task;
use vip5_tests::{
    assert_close, fixture_encoder_batch, fixture_model, flex, load_outputs, to_vec, wgpu,
};

const TOL: f32 = 1e-4;

/// Checks encoder states, teacher-forced logits and token-by-token cached logits of one fixture.
fn check_fixture(name: &str, device: &Device) {
    let (cfg, model) = fixture_model(name, device);
    let out = load_outputs(name);
    let (batch, _) = (out["input_ids"].shape[0], out["input_ids"].shape[1]);
    let enc_batch = fixture_encoder_batch(&out, &cfg);
    if let Some(cat) = out.get("category_ids") {
        assert_eq!(
            enc_batch.category_ids, cat.i64,
            "{name}: category ids differ from the reference"
        );
    }
    let x = enc_batch.to_tensors(device);
    let mask: Vec<f32> = out["attention_mask"].i64.iter().map(|&m| m as f32).collect();
    assert_eq!(enc_batch.attention_mask, mask, "{name}: attention mask");

    let enc = model.encode(&x, Task::Sequential);
    let (_, got) = to_vec(enc.clone());
    assert_close(&format!("{name}: encoder hidden states"), &got, &out["encoder_hidden"].f32, TOL);

    let dec = &out["decoder_input_ids"];
    let dec_ids = Tensor::<2, Int>::from_data(
        TensorData::new(dec.i64.clone(), [dec.shape[0], dec.shape[1]]),
        device,
    );
    let mut cache = model.start_decoding(enc.clone(), x.attention_mask.clone());
    let (_, full) = to_vec(model.decode(dec_ids.clone(), &mut cache, Task::Sequential));
    assert_close(&format!("{name}: decoder logits (whole prefix)"), &full, &out["logits"].f32, TOL);

    // Token by token with the cache: each step feeds one token and attends over the cache.
    let mut cache = model.start_decoding(enc, x.attention_mask.clone());
    let vocab = cfg.vocab_size;
    let steps = dec.shape[1];
    let mut stepped = vec![0.0f32; batch * steps * vocab];
    for t in 0..steps {
        let step_ids = dec_ids.clone().slice([0..batch, t..t + 1]);
        let (dims, logits) = to_vec(model.decode(step_ids, &mut cache, Task::Sequential));
        assert_eq!(dims, vec![batch, 1, vocab]);
        for b in 0..batch {
            stepped[(b * steps + t) * vocab..(b * steps + t + 1) * vocab]
                .copy_from_slice(&logits[b * vocab..(b + 1) * vocab]);
        }
    }
    assert_eq!(
        cache.step_query_lengths,
        vec![1; steps],
        "{name}: every cached step must feed one token"
    );
    assert_eq!(cache.len, steps);
    assert_close(
        &format!("{name}: decoder logits (cached, vs HF cache)"),
        &stepped,
        &out["logits_cached"].f32,
        TOL,
    );
    assert_close(&format!("{name}: cached vs whole-prefix logits"), &stepped, &full, TOL);
}

#[test]
fn t5_v1_0_relu_tied_matches_hf_on_flex() {
    check_fixture("t5_relu_tied", &flex());
}

#[test]
fn t5_v1_1_gated_untied_matches_hf_on_flex() {
    check_fixture("t5_gated_untied", &flex());
}

#[test]
fn vip5_matches_pytorch_reference_on_flex() {
    check_fixture("vip5_tiny", &flex());
}

#[test]
fn t5_v1_0_relu_tied_matches_hf_on_wgpu() {
    check_fixture("t5_relu_tied", &wgpu());
}

#[test]
fn t5_v1_1_gated_untied_matches_hf_on_wgpu() {
    check_fixture("t5_gated_untied", &wgpu());
}

#[test]
fn vip5_matches_pytorch_reference_on_wgpu() {
    check_fixture("vip5_tiny", &wgpu());
}

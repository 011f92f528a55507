//! Loading by Hugging Face / original VIP5 tensor names: round trips, t5-small's 32,128-row
//! vocabulary, absent VIP5 parts, and clear errors for missing or mis-shaped tensors.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::tensor::{Int, Tensor, TensorData};
use vip5::batch::{EncoderBatch, EncoderSample};
use vip5::weights::{
    NamedTensor, expected_tensors, load_checkpoint, load_safetensors, read_safetensors,
    save_safetensors,
};
use vip5::{Task, Vip5Config, Vip5Error, Vip5Model};
use vip5_tests::{flex, probe_logits, read_fixture, to_vec};

#[test]
fn save_then_load_round_trips_every_tensor_by_name() {
    let device = flex();
    device.seed(1);
    let cfg = Vip5Config::tiny();
    let a = Vip5Model::new(&cfg, &device);
    let bytes = save_safetensors(&a).unwrap();
    let names = read_safetensors(&bytes).unwrap();
    assert!(
        names.contains_key("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
    );
    assert!(names.contains_key(
        "decoder.block.1.layer.1.enc_attn_adapter.adapters.sequential.up_sampler.bias"
    ));
    assert!(names.contains_key("encoder.visual_embedding.feat_embedding.1.weight"));
    // PyTorch layout: Linear weights are [out, in]
    assert_eq!(
        names["encoder.block.0.layer.1.DenseReluDense.wi.weight"].shape,
        vec![cfg.d_ff, cfg.d_model]
    );

    device.seed(2);
    let b = Vip5Model::new(&cfg, &device);
    assert_ne!(probe_logits(&a, &cfg), probe_logits(&b, &cfg));
    let (b, report) = load_safetensors(b, &bytes, &cfg).unwrap();
    assert_eq!(report.loaded, expected_tensors(&a).len());
    assert!(report.initialised.is_empty() && report.unused.is_empty());
    assert_eq!(probe_logits(&a, &cfg), probe_logits(&b, &cfg));
}

#[test]
fn t5_small_vocabulary_of_32128_rows_is_cut_to_32100() {
    let device = flex();
    device.seed(3);
    let big = Vip5Config { vocab_size: 32_128, ..Vip5Config::tiny() };
    let src = Vip5Model::new(&big, &device);
    let mut tensors = read_safetensors(&save_safetensors(&src).unwrap()).unwrap();
    let shared = tensors["shared.weight"].clone();
    assert_eq!(shared.shape, vec![32_128, big.d_model]);
    // a plain HF T5 file also carries the stack aliases; they must be ignored
    tensors.insert("encoder.embed_tokens.weight".into(), shared.clone());
    let cfg = Vip5Config::tiny();
    let (model, report) = load_checkpoint(Vip5Model::new(&cfg, &device), tensors, &cfg).unwrap();
    assert_eq!(report.truncated_vocab_rows, 28);
    let (dims, rows) = to_vec(model.shared.weight.val());
    assert_eq!(dims, vec![32_100, cfg.d_model]);
    assert_eq!(rows[..], shared.data[..32_100 * cfg.d_model]);
}

#[test]
fn a_plain_t5_checkpoint_leaves_the_vip5_parts_at_their_init() {
    // The HF fixture is a plain T5; load it into a VIP5 model of the same shape.
    let json = String::from_utf8(read_fixture("t5_relu_tied", "config.json")).unwrap();
    let plain = Vip5Config::from_hf_json(&json).unwrap();
    let cfg = Vip5Config {
        use_adapter: true,
        vip5_inputs: true,
        feat_dim: 12,
        reduction_factor: 4,
        ..plain
    };
    let (_, report) = load_safetensors(
        Vip5Model::new(&cfg, &flex()),
        &read_fixture("t5_relu_tied", "model.safetensors"),
        &cfg,
    )
    .unwrap();
    assert!(report.initialised.iter().any(|n| n == "encoder.whole_word_embeddings.weight"));
    assert!(
        report
            .initialised
            .iter()
            .any(|n| n
                == "encoder.block.1.layer.1.ff_adapter.adapters.sequential.down_sampler.weight")
    );
    assert!(report.initialised.iter().all(|n| vip5::weights::is_vip5_part(n)));
    assert!(report.loaded > 0);
}

fn tiny_tensors() -> (Vip5Config, BTreeMap<String, NamedTensor>) {
    let device = flex();
    device.seed(4);
    let cfg = Vip5Config::tiny();
    let t = read_safetensors(&save_safetensors(&Vip5Model::new(&cfg, &device)).unwrap()).unwrap();
    (cfg, t)
}

#[test]
fn a_missing_backbone_tensor_is_named_in_the_error() {
    let (cfg, mut t) = tiny_tensors();
    t.remove("decoder.block.1.layer.1.EncDecAttention.k.weight");
    let err = load_checkpoint(Vip5Model::new(&cfg, &flex()), t, &cfg).unwrap_err();
    assert!(matches!(
        err,
        Vip5Error::MissingTensor { ref name, .. }
            if name == "decoder.block.1.layer.1.EncDecAttention.k.weight"
    ));
    assert!(err.to_string().contains("decoder.block.1.layer.1.EncDecAttention.k.weight"), "{err}");
}

#[test]
fn a_mis_shaped_tensor_is_named_in_the_error() {
    let (cfg, mut t) = tiny_tensors();
    let bad = t.get_mut("encoder.block.0.layer.0.SelfAttention.q.weight").unwrap();
    bad.shape = vec![bad.shape[1], bad.shape[0] / 2];
    bad.data.truncate(bad.shape[0] * bad.shape[1]);
    let err = load_checkpoint(Vip5Model::new(&cfg, &flex()), t, &cfg).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("encoder.block.0.layer.0.SelfAttention.q.weight") && msg.contains("expects"),
        "{msg}"
    );
}

#[test]
fn garbage_bytes_are_a_clear_error_not_a_panic() {
    let cfg = Vip5Config::tiny();
    let err = load_safetensors(Vip5Model::new(&cfg, &flex()), b"definitely not safetensors", &cfg)
        .unwrap_err();
    assert!(err.to_string().contains("safetensors"), "{err}");
}

/// The original saves a shared adapter under all three task names.
fn with_task_aliases(mut t: BTreeMap<String, NamedTensor>) -> BTreeMap<String, NamedTensor> {
    let aliases: Vec<(String, NamedTensor)> = t
        .iter()
        .filter(|(k, _)| k.contains(".adapters.sequential."))
        .flat_map(|(k, v)| {
            ["direct", "explanation"]
                .map(|task| (k.replace(".sequential.", &format!(".{task}.")), v.clone()))
        })
        .collect();
    t.extend(aliases);
    t
}

#[test]
fn original_vip5_names_with_per_task_aliases_load() {
    let (cfg, t) = tiny_tensors();
    // one shared adapter: the extra aliases are reported unused
    let (_, report) =
        load_checkpoint(Vip5Model::new(&cfg, &flex()), with_task_aliases(t.clone()), &cfg).unwrap();
    assert!(report.initialised.is_empty());
    assert!(!report.unused.is_empty());
    assert!(
        report
            .unused
            .iter()
            .all(|n| n.contains(".adapters.direct.") || n.contains(".adapters.explanation."))
    );
    // per-task adapters: the same names fill all three
    let per_task = Vip5Config { use_single_adapter: false, ..cfg };
    let (_, report) =
        load_checkpoint(Vip5Model::new(&per_task, &flex()), with_task_aliases(t), &per_task)
            .unwrap();
    assert!(report.unused.is_empty() && report.initialised.is_empty());
}

#[test]
fn dropout_is_active_only_while_training() {
    let cfg = Vip5Config { dropout_rate: 0.5, ..Vip5Config::tiny() };
    let infer = flex();
    infer.seed(5);
    let model = Vip5Model::new(&cfg, &infer);
    // inference device: deterministic
    assert_eq!(probe_logits(&model, &cfg), probe_logits(&model, &cfg));
    // autodiff device in training mode: two passes differ
    let train = flex().autodiff();
    let model = model.to_device(&train);
    let v = cfg.visual_token_id;
    let sample = EncoderSample {
        input_ids: vec![37, 5, v, v, 99, 1],
        whole_word_ids: vec![1, 2, 3, 4, 5, 0],
        vis_feats: vec![vec![0.5; cfg.feat_dim]],
    };
    let x = EncoderBatch::new(&[sample], &cfg).unwrap().to_tensors(&train);
    let dec = Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 8, 9], [1, 3]), &train);
    let a = to_vec(model.forward(&x, dec.clone(), Task::Direct)).1;
    let b = to_vec(model.forward(&x, dec, Task::Direct)).1;
    assert_ne!(a, b, "dropout should change training passes");
}

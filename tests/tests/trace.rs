//! The stage-by-stage trace (the WebGPU bisection tool) computes what the model computes: its
//! encoder output and its cached decoding steps equal the model's own encoder and teacher-forced
//! decoder; `compare` finds the first stage where two traces part; a device that computes NaN
//! makes decoding fail with a clear error instead of returning an empty list.

use burn::module::Param;
use burn::tensor::{Int, Tensor, TensorData};
use vip5::batch::{EncoderBatch, EncoderSample};
use vip5::decode::{BeamConfig, beam_search};
use vip5::trace::{Stage, compare, trace_decoding};
use vip5::{Task, Vip5Config};
use vip5_tests::{assert_close, fixture_model, flex, load_outputs, to_vec};

/// The first prompt of a fixture's outputs, alone in a batch.
fn first_prompt(name: &str, cfg: &Vip5Config) -> EncoderBatch {
    let out = load_outputs(name);
    let ids = &out["input_ids"];
    let len = ids.shape[1];
    let sample = EncoderSample {
        input_ids: ids.row_u32(0),
        whole_word_ids: out
            .get("whole_word_ids")
            .map(|w| w.row_u32(0))
            .unwrap_or_else(|| vec![0; len]),
        vis_feats: out
            .get("vis_feats")
            .map(|f| {
                let (v, d) = (f.shape[1], f.shape[2]);
                (0..v).map(|j| f.f32[j * d..(j + 1) * d].to_vec()).collect()
            })
            .unwrap_or_default(),
    };
    EncoderBatch::new(&[sample], cfg).expect("one prompt")
}

fn stage<'a>(trace: &'a [Stage], name: &str) -> &'a Stage {
    trace.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no stage {name}"))
}

fn check_against_model(name: &str) {
    let device = flex();
    let (cfg, model) = fixture_model(name, &device);
    let x = first_prompt(name, &cfg).to_tensors(&device);
    let rows = 3;
    let trace = pollster::block_on(trace_decoding(
        &model,
        &x,
        Task::Sequential,
        cfg.decoder_start_token_id,
        rows,
        2,
    ))
    .expect("trace");

    let (_, enc) = to_vec(model.encode(&x, Task::Sequential));
    assert_close(
        &format!("{name}: encoder output"),
        &stage(&trace, "encoder.final_layer_norm").values,
        &enc,
        1e-5,
    );

    // The step-1 token the trace fed back: the best of step 0.
    let lp0 = &stage(&trace, "step.0.log_softmax").values;
    let vocab = cfg.vocab_size;
    let best = (0..vocab).max_by(|&a, &b| lp0[a].total_cmp(&lp0[b])).expect("a vocabulary");
    let ids = Tensor::<2, Int>::from_data(
        TensorData::new(vec![cfg.decoder_start_token_id as i64, best as i64], [1, 2]),
        &device,
    );
    let (_, forced) = to_vec(model.forward(&x, ids, Task::Sequential));
    for (step, stage_name) in [(0, "step.0.lm_logits"), (1, "step.1.lm_logits")] {
        let got = &stage(&trace, stage_name).values;
        assert_eq!(got.len(), rows * vocab, "{name}: {stage_name} covers every row");
        let want = &forced[step * vocab..(step + 1) * vocab];
        for r in 0..rows {
            assert_close(
                &format!("{name}: {stage_name} row {r}"),
                &got[r * vocab..(r + 1) * vocab],
                want,
                1e-4,
            );
        }
    }
    // Every stage is finite on the CPU, and a trace compared with itself differs nowhere.
    assert!(trace.iter().all(|s| s.non_finite() == 0));
    let same = compare(&trace, &trace).expect("same stages");
    assert!(same.iter().all(|d| d.max_abs_diff == 0.0), "{name}");
}

#[test]
fn trace_equals_the_models_encoder_and_teacher_forced_decoder() {
    check_against_model("vip5_tiny"); // adapters, visual tokens, ReLU FFN
    check_against_model("t5_gated_untied"); // gated-GELU FFN, untied LM head
}

#[test]
fn compare_finds_the_first_stage_that_differs() {
    let s = |name: &str, values: Vec<f32>| Stage {
        name: name.into(),
        shape: vec![values.len()],
        values,
    };
    let a =
        vec![s("embed", vec![1.0, 2.0]), s("block.0", vec![3.0, 4.0]), s("logits", vec![5.0, 6.0])];
    let b = vec![
        s("embed", vec![1.0, 2.0]),
        s("block.0", vec![3.0, f32::NAN]),
        s("logits", vec![f32::NAN, f32::NAN]),
    ];
    let d = compare(&a, &b).expect("same stages");
    assert_eq!(d[0].max_abs_diff, 0.0);
    assert!(d[1].max_abs_diff.is_nan());
    assert_eq!((d[1].non_finite_a, d[1].non_finite_b), (0, 1));
    assert_eq!(d[2].non_finite_b, 2);
    let c =
        vec![s("embed", vec![1.0, 2.5]), s("block.0", vec![3.0, 4.0]), s("logits", vec![5.0, 6.0])];
    assert_eq!(compare(&a, &c).expect("same stages")[0].max_abs_diff, 0.5);
    let renamed =
        vec![s("other", vec![1.0, 2.0]), s("block.0", vec![3.0, 4.0]), s("logits", vec![5.0, 6.0])];
    assert!(compare(&a, &renamed).unwrap_err().to_string().contains("other"));
    assert!(compare(&a, &a[..2]).is_err());
}

#[test]
fn a_device_that_computes_nan_is_an_error_not_an_empty_list() {
    let device = flex();
    let name = "vip5_tiny";
    let (cfg, mut model) = fixture_model(name, &device);
    let x = first_prompt(name, &cfg).to_tensors(&device);
    let beam = BeamConfig { max_length: 6, ..BeamConfig::returning(2) };
    let ok = pollster::block_on(beam_search(
        &model,
        &x,
        Task::Sequential,
        &beam,
        cfg.eos_token_id,
        cfg.decoder_start_token_id,
        None,
    ));
    assert_eq!(ok.expect("finite weights decode").len(), 1);
    // What a misbehaving adapter does: NaN in the hidden states.
    let w = model.shared.weight.val();
    model.shared.weight = Param::from_tensor(w.mul_scalar(f32::NAN));
    let err = pollster::block_on(beam_search(
        &model,
        &x,
        Task::Sequential,
        &beam,
        cfg.eos_token_id,
        cfg.decoder_start_token_id,
        None,
    ))
    .unwrap_err();
    assert!(err.to_string().contains("non-finite"), "{err}");
}

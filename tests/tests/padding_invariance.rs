//! A prompt's logits do not depend on what it is batched with (padding of the encoder input and
//! of the decoder targets is fully masked).

use burn::tensor::{Int, Tensor, TensorData};
use vip5::batch::{EncoderBatch, EncoderSample};
use vip5::{Task, Vip5Config, Vip5Model};
use vip5_tests::{flex, to_vec};

fn sample(len: usize, images: usize, cfg: &Vip5Config, seed: u32) -> EncoderSample {
    let v = cfg.visual_token_id;
    let mut ids: Vec<u32> = (0..len).map(|i| 100 + (i as u32 * 37 + seed * 11) % 900).collect();
    for j in 0..images * cfg.n_vis_tokens {
        ids[1 + j] = v;
    }
    ids.push(1);
    let ww = (1..=len as u32).chain([0]).collect();
    let feats = (0..images).map(|j| vec![0.1 * (j as f32 + seed as f32); cfg.feat_dim]).collect();
    EncoderSample { input_ids: ids, whole_word_ids: ww, vis_feats: feats }
}

#[test]
fn logits_do_not_depend_on_batch_neighbours() {
    let device = flex();
    device.seed(3);
    let cfg = Vip5Config::tiny();
    let model = Vip5Model::new(&cfg, &device);
    let samples = [sample(9, 2, &cfg, 1), sample(17, 3, &cfg, 2), sample(5, 1, &cfg, 3)];
    let targets: Vec<Vec<i64>> = vec![vec![0, 5, 6], vec![0, 7, 8], vec![0, 9, 10]];
    let run = |idx: &[usize]| {
        let s: Vec<EncoderSample> = idx.iter().map(|&i| samples[i].clone()).collect();
        let x = EncoderBatch::new(&s, &cfg).unwrap().to_tensors(&device);
        let t: Vec<i64> = idx.iter().flat_map(|&i| targets[i].clone()).collect();
        let dec = Tensor::<2, Int>::from_data(TensorData::new(t, [idx.len(), 3]), &device);
        to_vec(model.forward(&x, dec, Task::Sequential)).1
    };
    let all = run(&[0, 1, 2]);
    let per_row = all.len() / 3;
    for i in 0..3 {
        let alone = run(&[i]);
        let diff = alone
            .iter()
            .zip(&all[i * per_row..(i + 1) * per_row])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-4, "row {i}: max diff {diff} between batched and alone");
    }
}

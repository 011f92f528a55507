//! VIP5's trainable/frozen split, proven with a real backward pass: in adapter mode only the
//! adapters, the visual mapping network and the RMS norm gains receive gradients.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Gradients;
use burn::tensor::{Int, Tensor, TensorData};
use vip5::batch::{EncoderBatch, EncoderSample};
use vip5::model::is_trainable;
use vip5::{Task, TrainMode, Vip5Config, Vip5Model};

struct GradCheck<'a> {
    grads: &'a Gradients,
    path: Vec<String>,
    mode: TrainMode,
    with_grad: Vec<String>,
    without_grad: Vec<String>,
}

impl ModuleVisitor for GradCheck<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.path.join(".");
        match param.val().grad(self.grads) {
            Some(_) => self.with_grad.push(path),
            None => self.without_grad.push(path),
        }
        let _ = self.mode;
    }
}

fn backward_and_split(mode: TrainMode) -> (Vec<String>, Vec<String>) {
    let device = burn::tensor::Device::flex().autodiff();
    device.seed(7);
    let cfg = Vip5Config::tiny();
    let model = Vip5Model::new(&cfg, &device).with_train_mode(mode, false);
    let v = cfg.visual_token_id;
    let samples = vec![EncoderSample {
        input_ids: vec![100, 200, v, v, 300, v, v, 1],
        whole_word_ids: vec![1, 2, 3, 4, 5, 6, 7, 0],
        vis_feats: vec![vec![0.5; cfg.feat_dim], vec![-0.25; cfg.feat_dim]],
    }];
    let x = EncoderBatch::new(&samples, &cfg).unwrap().to_tensors(&device);
    let dec = Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 12, 13], [1, 3]), &device);
    let loss = model.forward(&x, dec, Task::Sequential).square().mean();
    let grads = loss.backward();
    let mut check =
        GradCheck { grads: &grads, path: vec![], mode, with_grad: vec![], without_grad: vec![] };
    model.visit(&mut check);
    (check.with_grad, check.without_grad)
}

#[test]
fn adapter_mode_updates_only_adapters_visual_mapping_and_norms() {
    let (with_grad, without_grad) = backward_and_split(TrainMode::Adapters);
    assert!(!with_grad.is_empty() && !without_grad.is_empty());
    for p in &with_grad {
        assert!(
            is_trainable(p, TrainMode::Adapters, false),
            "frozen parameter {p} received a gradient"
        );
    }
    for p in &without_grad {
        assert!(
            !is_trainable(p, TrainMode::Adapters, false),
            "trainable parameter {p} received no gradient"
        );
    }
    // Spot checks by name, independent of `is_trainable`.
    for frozen in [
        "shared.weight",
        "encoder.block.0.layer.0.SelfAttention.q.weight",
        "encoder.whole_word_embeddings.weight",
    ] {
        assert!(
            without_grad.iter().any(|p| p == frozen),
            "{frozen} should be frozen: {without_grad:?}"
        );
    }
    for trained in [
        "encoder.block.1.layer.1.ff_adapter.adapters.sequential.up_sampler.weight",
        "decoder.block.0.layer.1.enc_attn_adapter.adapters.sequential.down_sampler.bias",
        "encoder.visual_embedding.feat_embedding.0.model.0.weight",
        "decoder.final_layer_norm.weight",
    ] {
        assert!(with_grad.iter().any(|p| p == trained), "{trained} should train: {with_grad:?}");
    }
}

#[test]
fn full_mode_updates_everything() {
    let (with_grad, without_grad) = backward_and_split(TrainMode::Full);
    assert!(without_grad.is_empty(), "no gradient for {without_grad:?}");
    assert!(with_grad.iter().any(|p| p == "shared.weight"));
}

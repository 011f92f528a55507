//! The forward pass stage by stage, each stage read back, so two devices can be compared tensor
//! by tensor and the first one that differs found (a device that computes NaN where another does
//! not, a kernel that misbehaves on one adapter). Diagnostics only: the model's own forward pass
//! is in `model.rs`; this one re-runs the same public pieces in the same order.

use burn::tensor::activation::{log_softmax, relu, softmax};
use burn::tensor::{Int, Tensor, TensorData};

use crate::adapter::{Task, apply_adapter};
use crate::batch::{EncoderTensors, mask_bias};
use crate::error::{Result, Vip5Error};
use crate::model::Vip5Model;
use crate::nn::activation::gelu_tanh;
use crate::t5::attention::T5Attention;
use crate::t5::layers::T5LayerFF;

/// One intermediate tensor: its name (HF's module path where there is one), shape and values.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stage {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl Stage {
    /// Values that are NaN or infinite.
    pub fn non_finite(&self) -> usize {
        self.values.iter().filter(|v| !v.is_finite()).count()
    }
}

/// How two traces of the same input compare, stage by stage.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StageDiff {
    pub name: String,
    pub max_abs_diff: f32,
    pub non_finite_a: usize,
    pub non_finite_b: usize,
}

/// Compares two traces of the same input (stages matched by position; the names must agree).
pub fn compare(a: &[Stage], b: &[Stage]) -> Result<Vec<StageDiff>> {
    if a.len() != b.len() {
        return Err(Vip5Error::Input(format!("traces have {} and {} stages", a.len(), b.len())));
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            if x.name != y.name || x.shape != y.shape {
                return Err(Vip5Error::Input(format!(
                    "stage {} {:?} against {} {:?}",
                    x.name, x.shape, y.name, y.shape
                )));
            }
            let max_abs_diff = x
                .values
                .iter()
                .zip(&y.values)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0f32, |m, d| if d.is_nan() { f32::NAN } else { m.max(d) });
            Ok(StageDiff {
                name: x.name.clone(),
                max_abs_diff,
                non_finite_a: x.non_finite(),
                non_finite_b: y.non_finite(),
            })
        })
        .collect()
}

struct Recorder {
    stages: Vec<Stage>,
}

impl Recorder {
    async fn push<const D: usize>(&mut self, name: impl Into<String>, t: &Tensor<D>) -> Result<()> {
        let name = name.into();
        let shape = t.dims().to_vec();
        let data = t
            .clone()
            .into_data_async()
            .await
            .map_err(|e| Vip5Error::Backend(format!("reading {name}: {e:?}")))?;
        let values = data
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| Vip5Error::Backend(format!("reading {name}: {e:?}")))?;
        self.stages.push(Stage { name, shape, values });
        Ok(())
    }
}

/// Attention with its scores and weights recorded (the same arithmetic as `T5Attention::attend`).
async fn traced_attention(
    rec: &mut Recorder,
    name: &str,
    att: &T5Attention,
    x: Tensor<3>,
    keys: Tensor<4>,
    values: Tensor<4>,
    bias: Tensor<4>,
) -> Result<Tensor<3>> {
    let q = att.split_heads(att.q.forward(x));
    let scores = q.matmul(keys.swap_dims(2, 3)) + bias;
    rec.push(format!("{name}.scores"), &scores).await?;
    let weights = softmax(scores, 3);
    rec.push(format!("{name}.weights"), &weights).await?;
    let out = weights.matmul(values);
    let [b, h, l, dk] = out.dims();
    let y = att.o.forward(out.swap_dims(1, 2).reshape([b, l, h * dk]));
    rec.push(format!("{name}.output"), &y).await?;
    Ok(y)
}

/// The feed-forward sublayer with its norm, inner activation and output recorded (the same
/// arithmetic as `T5LayerFF::forward`).
async fn traced_ff(
    rec: &mut Recorder,
    name: &str,
    ff: &T5LayerFF,
    h: Tensor<3>,
    task: Task,
) -> Result<Tensor<3>> {
    let normed = ff.layer_norm.forward(h.clone());
    rec.push(format!("{name}.layer_norm"), &normed).await?;
    let d = &ff.DenseReluDense;
    let hidden = match (&d.wi, &d.wi_0, &d.wi_1) {
        (Some(wi), _, _) => {
            let pre = wi.forward(normed);
            rec.push(format!("{name}.DenseReluDense.wi"), &pre).await?;
            relu(pre)
        }
        (None, Some(w0), Some(w1)) => gelu_tanh(w0.forward(normed.clone())) * w1.forward(normed),
        _ => return Err(Vip5Error::Input(format!("{name}: a feed-forward layer without weights"))),
    };
    rec.push(format!("{name}.DenseReluDense.act"), &hidden).await?;
    let y = d.wo.forward(hidden);
    rec.push(format!("{name}.DenseReluDense.wo"), &y).await?;
    Ok(h + apply_adapter(&ff.ff_adapter, y, task))
}

/// Runs `x` (one or more prompts) through the encoder and `steps` cached decoder steps (the start
/// token over `rows` rows as beam search does, then each row's best token, the cache reordered
/// between steps), recording every stage: embeddings, each attention's keys, scores, weights and
/// output, each block's output, the final norms, the logits and their log-softmax. Dropout is
/// not applied (inference).
pub async fn trace_decoding(
    model: &Vip5Model,
    x: &EncoderTensors,
    task: Task,
    start: u32,
    rows: usize,
    steps: usize,
) -> Result<Vec<Stage>> {
    let mut rec = Recorder { stages: Vec::new() };
    let enc = &model.encoder;
    let mut h = enc.embed(&model.shared, x);
    rec.push("encoder.embed", &h).await?;
    let [batch, l, _] = h.dims();
    let bias = enc.block[0].layer.0.SelfAttention.compute_bias(0, l, l, true, &h.device())
        + mask_bias(x.attention_mask.clone());
    rec.push("encoder.bias", &bias).await?;
    for (i, block) in enc.block.iter().enumerate() {
        let sa = &block.layer.0;
        let normed = sa.layer_norm.forward(h.clone());
        rec.push(format!("encoder.block.{i}.layer.0.layer_norm"), &normed).await?;
        let (keys, values) = sa.SelfAttention.project_kv(normed.clone());
        let y = traced_attention(
            &mut rec,
            &format!("encoder.block.{i}.layer.0.SelfAttention"),
            &sa.SelfAttention,
            normed,
            keys,
            values,
            bias.clone(),
        )
        .await?;
        h = h + apply_adapter(&sa.attn_adapter, y, task);
        h = traced_ff(&mut rec, &format!("encoder.block.{i}.layer.1"), &block.layer.1, h, task)
            .await?;
        rec.push(format!("encoder.block.{i}"), &h).await?;
    }
    let enc_out = enc.final_layer_norm.forward(h);
    rec.push("encoder.final_layer_norm", &enc_out).await?;

    let mut cache = model.start_decoding(enc_out.clone(), x.attention_mask.clone());
    let expand: Vec<usize> = (0..batch).flat_map(|r| std::iter::repeat_n(r, rows.max(1))).collect();
    cache.select_rows(&expand);
    let n = expand.len();
    let device = enc_out.device();
    let dec = &model.decoder;
    let mut tokens = vec![start; n];
    for step in 0..steps.max(1) {
        let p = format!("step.{step}.");
        if step > 0 {
            // Beam search reorders the cache between steps: exercise it (rows reversed).
            cache.select_rows(&(0..n).rev().collect::<Vec<_>>());
        }
        let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [n, 1]), &device);
        let mut h = model.shared.forward(ids);
        rec.push(format!("{p}decoder.embed"), &h).await?;
        let offset = cache.len;
        let self_bias =
            dec.block[0].layer.0.SelfAttention.compute_bias(offset, 1, offset + 1, false, &device);
        for (i, (block, layer_cache)) in dec.block.iter().zip(cache.layers.iter_mut()).enumerate() {
            let sa = &block.layer.0;
            let normed = sa.layer_norm.forward(h.clone());
            let (keys, values) = sa.SelfAttention.project_kv(normed.clone());
            let (keys, values) = layer_cache.append(keys, values);
            rec.push(format!("{p}decoder.block.{i}.layer.0.SelfAttention.keys"), &keys).await?;
            let y = traced_attention(
                &mut rec,
                &format!("{p}decoder.block.{i}.layer.0.SelfAttention"),
                &sa.SelfAttention,
                normed,
                keys,
                values,
                self_bias.clone(),
            )
            .await?;
            h = h + apply_adapter(&sa.attn_adapter, y, task);
            rec.push(format!("{p}decoder.block.{i}.layer.0"), &h).await?;
            let ca = &block.layer.1;
            let normed = ca.layer_norm.forward(h.clone());
            let y = traced_attention(
                &mut rec,
                &format!("{p}decoder.block.{i}.layer.1.EncDecAttention"),
                &ca.EncDecAttention,
                normed,
                layer_cache.cross_keys.clone(),
                layer_cache.cross_values.clone(),
                cache.encoder_mask_bias.clone(),
            )
            .await?;
            h = h + apply_adapter(&ca.enc_attn_adapter, y, task);
            rec.push(format!("{p}decoder.block.{i}.layer.1"), &h).await?;
            h = traced_ff(
                &mut rec,
                &format!("{p}decoder.block.{i}.layer.2"),
                &block.layer.2,
                h,
                task,
            )
            .await?;
            rec.push(format!("{p}decoder.block.{i}"), &h).await?;
        }
        cache.len = offset + 1;
        let dec_out = dec.final_layer_norm.forward(h);
        rec.push(format!("{p}decoder.final_layer_norm"), &dec_out).await?;
        let logits = model.lm_logits(dec_out);
        rec.push(format!("{p}lm_logits"), &logits).await?;
        let [r, _, vocab] = logits.dims();
        let lp = log_softmax(logits.reshape([r, vocab]), 1);
        rec.push(format!("{p}log_softmax"), &lp).await?;
        let last = rec.stages.last().map(|s| s.values.clone()).unwrap_or_default();
        // Next tokens: each row's best (what a greedy step feeds back).
        tokens = last
            .chunks(vocab)
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
                    .0 as u32
            })
            .collect();
    }
    Ok(rec.stages)
}

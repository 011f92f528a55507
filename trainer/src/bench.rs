//! `trainer bench-clip`: CLIP vision-tower throughput (images/s) on random pixels, for the side by
//! side with PyTorch in `bench/clip_cpu.sh`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::{Distribution, Tensor};
use clap::Args;
use vip5::clip::{ClipVision, ClipVisionConfig, load_clip_vision};

use crate::common::device::{DeviceArg, make_device};

#[derive(Args)]
pub struct BenchClipArgs {
    /// CLIP `model.safetensors` (its `config.json` beside it, else ViT-B/32). Without it, ViT-B/32
    /// with seeded random weights (the time does not depend on the values; bench/gpu.sh).
    #[arg(long)]
    clip: Option<PathBuf>,
    /// Images to embed in the timed part.
    #[arg(long, default_value_t = 32)]
    images: usize,
    /// Images per forward pass.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

pub fn run(args: BenchClipArgs) -> Result<()> {
    if args.batch == 0 || args.images == 0 {
        bail!("--images and --batch must be positive");
    }
    let config = args.clip.as_ref().map(|c| c.with_file_name("config.json"));
    let cfg = match config {
        Some(config) if config.exists() => {
            ClipVisionConfig::from_hf_json(&std::fs::read_to_string(&config)?)?
        }
        _ => ClipVisionConfig::vit_b_32(),
    };
    let device = make_device(args.device)?;
    device.seed(2022);
    let model = ClipVision::new(&cfg, &device);
    let model = match &args.clip {
        Some(clip) => {
            let bytes =
                std::fs::read(clip).with_context(|| format!("reading {}", clip.display()))?;
            load_clip_vision(model, &bytes)?.0
        }
        None => model,
    };
    let s = cfg.image_size;
    let x = Tensor::<4>::random([args.batch, 3, s, s], Distribution::Normal(0.0, 1.0), &device);
    // Warm-up (kernel compilation on GPUs, allocator growth on CPUs), then time whole batches.
    model.forward(x.clone()).into_data();
    let start = Instant::now();
    let mut n = 0;
    while n < args.images {
        model.forward(x.clone()).into_data();
        n += args.batch;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "vip5-rs images_per_s={:.2} batch={} device={:?}",
        n as f64 / secs,
        args.batch,
        args.device
    );
    Ok(())
}

#[derive(Args)]
pub struct BenchTrainArgs {
    /// Model preset.
    #[arg(long, default_value = "demo")]
    preset: String,
    #[arg(long, value_enum, default_value = "adapters")]
    mode: crate::common::ModeArg,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Encoder input length (tokens), with `images` visual items of k placeholders each.
    #[arg(long, default_value_t = 64)]
    input_len: usize,
    #[arg(long, default_value_t = 8)]
    images: usize,
    /// Decoder target length (tokens).
    #[arg(long, default_value_t = 4)]
    target_len: usize,
    /// Timed optimizer steps (after one warm-up step).
    #[arg(long, default_value_t = 10)]
    steps: usize,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

/// `trainer bench-train`: optimizer steps per second on fixed-shape random inputs (forward,
/// backward, AdamW step), for the side by side with PyTorch in `bench/train_cpu.sh`.
pub fn run_train(args: BenchTrainArgs) -> Result<()> {
    use burn::optim::{AdamWConfig, GradientsParams};
    use burn::tensor::{Int, TensorData};
    use vip5::batch::{EncoderBatch, EncoderSample};
    use vip5::{Task, Vip5Config, Vip5Model};

    let cfg = Vip5Config::preset(&args.preset)?;
    let device = make_device(args.device)?.autodiff();
    vip5::t5::dropout::seed(&device, 1);
    let mode = args.mode.train_mode();
    let mut model = Vip5Model::new(&cfg, &device).with_train_mode(mode, false);
    vip5::model::initialize_params(&model);
    let mut optim = AdamWConfig::new().with_epsilon(1e-6).with_weight_decay(0.01).init();
    let k = cfg.n_vis_tokens;
    if args.images * k + 2 > args.input_len {
        bail!("--input-len must hold the {} visual placeholders", args.images * k);
    }
    let samples: Vec<EncoderSample> = (0..args.batch)
        .map(|b| {
            let mut ids: Vec<u32> =
                (0..args.input_len - 1).map(|i| 100 + ((i * 31 + b * 7) % 20000) as u32).collect();
            for j in 0..args.images * k {
                ids[1 + j] = cfg.visual_token_id;
            }
            ids.push(cfg.eos_token_id);
            let ww = (1..args.input_len as u32).chain([0]).collect();
            EncoderSample {
                input_ids: ids,
                whole_word_ids: ww,
                vis_feats: vec![vec![0.5; cfg.feat_dim]; args.images],
            }
        })
        .collect();
    let x = EncoderBatch::new(&samples, &cfg)?.to_tensors(&device);
    let targets: Vec<Vec<u32>> = (0..args.batch)
        .map(|b| (0..args.target_len).map(|t| 200 + ((b + t) % 50) as u32).collect())
        .collect();
    let tb = vip5::batch::TargetBatch::new(&targets, 0, true);
    let dec = Tensor::<2, Int>::from_data(
        TensorData::new(tb.decoder_input_ids.clone(), [tb.batch, tb.len]),
        &device,
    );
    let mut step = |model: Vip5Model| -> Result<Vip5Model> {
        let loss = vip5::loss::seq2seq_loss(model.forward(&x, dec.clone(), Task::Sequential), &tb)?;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let m = optim.step(1e-4, model, grads);
        vip5::model::initialize_params(&m);
        Ok(m)
    };
    model = step(model)?; // warm-up
    let start = Instant::now();
    for _ in 0..args.steps {
        model = step(model)?;
    }
    // finish pending work before stopping the clock
    let _ = model.shared.weight.val().into_data();
    let secs = start.elapsed().as_secs_f64() / args.steps as f64;
    println!(
        "vip5-rs samples_per_s={:.2} step_s={secs:.4} batch={} input_len={} mode={:?} \
         preset={} peak_rss_mb={}",
        args.batch as f64 / secs,
        args.batch,
        args.input_len,
        args.mode,
        args.preset,
        crate::common::process::peak_rss_bytes().map(|b| b / (1 << 20)).unwrap_or(0)
    );
    Ok(())
}

#[derive(Args)]
pub struct BenchQuantArgs {
    /// Rows of the activation (tokens in a batch).
    #[arg(long, default_value_t = 8)]
    rows: usize,
    /// Inner dimension (t5-small: 512).
    #[arg(long, default_value_t = 512)]
    k: usize,
    /// Output dimension (t5-small's FFN: 2048).
    #[arg(long, default_value_t = 2048)]
    n: usize,
    #[arg(long, default_value_t = 30)]
    reps: usize,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

/// Times `x @ W` with W in f32 against W as a burn per-block (32) int8 quantized tensor: whether
/// keeping bundle weights quantized on the device would be faster than dequantizing at load.
pub fn run_quant(args: BenchQuantArgs) -> Result<()> {
    use burn::tensor::TensorData;
    use burn::tensor::quantization::{QuantScheme, QuantStore, QuantValue, ScaleDtype};
    if !args.n.is_multiple_of(32) || args.reps == 0 {
        bail!("--n must be a multiple of 32 and --reps positive");
    }
    let device = make_device(args.device)?;
    let w: Vec<f32> =
        (0..args.k * args.n).map(|i| ((i as f32 * 0.618).fract() - 0.5) * 0.2).collect();
    let (mut q, mut scales) = (Vec::with_capacity(w.len()), Vec::with_capacity(w.len() / 32));
    for block in w.chunks(32) {
        let amax = block.iter().fold(0f32, |a, x| a.max(x.abs()));
        let s = if amax > 0.0 { amax / 127.0 } else { 1.0 };
        scales.push(s);
        q.extend(block.iter().map(|x| (x / s).round().clamp(-127.0, 127.0) as i8));
    }
    // Packed into u32 words: the store cubecl kernels read (flex reads it too).
    let scheme = QuantScheme::default()
        .with_value(QuantValue::Q8S)
        .with_store(QuantStore::PackedU32(0))
        .per_block([32], ScaleDtype::F32);
    let w_f32 = Tensor::<2>::from_data(TensorData::new(w, [args.k, args.n]), &device);
    let w_q8 = Tensor::<2>::from_data(
        TensorData::quantized(q, [args.k, args.n], scheme, &scales, None),
        &device,
    );
    let x = Tensor::<2>::random([args.rows, args.k], Distribution::Default, &device);
    let time = |w: &Tensor<2>| -> Result<f64> {
        // warm-up (kernel compilation / autotune), then the timed loop, synchronised by a read
        let _ = x.clone().matmul(w.clone()).into_data();
        let start = Instant::now();
        let mut acc = Tensor::<2>::zeros([args.rows, args.n], &device);
        for _ in 0..args.reps {
            acc = acc + x.clone().matmul(w.clone());
        }
        let _ = acc.into_data();
        Ok(start.elapsed().as_secs_f64() * 1000.0 / args.reps as f64)
    };
    // The same weight with blocks of 32 along K (ggml's q8_0 layout after the [out, in] ->
    // [in, out] transpose): one scale per (k-block, column).
    let kb = args.k / 32;
    let mut q_k = vec![0i8; args.k * args.n];
    let mut scales_k = vec![0f32; kb * args.n];
    let wv: Vec<f32> = w_f32
        .clone()
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    for b in 0..kb {
        for col in 0..args.n {
            let amax = (0..32).fold(0f32, |a, r| a.max(wv[(b * 32 + r) * args.n + col].abs()));
            let s = if amax > 0.0 { amax / 127.0 } else { 1.0 };
            scales_k[b * args.n + col] = s;
            for r in 0..32 {
                let i = (b * 32 + r) * args.n + col;
                q_k[i] = (wv[i] / s).round().clamp(-127.0, 127.0) as i8;
            }
        }
    }
    let scheme_k = QuantScheme::default()
        .with_value(QuantValue::Q8S)
        .with_store(QuantStore::PackedU32(0))
        .per_block([32, 1], ScaleDtype::F32);
    let w_q8k = Tensor::<2>::from_data(
        TensorData::quantized(q_k, [args.k, args.n], scheme_k, &scales_k, None),
        &device,
    );
    let f32_ms = time(&w_f32)?;
    let q8_ms = time(&w_q8)?;
    let q8k_ms = time(&w_q8k)?;
    let diff_k = (x.clone().matmul(w_q8k) - x.clone().matmul(w_f32.clone()))
        .abs()
        .max()
        .into_scalar::<f32>();
    println!(
        "  q8 blocks of 32 along K (ggml's layout): {q8k_ms:.3} ms (ratio {:.2}; max |diff| \
         {diff_k:.2e})",
        q8k_ms / f32_ms
    );
    let diff = (x.clone().matmul(w_q8) - x.matmul(w_f32)).abs().max().into_scalar::<f32>();
    println!(
        "matmul [{}x{}] @ [{}x{}] on {:?}: f32 weight {f32_ms:.3} ms, q8 block-32 weight \
         {q8_ms:.3} ms (ratio {:.2}; max |diff| {diff:.2e})",
        args.rows,
        args.k,
        args.k,
        args.n,
        args.device,
        q8_ms / f32_ms
    );
    Ok(())
}

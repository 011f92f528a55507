//! `trainer eval`: the paper's evaluation (docs/vip5.md §5): with beam 20 over the full
//! catalogue, B-5/B-8 with 1 positive + 99 seeded negatives; unconstrained decoding as the paper
//! and item-constrained decoding; HR@1/5/10, NDCG@5/10 beside the popularity and max+1 baselines.

use std::path::PathBuf;
use std::time::Instant;

use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use vip5::batch::{EncoderBatch, EncoderSample};
use vip5::data::Split;
use vip5::data::counts::CountParams;
use vip5::decode::{BeamConfig, Hypothesis, beam_search};
use vip5::evaluation::{
    Baselines, CaseSettings, CaseUser, EvalCase, Personalisation, build_case, personalisation,
    ranked_lists, ranking_metrics,
};
use vip5::metrics::{RankingMetrics, scores_from_beam_items, scores_from_beams};
use vip5::prompt::{ItemNaming, PromptTokenizer, template};
use vip5::trie::{ItemConstraint, ItemTrie};
use vip5::{Task, Vip5Config};

use crate::common::device::{DeviceArg, make_device};
use crate::common::model_files::load_model;
use crate::common::prepared::{Prepared, read_prepared};
use crate::common::{TOKENIZER_JSON, mix};

#[derive(Args)]
pub struct EvalArgs {
    /// Prepared data folder.
    #[arg(long)]
    data: PathBuf,
    /// A training output folder (model.safetensors + config.json), a model.safetensors file
    /// with its config.json beside it, or a bundle (`.gguf`, from `trainer export`). Without it,
    /// only the baselines are evaluated.
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "test")]
    split: SplitArg,
    /// Prompts to evaluate.
    #[arg(long, value_delimiter = ',', default_value = "A-3,A-9,B-5,B-8")]
    prompts: Vec<String>,
    /// Decodings: unconstrained (the paper's) and/or constrained (real items only; unseen items
    /// for A, candidates for B).
    #[arg(long, value_delimiter = ',', default_value = "unconstrained,constrained")]
    decoding: Vec<String>,
    #[arg(long, default_value_t = 20)]
    beams: usize,
    /// Decoder max length (start token included), as HF `generate`'s max_length (VIP5: 50).
    #[arg(long, default_value_t = 50)]
    max_length: usize,
    /// Evaluate a seeded random sample of this many users (default: all).
    #[arg(long)]
    max_users: Option<usize>,
    /// Users per batch (each expands to `--beams` rows).
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Seed for the user sample, the B-family negatives and metric tie-breaking.
    #[arg(long, default_value_t = 2022)]
    seed: u64,
    #[arg(long, default_value_t = 512)]
    max_input_len: usize,
    /// Put only the newest N history items in the prompt (default: the model config's
    /// `max_history_items`, what it was trained with); every history item still counts as seen
    /// for the constrained decoding and the baselines.
    #[arg(long)]
    max_history_items: Option<usize>,
    /// Negatives beside the positive in the B-family candidate lists (VIP5: 99).
    #[arg(long, default_value_t = 99)]
    candidate_negatives: usize,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write every user's ranked list (JSON lines: prompt, method, case, target, ranked), for
    /// `trainer compare-rankings` (e.g. a q8_0 bundle against its f32 original).
    #[arg(long)]
    rankings_out: Option<PathBuf>,
    /// Experiment: also rank one-token items by their first-step log-probability minus
    /// tau * ln(1 + training count), for each tau given (popularity de-biasing at inference).
    #[arg(long, hide = true, value_delimiter = ',')]
    popularity_adjust: Vec<f64>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SplitArg {
    Val,
    Test,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub prompt: String,
    pub method: String,
    pub users: usize,
    pub hr1: f64,
    pub hr5: f64,
    pub ndcg5: f64,
    pub hr10: f64,
    pub ndcg10: f64,
    /// Share of returned sequences that are not items of the catalogue (model rows only).
    pub non_items: Option<f64>,
    pub seconds: Option<f64>,
    /// How personal the top-10 lists are (A family only).
    pub personalisation: Option<Personalisation>,
}

fn row(
    prompt: &str,
    method: &str,
    m: &RankingMetrics,
    non_items: Option<f64>,
    seconds: Option<f64>,
) -> Row {
    Row {
        personalisation: None,
        prompt: prompt.into(),
        method: method.into(),
        users: m.users,
        hr1: m.hr1,
        hr5: m.hr5,
        ndcg5: m.ndcg5,
        hr10: m.hr10,
        ndcg10: m.ndcg10,
        non_items,
        seconds,
    }
}

/// Random user pairs behind the list-overlap figure.
const OVERLAP_PAIRS: usize = 10_000;

pub fn run(args: EvalArgs) -> Result<()> {
    let prepared = read_prepared(&args.data)?;
    let device = make_device(args.device)?;
    let (cfg, model) = match &args.model {
        Some(path) => {
            let (cfg, model) = load_model(path, &device)?;
            (cfg, Some(model))
        }
        // Baselines only: the cases still need a tokenization, the demo preset's will do.
        None => (Vip5Config::preset("demo")?, None),
    };
    if model.is_some() {
        prepared.check_feature_dim(&args.data, cfg.feat_dim)?;
    }
    let tokenizer = PromptTokenizer::for_config(TOKENIZER_JSON, &cfg)?;
    let split = match args.split {
        SplitArg::Val => Split::Validation,
        SplitArg::Test => Split::Test,
    };
    // Every user of a leave-one-out split; a temporal split's users with a test target.
    let mut users: Vec<usize> =
        (0..prepared.sequences.len()).filter(|&u| prepared.sequences[u].evaluated).collect();
    if let Some(n) = args.max_users {
        use rand::seq::SliceRandom;
        users.shuffle(&mut StdRng::seed_from_u64(args.seed));
        users.truncate(n);
        users.sort_unstable();
    }
    let all_items = prepared.all_items();
    let trie = ItemTrie::from_item_numbers(&tokenizer, all_items.iter().copied())?;
    let baselines = Baselines::fit(&prepared.sequences, CountParams::default());
    let beam = BeamConfig { max_length: args.max_length, ..BeamConfig::returning(args.beams) };
    let mut rows = Vec::new();
    let mut rankings = match &args.rankings_out {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    for prompt in &args.prompts {
        let t = template(prompt)?;
        let direct = t.task == Task::Direct;
        if !matches!(prompt.as_str(), "A-3" | "A-9" | "B-5" | "B-8")
            && t.target != vip5::prompt::TargetKind::ItemId
        {
            bail!("{prompt} does not ask for an item id; evaluate A-1..A-6, A-9 or B-5..B-8");
        }
        let cases = build_cases(&args, &prepared, &tokenizer, &cfg, &users, split, prompt)?;
        // Baselines on exactly the same users and candidate lists.
        let mut popularity_lists = Vec::new();
        for name in Baselines::NAMES {
            let scored = cases
                .iter()
                .map(|c| baselines.answer(name, c, direct, 20))
                .collect::<vip5::Result<Vec<_>>>()?;
            let lists = ranked_lists(&scored, args.seed)?;
            let mut r =
                row(prompt, name, &ranking_metrics(&scored, &cases, args.seed)?, None, None);
            if name == "popularity" {
                popularity_lists = lists.clone();
            }
            if !direct {
                r.personalisation =
                    Some(personalisation(&lists, &popularity_lists, 10, OVERLAP_PAIRS, args.seed)?);
            }
            rows.push(r);
            if let Some(out) = rankings.as_mut() {
                // The baselines' lists too, so `compare-rankings` can pair the model with them.
                write_rankings(out, prompt, name, &lists, &cases)?;
            }
        }
        let Some(model) = model.as_ref() else { continue };
        for decoding in &args.decoding {
            let constrained = match decoding.as_str() {
                "unconstrained" => false,
                "constrained" => true,
                other => bail!("unknown decoding `{other}` (unconstrained, constrained)"),
            };
            let start = Instant::now();
            let bar = ProgressBar::new(cases.len() as u64);
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{prompt} {decoding} [{{bar:30}}] {{pos}}/{{len}} {{per_sec}} eta {{eta}}"
                ))?
                .progress_chars("=> "),
            );
            let mut scored = Vec::with_capacity(cases.len());
            let (mut returned, mut non_items) = (0usize, 0usize);
            for chunk in cases.chunks(args.batch_size.max(1)) {
                let samples: Vec<EncoderSample> = chunk.iter().map(|c| c.sample.clone()).collect();
                let x = EncoderBatch::new(&samples, &cfg)?.to_tensors(&device);
                let masks = chunk
                    .iter()
                    .map(|c| {
                        if direct {
                            trie.allow_only(c.candidates.iter().copied())
                        } else {
                            trie.allow_all_except(c.history.iter().copied())
                        }
                    })
                    .collect();
                let constraint = ItemConstraint { trie: &trie, masks };
                let hyps = pollster::block_on(beam_search(
                    model,
                    &x,
                    t.task,
                    &beam,
                    cfg.eos_token_id,
                    cfg.decoder_start_token_id,
                    constrained.then_some(&constraint as &dyn vip5::decode::TokenConstraint),
                ))?;
                for h in &hyps {
                    returned += h.len();
                    non_items += h.iter().filter(|x| trie.item_of(&x.tokens).is_none()).count();
                    scored.push(beam_scores(&tokenizer, h)?);
                }
                bar.inc(chunk.len() as u64);
            }
            bar.finish_and_clear();
            let lists = ranked_lists(&scored, args.seed)?;
            if let Some(out) = rankings.as_mut() {
                write_rankings(out, prompt, &format!("vip5 {decoding}"), &lists, &cases)?;
            }
            let m = ranking_metrics(&scored, &cases, args.seed)?;
            let share = if returned > 0 { non_items as f64 / returned as f64 } else { 0.0 };
            let mut r = row(
                prompt,
                &format!("vip5 {decoding}"),
                &m,
                Some(share),
                Some(start.elapsed().as_secs_f64()),
            );
            if !direct {
                r.personalisation =
                    Some(personalisation(&lists, &popularity_lists, 10, OVERLAP_PAIRS, args.seed)?);
            }
            rows.push(r);
        }
        if !direct && !args.popularity_adjust.is_empty() {
            let base =
                tokenizer.item_token_base().context("--popularity-adjust needs item tokens")?;
            let mut first = Vec::with_capacity(cases.len());
            for chunk in cases.chunks(args.batch_size.max(1) * 4) {
                let samples: Vec<EncoderSample> = chunk.iter().map(|c| c.sample.clone()).collect();
                let x = EncoderBatch::new(&samples, &cfg)?.to_tensors(&device);
                let enc = model.encode(&x, t.task);
                let mut cache = model.start_decoding(enc, x.attention_mask.clone());
                let ids = burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(
                    burn::tensor::TensorData::new(
                        vec![cfg.decoder_start_token_id as i64; chunk.len()],
                        [chunk.len(), 1],
                    ),
                    &device,
                );
                let logits = model.decode(ids, &mut cache, t.task);
                let [b, _, v] = logits.dims();
                let lp = burn::tensor::activation::log_softmax(logits.reshape([b, v]), 1)
                    .into_data()
                    .try_to_vec::<f32>()
                    .map_err(|e| {
                        anyhow::anyhow!("reading the first-step log-probabilities: {e:?}")
                    })?;
                for (n, c) in chunk.iter().enumerate() {
                    first.push(
                        (1..=cfg.item_tokens as u32)
                            .filter(|i| !c.history.contains(i))
                            .map(|i| (i, lp[n * v + (base + i - 1) as usize] as f64))
                            .collect::<Vec<_>>(),
                    );
                }
            }
            for &tau in &args.popularity_adjust {
                let scored: Vec<Vec<(u32, f64)>> = first
                    .iter()
                    .map(|row| {
                        let mut r: Vec<(u32, f64)> = row
                            .iter()
                            .map(|&(i, s)| (i, s - tau * baselines.popularity.log_count_prior(i)))
                            .collect();
                        r.sort_by(|a, b| b.1.total_cmp(&a.1));
                        r.truncate(20);
                        r
                    })
                    .collect();
                let name = format!("vip5 first step adj {tau}");
                let lists = ranked_lists(&scored, args.seed)?;
                if let Some(out) = rankings.as_mut() {
                    write_rankings(out, prompt, &name, &lists, &cases)?;
                }
                let m = ranking_metrics(&scored, &cases, args.seed)?;
                let mut r = row(prompt, &name, &m, None, None);
                r.personalisation =
                    Some(personalisation(&lists, &popularity_lists, 10, OVERLAP_PAIRS, args.seed)?);
                rows.push(r);
            }
        }
    }
    if let Some(mut out) = rankings {
        out.flush()?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "split": format!("{:?}", args.split).to_lowercase(),
                "users": users.len(),
                "seed": args.seed,
                "beams": args.beams,
                "reindex_seed": prepared.manifest.reindex_seed,
                "successor_index": prepared.manifest.successor_index,
                "rows": rows,
            }))?
        );
    } else {
        println!(
            "{:<5} {:<24} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>8} {:>7} {:>7}",
            "",
            "method",
            "users",
            "HR@1",
            "HR@5",
            "NDCG@5",
            "HR@10",
            "NDCG@10",
            "non-item",
            "distinct",
            "overlap",
            "in-pop"
        );
        for r in &rows {
            let p = r.personalisation;
            println!(
                "{:<5} {:<24} {:>6} {:>7.4} {:>7.4} {:>7.4} {:>7.4} {:>7.4} \
                 {:>9} {:>8} {:>7} {:>7}",
                r.prompt,
                r.method,
                r.users,
                r.hr1,
                r.hr5,
                r.ndcg5,
                r.hr10,
                r.ndcg10,
                r.non_items.map(|s| format!("{:.1} %", 100.0 * s)).unwrap_or_default(),
                p.map(|p| p.distinct_items.to_string()).unwrap_or_default(),
                p.map(|p| format!("{:.3}", p.pair_overlap)).unwrap_or_default(),
                p.map(|p| format!("{:.3}", p.popularity_share)).unwrap_or_default(),
            );
        }
        println!(
            "distinct: items over all top-10 lists; overlap: mean share of a top-10 list another \
             user's holds ({OVERLAP_PAIRS} random pairs); in-pop: share of top-10 items in the \
             same user's popularity top-10"
        );
    }
    Ok(())
}

/// One JSON line per case (prompt, method, case, target, ranked list) for `compare-rankings`.
fn write_rankings(
    out: &mut impl Write,
    prompt: &str,
    method: &str,
    lists: &[Vec<u32>],
    cases: &[EvalCase],
) -> Result<()> {
    for (case, (ranked, c)) in lists.iter().zip(cases).enumerate() {
        let line = serde_json::json!({
            "prompt": prompt, "method": method, "case": case, "target": c.target, "ranked": ranked
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The notebook's scores: decode each beam, keep those that parse as an item number, rank
/// j -> -(j+1). With item tokens a beam names an item when its text is exactly one item token.
fn beam_scores(tokenizer: &PromptTokenizer, hyps: &[Hypothesis]) -> Result<Vec<(u32, f64)>> {
    let texts =
        hyps.iter().map(|h| tokenizer.decode(&h.tokens)).collect::<vip5::Result<Vec<String>>>()?;
    Ok(match tokenizer.item_naming() {
        ItemNaming::Numbers => scores_from_beams(&texts),
        naming => scores_from_beam_items(texts.iter().map(|t| naming.parse_token_text(t))),
    })
}

fn build_cases(
    args: &EvalArgs,
    prepared: &Prepared,
    tokenizer: &PromptTokenizer,
    cfg: &Vip5Config,
    users: &[usize],
    split: Split,
    prompt: &str,
) -> Result<Vec<EvalCase>> {
    let all_items = prepared.all_items();
    let settings = CaseSettings {
        template: template(prompt)?,
        split,
        tokenizer,
        n_vis_tokens: cfg.n_vis_tokens,
        max_input_len: args.max_input_len,
        history_cap: args.max_history_items.or(cfg.max_history_items),
        candidate_negatives: args.candidate_negatives,
        all_items: &all_items,
    };
    let feature = |i: u32| prepared.feature(i, cfg.feat_dim);
    users
        .iter()
        .map(|&u| {
            let sequence = &prepared.sequences[u];
            let desc = prepared.user_description(sequence.user);
            Ok(build_case(
                &settings,
                &CaseUser { sequence, desc },
                &feature,
                mix(args.seed, sequence.user as u64, 3),
            )?)
        })
        .collect()
}

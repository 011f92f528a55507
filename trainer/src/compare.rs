//! `trainer compare-rankings`: how much two models' answers differ on the same users, e.g. a
//! quantized bundle against its f32 original, or a model against a baseline: top-k agreement and
//! a paired bootstrap of HR@k and NDCG@k.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Deserialize;
use vip5::metrics::{
    PairedBootstrap, hit_rate_of_ranking, ndcg_of_ranking, paired_bootstrap, top_k_agreement,
};

#[derive(Args)]
pub struct CompareArgs {
    /// Rankings of the reference model (`trainer eval --rankings-out`).
    #[arg(long)]
    a: PathBuf,
    /// Rankings of the model compared with it, on the same data, split, users and seed.
    #[arg(long)]
    b: PathBuf,
    /// Compare only this method of `--a` (e.g. `popularity`; default: every method both files
    /// have)...
    #[arg(long, requires = "b_method")]
    a_method: Option<String>,
    /// ... with this method of `--b` (e.g. `vip5 constrained`); `--a` and `--b` may be one file.
    #[arg(long, requires = "a_method")]
    b_method: Option<String>,
    /// Cut-off of the agreement and the metrics.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = 2000)]
    resamples: usize,
    #[arg(long, default_value_t = 2022)]
    seed: u64,
    #[arg(long)]
    json: bool,
}

#[derive(Deserialize)]
struct RankingLine {
    prompt: String,
    method: String,
    case: usize,
    target: u32,
    ranked: Vec<u32>,
}

/// (prompt, method) -> lines in case order.
fn read_rankings(path: &Path) -> Result<BTreeMap<(String, String), Vec<RankingLine>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out: BTreeMap<(String, String), Vec<RankingLine>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let r: RankingLine = serde_json::from_str(line)
            .with_context(|| format!("{} line {}", path.display(), n + 1))?;
        out.entry((r.prompt.clone(), r.method.clone())).or_default().push(r);
    }
    for lines in out.values_mut() {
        lines.sort_by_key(|l| l.case);
    }
    Ok(out)
}

pub fn run(args: CompareArgs) -> Result<()> {
    let a = read_rankings(&args.a)?;
    let b = read_rankings(&args.b)?;
    let mut rows = Vec::new();
    let mut rng = StdRng::seed_from_u64(args.seed);
    for (key, la) in &a {
        let lb = match (&args.a_method, &args.b_method) {
            (Some(ma), Some(mb)) if &key.1 == ma => b.get(&(key.0.clone(), mb.clone())),
            (Some(_), _) => None,
            _ => b.get(key),
        };
        let Some(lb) = lb else { continue };
        let key = &match &args.b_method {
            Some(mb) => (key.0.clone(), format!("{} vs {mb}", key.1)),
            None => key.clone(),
        };
        if la.len() != lb.len()
            || la.iter().zip(lb).any(|(x, y)| x.case != y.case || x.target != y.target)
        {
            bail!(
                "{} {}: the two files hold different users or targets (same data, split, \
                 --max-users and --seed?)",
                key.0,
                key.1
            );
        }
        let lists = |l: &[RankingLine]| l.iter().map(|r| r.ranked.clone()).collect::<Vec<_>>();
        let agreement = top_k_agreement(&lists(la), &lists(lb), args.k)?;
        let per_user = |l: &[RankingLine], ndcg: bool| -> Result<Vec<f64>> {
            l.iter()
                .map(|r| {
                    let truth = [r.target];
                    Ok(if ndcg {
                        ndcg_of_ranking(&r.ranked, &truth, args.k)?
                    } else {
                        hit_rate_of_ranking(&r.ranked, &truth, args.k)?
                    })
                })
                .collect()
        };
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let (hr_a, hr_b) = (per_user(la, false)?, per_user(lb, false)?);
        let (nd_a, nd_b) = (per_user(la, true)?, per_user(lb, true)?);
        let hr: PairedBootstrap = paired_bootstrap(&hr_a, &hr_b, args.resamples, &mut rng)?;
        let nd: PairedBootstrap = paired_bootstrap(&nd_a, &nd_b, args.resamples, &mut rng)?;
        rows.push(serde_json::json!({
            "prompt": key.0, "method": key.1, "users": la.len(), "k": args.k,
            "top_k_agreement": agreement,
            "hr_a": mean(&hr_a), "hr_b": mean(&hr_b), "hr_difference": hr,
            "hr_difference_is_noise": hr.is_noise(),
            "ndcg_a": mean(&nd_a), "ndcg_b": mean(&nd_b), "ndcg_difference": nd,
            "ndcg_difference_is_noise": nd.is_noise(),
        }));
        if !args.json {
            println!(
                "{} {}: {} users, top-{k} agreement {:.2} %; HR@{k} {:.4} -> {:.4} (diff \
                 {:+.4}, 95 % CI [{:+.4}, {:+.4}]{}); NDCG@{k} {:.4} -> {:.4} (diff {:+.4}, 95 % \
                 CI [{:+.4}, {:+.4}]{})",
                key.0,
                key.1,
                la.len(),
                100.0 * agreement,
                mean(&hr_a),
                mean(&hr_b),
                hr.difference,
                hr.low,
                hr.high,
                if hr.is_noise() { ", noise" } else { ", NOT noise" },
                mean(&nd_a),
                mean(&nd_b),
                nd.difference,
                nd.low,
                nd.high,
                if nd.is_noise() { ", noise" } else { ", NOT noise" },
                k = args.k
            );
        }
    }
    if rows.is_empty() {
        bail!("the two files share no (prompt, method) pair (see --a-method/--b-method)");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    }
    Ok(())
}

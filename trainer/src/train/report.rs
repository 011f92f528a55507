//! What a run reports: where each step's time went, and at the end the weights and
//! `train_report.json`.

use std::time::Instant;

use anyhow::Result;
use vip5::{ParamCounts, Vip5Config, Vip5Model};

use super::args::TrainArgs;
use crate::common::files::write_atomic;
use crate::common::model_files::write_model_folder;
use crate::common::process::peak_rss_bytes;

/// Wall time per phase of a step, summed over the run (reported per step in the train report,
/// so a profile of where a step goes needs no profiler).
#[derive(Default)]
pub struct PhaseTimes(Vec<(&'static str, f64)>);

impl PhaseTimes {
    pub fn add(&mut self, name: &'static str, seconds: f64) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, s)) => *s += seconds,
            None => self.0.push((name, seconds)),
        }
    }

    pub fn means(&self, steps: usize) -> serde_json::Value {
        let n = steps.max(1) as f64;
        serde_json::Value::Object(
            self.0.iter().map(|(k, s)| (k.to_string(), serde_json::json!(s / n))).collect(),
        )
    }
}

/// What a run measured, for `train_report.json`.
pub struct RunTimes {
    pub started: Instant,
    /// Wall seconds of each finished step.
    pub steps: Vec<f64>,
    pub phases: PhaseTimes,
}

/// Writes the final inference weights, `config.json` and `train_report.json` (also printed).
pub fn finish(
    args: &TrainArgs,
    cfg: &Vip5Config,
    model: &Vip5Model,
    counts: &ParamCounts,
    steps_run: usize,
    times: &RunTimes,
) -> Result<()> {
    write_model_folder(&args.out, model, cfg)?;
    let step_times = &times.steps;
    let mean_step = if step_times.is_empty() {
        0.0
    } else {
        step_times.iter().sum::<f64>() / step_times.len() as f64
    };
    let report = serde_json::json!({
        "preset": args.preset,
        "mode": args.mode,
        "device": format!("{:?}", args.device),
        "steps": steps_run,
        "seconds": times.started.elapsed().as_secs_f64(),
        "mean_step_seconds": mean_step,
        "samples_per_second": if mean_step > 0.0 { args.samples_per_step() as f64 / mean_step } else { 0.0 },
        "peak_rss_bytes": peak_rss_bytes(),
        "phase_seconds_per_step": times.phases.means(step_times.len()),
        "params_total": counts.total,
        "params_trainable": counts.trainable,
    });
    write_atomic(&args.out.join("train_report.json"), &serde_json::to_vec_pretty(&report)?)?;
    println!("{report}");
    Ok(())
}

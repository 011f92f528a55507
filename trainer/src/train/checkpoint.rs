//! Checkpoints (model, optimizer and the run's settings, written atomically, the two newest
//! kept), resuming from them, the per-step loss log and the per-epoch weights.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use vip5::{Vip5Config, Vip5Model};

use super::args::TrainArgs;
use crate::common::files::{write_atomic, write_new};
use crate::common::model_files::write_model_folder;

/// Saved with every checkpoint; a resume must match it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    pub step: usize,
    pub args: TrainArgs,
    pub config: Vip5Config,
}

/// One line of `losses.jsonl`: a finished optimizer step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepLog {
    pub step: usize,
    pub epoch: usize,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
}

pub fn checkpoint_dir(out: &Path) -> PathBuf {
    out.join("checkpoints")
}

/// Writes a checkpoint atomically: everything goes to a temporary folder that is renamed into
/// place, then `latest` is replaced; a killed run leaves the previous checkpoint intact.
pub fn save_checkpoint(
    out: &Path,
    state: &CheckpointState,
    model: &Vip5Model,
    optim: &ModuleOptimizer,
) -> Result<()> {
    let dir = checkpoint_dir(out);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = format!("step-{:08}", state.step);
    let tmp = dir.join(format!("{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    let written = (|| -> Result<()> {
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let model_bytes = model
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| anyhow::anyhow!("serialising the model: {e:?}"))?;
        write_new(&tmp.join("model.bpk"), &model_bytes)?;
        let optim_bytes =
            optim.into_bytes().map_err(|e| anyhow::anyhow!("serialising the optimizer: {e:?}"))?;
        write_new(&tmp.join("optimizer.bpk"), &optim_bytes)?;
        write_new(&tmp.join("state.json"), &serde_json::to_vec_pretty(state)?)
    })();
    if let Err(e) = written {
        // (a full disk, say): the folder of the unfinished checkpoint goes, `latest` and the
        // checkpoint it names stay as they were
        let _ = std::fs::remove_dir_all(&tmp);
        let previous = std::fs::read_to_string(dir.join("latest")).map(|n| n.trim().to_string());
        let keep = match previous {
            Ok(n) => format!(
                "the previous checkpoint {} is intact (resume with --resume)",
                dir.join(n).display()
            ),
            Err(_) => "there is no earlier checkpoint".to_string(),
        };
        return Err(
            e.context(format!("saving the checkpoint of step {} failed; {keep}", state.step))
        );
    }
    let final_dir = dir.join(&name);
    // A folder of this name is not the one `latest` names (a step is saved once per run; one
    // left by a run that died before updating `latest` is stale): replace it.
    let _ = std::fs::remove_dir_all(&final_dir);
    std::fs::rename(&tmp, &final_dir)
        .with_context(|| format!("renaming {} to {}", tmp.display(), final_dir.display()))?;
    write_atomic(&dir.join("latest"), name.as_bytes())?;
    // keep the two newest checkpoints
    let mut all: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .filter(|n| n.starts_with("step-") && !n.ends_with(".tmp"))
        .collect();
    all.sort();
    for old in all.iter().take(all.len().saturating_sub(2)) {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(())
}

fn load_checkpoint(
    out: &Path,
    model: Vip5Model,
    optim: ModuleOptimizer,
) -> Result<(CheckpointState, Vip5Model, ModuleOptimizer)> {
    let dir = checkpoint_dir(out);
    let name = std::fs::read_to_string(dir.join("latest"))
        .with_context(|| format!("no checkpoint to resume in {}", dir.display()))?;
    let ck = dir.join(name.trim());
    let state: CheckpointState = serde_json::from_slice(&std::fs::read(ck.join("state.json"))?)?;
    let record =
        ModuleRecord::from_bytes(Bytes::from_bytes_vec(std::fs::read(ck.join("model.bpk"))?))
            .map_err(|e| anyhow::anyhow!("reading {}: {e:?}", ck.join("model.bpk").display()))?;
    let model = model.load_record(record);
    let optim =
        optim.from_bytes(Bytes::from_bytes_vec(std::fs::read(ck.join("optimizer.bpk"))?)).map_err(
            |e| anyhow::anyhow!("reading {}: {e:?}", ck.join("optimizer.bpk").display()),
        )?;
    Ok((state, model, optim))
}

/// Resumes from the latest checkpoint in `args.out` when `--resume` is given: the model, the
/// optimizer and the number of finished steps. Errors when the checkpoint was written with other
/// settings (all but `--resume`, `--max-steps` and `--checkpoint-every`).
pub fn resume(
    args: &TrainArgs,
    model: Vip5Model,
    optim: ModuleOptimizer,
    total_steps: usize,
) -> Result<(usize, Vip5Model, ModuleOptimizer)> {
    if !args.resume {
        return Ok((0, model, optim));
    }
    let (state, model, optim) = load_checkpoint(&args.out, model, optim)?;
    let (a, b) = (serde_json::to_value(&state.args)?, serde_json::to_value(args)?);
    let differs: Vec<&String> = a
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .filter(|k| {
            !["resume", "max_steps", "checkpoint_every"].contains(&k.as_str()) && a[*k] != b[*k]
        })
        .collect();
    if !differs.is_empty() {
        bail!("--resume with different settings than the checkpoint: {differs:?}");
    }
    eprintln!("resuming at step {} of {total_steps}", state.step);
    Ok((state.step, model, optim))
}

/// Opens `losses.jsonl` for appending, without the lines past `start_step` (a resumed run writes
/// those steps again).
pub fn open_step_log(out: &Path, start_step: usize) -> Result<std::fs::File> {
    let log_path = out.join("losses.jsonl");
    let kept: Vec<String> = std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| serde_json::from_str::<StepLog>(l).is_ok_and(|s| s.step <= start_step))
        .map(str::to_string)
        .collect();
    // rewritten atomically: a kill here must not lose the lines before the resume point
    write_atomic(&log_path, kept.iter().map(|l| format!("{l}\n")).collect::<String>().as_bytes())?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))
}

/// The inference weights and config after an epoch, in `epochs/N/`, ready for `trainer eval`
/// (a validation learning curve).
pub fn save_epoch_weights(
    out: &Path,
    epoch: usize,
    model: &Vip5Model,
    cfg: &Vip5Config,
) -> Result<()> {
    let dir = out.join("epochs").join(epoch.to_string());
    std::fs::create_dir_all(&dir)?;
    write_model_folder(&dir, model, cfg)
}

//! Faults while training: `trainer train` killed with SIGKILL at random points and resumed, and a
//! write error (the disk full, injected with a file-size limit) while a checkpoint is saved.
//! Either way the run loses nothing: it resumes from the last complete checkpoint and ends with
//! the weights of an uninterrupted run, bit for bit.
//!
//! `VIP5_KILLS=20 cargo nextest run --release --workspace -E 'test(killed_at_random)'` is the
//! long form (`scripts/kill_resume.sh`); the test suite runs 3 kills.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

mod common;
use common::{TINY_SCRATCH, final_weights, prepared, temp_dir};

/// 30 users x 2 samples, batch 4: 15 steps per epoch, 45 steps, a checkpoint every 3.
const TRAIN: [&str; 6] = ["--epochs", "3", "--seed", "11", "--checkpoint-every", "3"];
const TOTAL_STEPS: usize = 45;

fn train_args(data: &Path, out: &Path, resume: bool) -> Vec<String> {
    let mut args: Vec<String> =
        ["train", "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect();
    args.extend(TINY_SCRATCH.iter().chain(&TRAIN).map(|s| s.to_string()));
    if resume {
        args.push("--resume".into());
    }
    args
}

/// The step of the checkpoint `latest` names, checked complete (all three files, state readable).
fn latest_checkpoint(run: &Path) -> Option<usize> {
    let dir = run.join("checkpoints");
    let name = std::fs::read_to_string(dir.join("latest")).ok()?;
    let ck = dir.join(name.trim());
    for f in ["model.bpk", "optimizer.bpk"] {
        assert!(
            ck.join(f).metadata().is_ok_and(|m| m.len() > 0),
            "{} lacks {f} after a kill",
            ck.display()
        );
    }
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ck.join("state.json")).unwrap()).unwrap();
    Some(state["step"].as_u64().unwrap() as usize)
}

#[test]
fn killed_at_random_points_and_resumed_it_ends_with_the_uninterrupted_weights() {
    let kills: usize = std::env::var("VIP5_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let seed =
        std::env::var("VIP5_KILL_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("{kills} kills, VIP5_KILL_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = temp_dir("kill");
    let data = prepared(&dir);
    let bin = env!("CARGO_BIN_EXE_trainer");

    let full = dir.join("full");
    let t0 = Instant::now();
    let status = Command::new(bin)
        .args(train_args(&data, &full, false))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let uninterrupted = t0.elapsed();

    let cut = dir.join("cut");
    let (mut done, mut resumes) = (0, 0);
    while done < kills {
        let before = latest_checkpoint(&cut);
        let err_path = dir.join(format!("stderr-{done}.txt"));
        let mut child = Command::new(bin)
            .args(train_args(&data, &cut, before.is_some()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap();
        // anywhere from start-up to most of an uninterrupted run
        std::thread::sleep(uninterrupted.mul_f64(0.8 * rng.random::<f64>()));
        let finished_first = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let stderr = std::fs::read_to_string(&err_path).unwrap();
        if let Some(step) = before.filter(|_| stderr.contains("resuming")) {
            assert!(
                stderr.contains(&format!("resuming at step {step} of {TOTAL_STEPS}")),
                "resumed elsewhere than {step}: {stderr}"
            );
            resumes += 1;
        }
        if finished_first {
            // it finished before the kill landed: start again from nothing for the kills still due
            assert!(stderr.contains("training"), "{stderr}");
            std::fs::remove_dir_all(&cut).unwrap();
            continue;
        }
        done += 1;
        // whatever the kill interrupted, the checkpoint `latest` names is whole (or there is none
        // yet), and it never goes back
        let after = latest_checkpoint(&cut);
        assert!(after >= before, "the latest checkpoint went back: {before:?} -> {after:?}");
        let logged =
            std::fs::read_to_string(cut.join("losses.jsonl")).map_or(0, |l| l.lines().count());
        eprintln!("kill {done}: {logged} steps logged, latest checkpoint {after:?}");
    }
    // then run to the end
    let resume = latest_checkpoint(&cut).is_some();
    let out = Command::new(bin).args(train_args(&data, &cut, resume)).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    eprintln!("{kills} kills, {resumes} resumed runs before the last one");

    let losses = |d: &Path| std::fs::read_to_string(d.join("losses.jsonl")).unwrap();
    assert_eq!(losses(&full).lines().count(), TOTAL_STEPS);
    assert_eq!(losses(&full), losses(&cut), "the same loss sequence");
    assert!(final_weights(&full) == final_weights(&cut), "the same final weights");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_write_error_while_checkpointing_keeps_the_previous_checkpoint_and_says_why() {
    let dir = temp_dir("full-disk");
    let data = prepared(&dir);
    let bin = env!("CARGO_BIN_EXE_trainer");
    let full = dir.join("full");
    assert!(
        Command::new(bin)
            .args(train_args(&data, &full, false))
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    );

    // steps 1..6: checkpoints at 3 and 6
    let cut = dir.join("cut");
    let mut first = train_args(&data, &cut, false);
    first.extend(["--max-steps".to_string(), "6".to_string()]);
    assert!(Command::new(bin).args(&first).stderr(Stdio::null()).status().unwrap().success());
    assert_eq!(latest_checkpoint(&cut), Some(6));
    let model_size =
        std::fs::metadata(cut.join("checkpoints/step-00000006/model.bpk")).unwrap().len();

    // resumed under a file-size limit below a checkpoint's model file: writing the step-9
    // checkpoint fails (EFBIG, the same error path as ENOSPC; SIGXFSZ ignored so the write
    // returns the error instead of killing the process)
    let limit_kib = (model_size / 1024 / 2).max(1);
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("trap '' XFSZ; ulimit -f {limit_kib}; exec \"$0\" \"$@\""))
        .arg(bin)
        .args(train_args(&data, &cut, true))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("saving the checkpoint of step 9 failed"), "{stderr}");
    assert!(stderr.contains("step-00000006 is intact"), "{stderr}");
    assert!(stderr.contains("model.bpk") && stderr.contains("File too large"), "{stderr}");
    assert_eq!(latest_checkpoint(&cut), Some(6));
    let leftovers: Vec<_> = std::fs::read_dir(cut.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // with room again it resumes from step 6 and ends where the uninterrupted run did
    let out = Command::new(bin).args(train_args(&data, &cut, true)).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("resuming at step 6 of {TOTAL_STEPS}")), "{stderr}");
    assert!(final_weights(&full) == final_weights(&cut), "the same final weights");
    let _ = std::fs::remove_dir_all(&dir);
}

//! Helpers shared by the trainer's CLI tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh, empty folder under the system temp dir, unique to this test process.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vip5-trainer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small run of the tiny preset from scratch: batches of 4, one sequential and one direct
/// sample per user, 5 candidate negatives (the epochs and seed are each test's own).
#[allow(dead_code)] // not every test file trains
pub const TINY_SCRATCH: [&str; 12] = [
    "--preset",
    "tiny",
    "--mode",
    "scratch",
    "--batch-size",
    "4",
    "--sequential-per-user",
    "1",
    "--direct-per-user",
    "1",
    "--candidate-negatives",
    "5",
];

/// The demo recipe's objective (scripts/recipe.sh) for a test run: one-token items started from
/// a PPMI factorisation, every training window, the first step over the items, soft targets.
#[allow(dead_code)] // not every test file trains
pub const ITEM_RECIPE: [&str; 10] = [
    "--item-tokens",
    "--tasks",
    "sequential",
    "--sequential-windows",
    "every",
    "--item-init",
    "ppmi-svd",
    "--item-softmax",
    "--distill-weight",
    "0.5",
];

/// Runs the trainer binary: (success, stdout, stderr).
pub fn trainer(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trainer")).args(args).output().expect("run trainer");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// 30 users with 6..10 items over 40 ASINs in the raw layout, prepared into `dir/prepared`.
#[allow(dead_code)] // not every test file trains
pub fn prepared(dir: &Path) -> PathBuf {
    let mut raw = String::new();
    for u in 0..30u32 {
        raw.push_str(&format!("A{u:04}"));
        for j in 0..(6 + u % 5) {
            raw.push_str(&format!(" B{:04}", (u * 7 + j * 3) % 40));
        }
        raw.push('\n');
    }
    std::fs::write(dir.join("raw.txt"), raw).unwrap();
    let out = dir.join("prepared");
    let (ok, stdout, stderr) = trainer(&[
        "prepare",
        "--raw",
        dir.join("raw.txt").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("30 users, 40 items"), "{stdout}");
    out
}

/// A run's final weights, tensor by tensor, sorted by name (compared as tensors, not file bytes:
/// the safetensors header's metadata map has no fixed order).
#[allow(dead_code)]
pub fn final_weights(run: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(run.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<(String, Vec<u8>)> =
        st.tensors().into_iter().map(|(k, t)| (k, t.data().to_vec())).collect();
    v.sort();
    v
}

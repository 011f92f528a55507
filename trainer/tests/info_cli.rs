//! `trainer info` counts parameters from the built module; the figures must equal docs/vip5.md
//! §1.6 (which reproduces the paper's Table 5 percentages exactly).

use std::process::Command;

fn info(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .arg("info")
        .args(args)
        .output()
        .expect("run trainer info");
    assert!(out.status.success(), "trainer info failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn t5_small_default_matches_the_spec() {
    let out = info(&["--preset", "t5-small"]);
    assert!(
        out.contains("total_params=63797120 trainable_params=2788736 trainable_percent=4.37"),
        "{out}"
    );
}

#[test]
fn paper_ablation_rn101_k1_with_cross_adapters_is_3_58_percent() {
    let out = info(&["--preset", "t5-small", "--feat-dim", "512", "--n-vis-tokens", "1"]);
    assert!(
        out.contains("total_params=63271552 trainable_params=2263168 trainable_percent=3.58"),
        "{out}"
    );
}

#[test]
fn paper_ablation_self_attention_only_is_2_97_percent() {
    let out = info(&["--preset", "t5-small", "--n-vis-tokens", "1", "--no-cross-adapters"]);
    assert!(
        out.contains("total_params=62874880 trainable_params=1866496 trainable_percent=2.97"),
        "{out}"
    );
}

#[test]
fn full_fine_tuning_trains_everything() {
    let out = info(&["--preset", "t5-small", "--mode", "full"]);
    assert!(out.contains("total_params=63797120 trainable_params=63797120"), "{out}");
}

#[test]
fn unknown_preset_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["info", "--preset", "t5-huge"])
        .output()
        .expect("run trainer info");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown preset `t5-huge`"), "{err}");
}

//! `trainer prepare | train | eval` end to end on a small synthetic data set: the exact-resume
//! guarantee (an interrupted run resumed gives the same losses and weights as an uninterrupted
//! one), NaN handling, and the evaluation's JSON.

use std::path::Path;

mod common;
use common::{ITEM_RECIPE, TINY_SCRATCH, final_weights, prepared, temp_dir, trainer};

const TRAIN: [&str; 4] = ["--epochs", "2", "--seed", "7"];

fn train(data: &Path, out: &Path, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["train", "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend(TINY_SCRATCH);
    args.extend(TRAIN);
    args.extend(extra);
    trainer(&args)
}

/// The per-step losses a run logged in `losses.jsonl`.
fn loss_values(run: &Path) -> Vec<f64> {
    std::fs::read_to_string(run.join("losses.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"].as_f64().unwrap())
        .collect()
}

#[test]
fn resuming_an_interrupted_run_gives_the_same_losses_and_weights() {
    let dir = temp_dir("resume");
    let data = prepared(&dir);
    // 30 users x 2 samples = 60 samples/epoch, batch 4 -> 15 steps/epoch, 30 steps in all
    let full = dir.join("full");
    let (ok, _, stderr) = train(&data, &full, &["--checkpoint-every", "10"]);
    assert!(ok, "{stderr}");

    let cut = dir.join("cut");
    let (ok, _, stderr) = train(&data, &cut, &["--checkpoint-every", "4", "--max-steps", "10"]);
    assert!(ok, "{stderr}");
    // Simulate a kill between steps 8 and 10: the newest checkpoint is lost, the log ran ahead.
    let ck = cut.join("checkpoints");
    std::fs::remove_dir_all(ck.join("step-00000010")).unwrap();
    std::fs::write(ck.join("latest"), "step-00000008").unwrap();
    let (ok, _, stderr) = train(&data, &cut, &["--checkpoint-every", "4", "--resume"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("resuming at step 8 of 30"), "{stderr}");

    let losses = |d: &Path| std::fs::read_to_string(d.join("losses.jsonl")).unwrap();
    assert_eq!(losses(&full).lines().count(), 30);
    assert_eq!(losses(&full), losses(&cut), "same loss sequence");
    let (a, b) = (final_weights(&full), final_weights(&cut));
    assert!(a.len() > 20);
    assert!(a == b, "same final weights");
    // and the run actually learned something: the mean loss of the last 5 steps is below the
    // first 5
    let values: Vec<f64> = losses(&full)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"].as_f64().unwrap())
        .collect();
    let (first, last) =
        (values[..5].iter().sum::<f64>() / 5.0, values[25..].iter().sum::<f64>() / 5.0);
    assert!(last < first, "mean loss {first} -> {last}: {values:?}");

    // resuming with other settings is refused
    let (ok, _, stderr) = train(&data, &cut, &["--resume", "--lr", "0.5"]);
    assert!(!ok && stderr.contains("different settings"), "{stderr}");

    // eval: baselines beside both decodings; constrained decoding only returns items
    let (ok, stdout, stderr) = trainer(&[
        "eval",
        "--data",
        data.to_str().unwrap(),
        "--model",
        full.to_str().unwrap(),
        "--prompts",
        "A-3,B-5",
        "--beams",
        "4",
        "--max-length",
        "8",
        "--max-users",
        "6",
        "--candidate-negatives",
        "5",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    // per prompt: popularity, recent popularity, max(history)+1, last-item transitions,
    // co-occurrence, and the two decodings
    assert_eq!(rows.len(), 14, "{stdout}");
    for r in rows {
        assert_eq!(r["users"], 6);
        for k in ["hr1", "hr5", "ndcg5", "hr10", "ndcg10"] {
            let x = r[k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&x));
        }
    }
    let constrained: Vec<_> = rows.iter().filter(|r| r["method"] == "vip5 constrained").collect();
    assert_eq!(constrained.len(), 2);
    assert!(constrained.iter().all(|r| r["non_items"].as_f64() == Some(0.0)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_diverging_run_stops_with_a_clear_message_and_keeps_the_last_checkpoint() {
    let dir = temp_dir("nan");
    let data = prepared(&dir);
    let out = dir.join("out");
    let (ok, _, stderr) =
        train(&data, &out, &["--lr", "1e30", "--warmup-ratio", "0", "--checkpoint-every", "1"]);
    assert!(!ok, "a learning rate of 1e30 must diverge");
    assert!(stderr.contains("loss is") && stderr.contains("last good checkpoint"), "{stderr}");
    let latest = std::fs::read_to_string(out.join("checkpoints/latest")).unwrap();
    assert!(out.join("checkpoints").join(latest.trim()).join("model.bpk").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn prepare_reports_bad_input_with_file_and_line() {
    let dir = temp_dir("bad");
    std::fs::write(dir.join("seq.txt"), "1 1 2 3\n2 2 x 4\n").unwrap();
    std::fs::write(
        dir.join("maps.json"),
        r#"{"id2item": {"1": "a", "2": "b", "3": "c", "4": "d"}, "id2user": {"1": "u", "2": "v"}}"#,
    )
    .unwrap();
    let (seq, maps, out) = (dir.join("seq.txt"), dir.join("maps.json"), dir.join("p"));
    let prepare = || {
        let paths = [seq.to_str().unwrap(), maps.to_str().unwrap(), out.to_str().unwrap()];
        trainer(&["prepare", "--sequential", paths[0], "--datamaps", paths[1], "--out", paths[2]])
    };
    let (ok, _, stderr) = prepare();
    assert!(!ok);
    assert!(stderr.contains("line 2") && stderr.contains("`x`"), "{stderr}");
    std::fs::write(dir.join("seq.txt"), "1 1 2 3\n2 2 9 4\n").unwrap();
    let (ok, _, stderr) = prepare();
    assert!(!ok);
    assert!(stderr.contains("line 2: item 9 is not in"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn data_parallel_shards_sum_to_the_single_device_step() {
    // Without dropout, splitting each batch over two devices (burn's MultiGradientsParams sums
    // their gradients) must follow the same trajectory as one device.
    let dir = temp_dir("dp");
    let data = prepared(&dir);
    let losses = |dp: &str| {
        let out = dir.join(format!("dp{dp}"));
        let (ok, _, stderr) =
            train(&data, &out, &["--dropout", "0", "--data-parallel", dp, "--max-steps", "6"]);
        assert!(ok, "{stderr}");
        loss_values(&out)
    };
    let (one, two) = (losses("1"), losses("2"));
    assert_eq!(one.len(), 6);
    for (a, b) in one.iter().zip(&two) {
        assert!(
            (a - b).abs() <= 1e-4 * a.abs().max(1.0),
            "single {a} vs two shards {b}: {one:?} / {two:?}"
        );
    }
    // With dropout, two CPU shards share the device's RNG: two runs must still draw the same masks.
    let dropout = |name: &str| {
        let out = dir.join(name);
        let (ok, _, stderr) =
            train(&data, &out, &["--dropout", "0.3", "--data-parallel", "2", "--max-steps", "4"]);
        assert!(ok, "{stderr}");
        std::fs::read_to_string(out.join("losses.jsonl")).unwrap()
    };
    assert_eq!(dropout("drop-a"), dropout("drop-b"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn item_token_runs_train_evaluate_and_pair_with_the_baselines() {
    let dir = temp_dir("item-tokens");
    let data = prepared(&dir);
    let out = dir.join("run");
    let (ok, _, stderr) =
        train(&data, &out, &["--item-tokens", "--max-steps", "3", "--tasks", "sequential"]);
    assert!(ok, "{stderr}");
    let config = std::fs::read_to_string(out.join("config.json")).unwrap();
    assert!(
        config.contains("\"item_tokens\":40") || config.contains("\"item_tokens\": 40"),
        "{config}"
    );
    assert!(config.contains("32140"), "t5-small's 32,100 tokens + 40 items: {config}");

    let ranks = dir.join("ranks.jsonl");
    let (ok, stdout, stderr) = trainer(&[
        "eval",
        "--data",
        data.to_str().unwrap(),
        "--model",
        out.to_str().unwrap(),
        "--prompts",
        "A-3",
        "--beams",
        "4",
        "--max-users",
        "6",
        "--max-history-items",
        "3",
        "--json",
        "--rankings-out",
        ranks.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let methods: Vec<&str> =
        v["rows"].as_array().unwrap().iter().map(|r| r["method"].as_str().unwrap()).collect();
    assert_eq!(
        methods,
        [
            "popularity",
            "recent popularity",
            "max(history)+1",
            "last-item transitions",
            "co-occurrence",
            "vip5 unconstrained",
            "vip5 constrained"
        ]
    );
    // every A-family row says how personal its lists are
    for r in v["rows"].as_array().unwrap() {
        let p = &r["personalisation"];
        // (an untrained model's unconstrained beams may name no item at all: 0 distinct)
        assert!(p["distinct_items"].as_u64().is_some(), "{r}");
        assert!((0.0..=1.0).contains(&p["pair_overlap"].as_f64().unwrap()), "{r}");
    }
    assert_eq!(
        v["rows"][0]["personalisation"]["popularity_share"], 1.0,
        "popularity against itself"
    );
    // every constrained beam is one item token: 4 items per user, ranked
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&ranks)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |m: &str| lines.iter().filter(|l| l["method"] == m).count();
    assert_eq!(
        (
            of("popularity"),
            of("recent popularity"),
            of("last-item transitions"),
            of("co-occurrence"),
            of("vip5 constrained")
        ),
        (6, 6, 6, 6, 6)
    );
    assert!(
        lines.iter().filter(|l| l["method"] == "vip5 constrained").all(|l| l["ranked"]
            .as_array()
            .unwrap()
            .len()
            == 4)
    );

    // the model paired with a baseline on the same users
    let (ok, stdout, stderr) = trainer(&[
        "compare-rankings",
        "--a",
        ranks.to_str().unwrap(),
        "--a-method",
        "popularity",
        "--b",
        ranks.to_str().unwrap(),
        "--b-method",
        "vip5 constrained",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{stdout}");
    assert_eq!(rows[0]["method"], "popularity vs vip5 constrained");
    assert_eq!(rows[0]["users"], 6);
    let (ok, _, stderr) = trainer(&[
        "compare-rankings",
        "--a",
        ranks.to_str().unwrap(),
        "--b",
        ranks.to_str().unwrap(),
        "--a-method",
        "popularity",
    ]);
    assert!(!ok && stderr.contains("--b-method"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_personalisation_recipe_trains_resumes_and_refuses_what_it_cannot_do() {
    let dir = temp_dir("recipe");
    let data = prepared(&dir);
    let recipe =
        [&ITEM_RECIPE[..], &["--max-history-items", "4", "--data-parallel", "2", "--dropout", "0"]]
            .concat();
    let full = dir.join("full");
    let (ok, _, stderr) =
        train(&data, &full, &[&recipe[..], &["--checkpoint-every", "100"]].concat());
    assert!(ok, "{stderr}");
    assert!(stderr.contains("item rows from the PPMI factorisation (40 items x 16)"), "{stderr}");
    // every training position of every user once: sum over users of (items - 3)
    let positions: usize = (0..30usize).map(|u| 6 + u % 5 - 3).sum();
    assert!(stderr.contains(&format!("{positions} samples/epoch")), "{stderr}");
    let losses = loss_values(&full);
    assert!(losses.iter().all(|l| l.is_finite() && *l > 0.0), "{losses:?}");

    // the new objective resumes exactly too
    let cut = dir.join("cut");
    let (ok, _, stderr) = train(
        &data,
        &cut,
        &[&recipe[..], &["--checkpoint-every", "5", "--max-steps", "5"]].concat(),
    );
    assert!(ok, "{stderr}");
    let (ok, _, stderr) =
        train(&data, &cut, &[&recipe[..], &["--checkpoint-every", "5", "--resume"]].concat());
    assert!(ok, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(full.join("losses.jsonl")).unwrap(),
        std::fs::read_to_string(cut.join("losses.jsonl")).unwrap()
    );
    assert!(final_weights(&full) == final_weights(&cut), "resumed weights differ");
    // the weights after epoch 1 are kept for a learning curve
    assert!(
        full.join("epochs/1/model.safetensors").exists()
            && full.join("epochs/1/config.json").exists()
    );

    for (flags, message) in [
        (&["--item-softmax"][..], "need --item-tokens"),
        (&["--item-tokens", "--distill-weight", "0.5"][..], "needs --item-softmax"),
        (&["--item-tokens", "--item-softmax", "--distill-weight", "1.5"][..], "must be in [0, 1]"),
    ] {
        let (ok, _, stderr) = train(&data, &dir.join("refused"), flags);
        assert!(!ok && stderr.contains(message), "{flags:?}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn image_features_of_the_wrong_dimension_or_shape_are_refused_not_zeroed() {
    let dir = temp_dir("feature-dim");
    let data = prepared(&dir);
    let run = dir.join("run");
    let (ok, _, stderr) = train(&data, &run, &["--max-steps", "1"]);
    assert!(ok, "{stderr}");

    // 3-d features for every ASIN; the tiny model takes 8-d ones.
    let values: Vec<Vec<u8>> = (0..40)
        .map(|i| [0.1f32 * i as f32, 0.2, 0.3].iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = values
        .iter()
        .enumerate()
        .map(|(i, b)| {
            (
                format!("B{i:04}"),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![3], b).unwrap(),
            )
        })
        .collect();
    let features = dir.join("features-3d.safetensors");
    std::fs::write(&features, safetensors::serialize(views, None).unwrap()).unwrap();
    let with3 = dir.join("prepared-3d");
    let (ok, _, stderr) = trainer(&[
        "prepare",
        "--raw",
        dir.join("raw.txt").to_str().unwrap(),
        "--features",
        features.to_str().unwrap(),
        "--out",
        with3.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let eval = |data: &Path| {
        trainer(&[
            "eval",
            "--data",
            data.to_str().unwrap(),
            "--model",
            run.to_str().unwrap(),
            "--beams",
            "4",
            "--max-users",
            "4",
        ])
    };
    let (ok, _, stderr) = eval(&with3);
    assert!(
        !ok && stderr.contains("has 3-d image features but the model takes 8-d ones"),
        "{stderr}"
    );
    let (ok, _, stderr) = trainer(&[
        "export",
        "--model",
        run.to_str().unwrap(),
        "--data",
        with3.to_str().unwrap(),
        "--out",
        dir.join("b.gguf").to_str().unwrap(),
    ]);
    assert!(
        !ok && stderr.contains("has 3-d image features but the model takes 8-d ones"),
        "{stderr}"
    );

    // A features tensor that is not [items + 1, dim] is named, not indexed out of bounds.
    let flat: Vec<u8> = (0..123).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![123], &flat).unwrap();
    std::fs::write(
        with3.join("features.safetensors"),
        safetensors::serialize([("features".to_string(), view)], None).unwrap(),
    )
    .unwrap();
    let (ok, _, stderr) = eval(&with3);
    assert!(!ok && stderr.contains("`features` has shape [123], expected [41, dim]"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

//! The wasm library and the demo site in headless Chromium, against the native library on the
//! same bundles: once on the SwiftShader WebGPU adapter and once with WebGPU off (CPU path).
//!
//! Needs what `scripts/test.sh` provides: the site built by `trunk build --release` into `dist/`,
//! `npm ci` (playwright-core) and Debian's `chromium`. Missing pieces fail the test with the step
//! to run; nothing is skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use vip5::bundle::{CatalogItem, write_clip_bundle, write_model_bundle};
use vip5::clip::{ClipVision, RgbImage, image_features};
use vip5::quant::GgmlType;
use vip5::recommend::Recommender;
use vip5::weights::{read_safetensors, save_safetensors};
use vip5::{Vip5Config, Vip5Model};
use vip5_tests::{flex, quantizable_config, tiny_clip_config};

const TOKENIZER: &str = include_str!("../../data/tokenizers/t5-small/tokenizer.json");

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Where scripts/build_test_wasm.sh puts the wasm with its test-only export.
fn test_wasm_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    target.join("test-wasm")
}

fn require(path: &Path, how: &str) {
    assert!(path.exists(), "{} is missing: {how}", path.display());
}

/// The fixtures the page loads, and the native answers to the same queries.
fn write_fixtures(dir: &Path) -> Value {
    let device = flex();
    device.seed(5);
    // One token per item, as the bundled demo model: the page builds the tokenizer's item tokens.
    let cfg = Vip5Config { item_tokens: 60, vocab_size: 32_160, ..quantizable_config() };
    let model = Vip5Model::new(&cfg, &device);
    let tensors = read_safetensors(&save_safetensors(&model).expect("save")).expect("read");
    let catalog: Vec<CatalogItem> = (1..=60)
        .map(|i| CatalogItem { key: format!("B{i:09}"), title: format!("test product {i}") })
        .collect();
    // Item features so that visual tokens differ between items.
    let features: Vec<f32> =
        (0..61 * 32).map(|i| ((i * 7919 % 200) as f32 - 100.0) / 100.0).collect();
    let bundle =
        write_model_bundle(&cfg, &tensors, TOKENIZER, &catalog, Some(&features), GgmlType::Q8_0)
            .expect("bundle");
    std::fs::write(dir.join("bundle.gguf"), &bundle).expect("write");
    // The same model with NaN in its shared embedding: what a misbehaving adapter computes. It
    // forces the WebGPU self-check to fail (and the CPU path to say why it cannot answer).
    let mut poisoned = tensors.clone();
    poisoned
        .get_mut("shared.weight")
        .expect("a shared embedding")
        .data
        .iter_mut()
        .for_each(|v| *v = f32::NAN);
    let nan_bundle =
        write_model_bundle(&cfg, &poisoned, TOKENIZER, &catalog, Some(&features), GgmlType::F32)
            .expect("bundle");
    std::fs::write(dir.join("nan-bundle.gguf"), nan_bundle).expect("write");

    let ccfg = tiny_clip_config();
    device.seed(6);
    let clip = ClipVision::new(&ccfg, &device);
    let clip_st = save_safetensors(&clip).expect("save clip");
    let clip_tensors = read_safetensors(&clip_st).expect("read clip");
    std::fs::write(
        dir.join("clip.gguf"),
        write_clip_bundle(&ccfg, &clip_tensors, GgmlType::F32).expect("clip bundle"),
    )
    .expect("write");
    // A Hugging Face layout: the vision tensors plus a big text tower the page must not download.
    let mut hf: BTreeMap<String, (Vec<usize>, Vec<u8>)> = clip_tensors
        .iter()
        .map(|(k, t)| {
            (k.clone(), (t.shape.clone(), t.data.iter().flat_map(|v| v.to_le_bytes()).collect()))
        })
        .collect();
    hf.insert(
        "text_model.embeddings.token_embedding.weight".into(),
        (vec![4096, 64], vec![0u8; 4096 * 64 * 4]),
    );
    let views: Vec<(String, safetensors::tensor::TensorView)> = hf
        .iter()
        .map(|(k, (shape, bytes))| {
            (
                k.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .expect("view"),
            )
        })
        .collect();
    std::fs::create_dir_all(dir.join("clip")).expect("mkdir");
    std::fs::write(
        dir.join("clip/model.safetensors"),
        safetensors::serialize(views, None).expect("serialize"),
    )
    .expect("write");
    let hf_config = json!({ "projection_dim": 32, "vision_config": {
        "image_size": 32, "patch_size": 16, "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "layer_norm_eps": 1e-5 } });
    std::fs::write(dir.join("clip/config.json"), hf_config.to_string()).expect("write");

    std::fs::write(dir.join("demo_histories.json"), json!(DEMO_HISTORIES).to_string())
        .expect("write");
    for page in ["parity.html", "parity.js", "fetch-worker.js", "test-worker.js", "gpu-hooks.js"] {
        std::fs::copy(repo_root().join("tests/browser").join(page), dir.join(page))
            .expect("copy test page");
    }
    // The production worker beside the test build of the wasm (with `__panicForTests`).
    let test_wasm = dir.join("test-wasm");
    std::fs::create_dir_all(&test_wasm).expect("mkdir");
    std::fs::copy(repo_root().join("www/vip5-worker.js"), test_wasm.join("vip5-worker.js"))
        .expect("copy the worker");
    for file in ["vip5-web.js", "vip5-web_bg.wasm"] {
        std::fs::copy(test_wasm_dir().join(file), test_wasm.join(file)).expect("copy test wasm");
    }

    let t5_small = write_t5_small_fixture(dir);
    let (w, h) = (40usize, 30usize);
    let rgba: Vec<u8> =
        (0..w * h * 4).map(|i| if i % 4 == 3 { 255 } else { (i * 37 % 251) as u8 }).collect();
    let queries = json!({
        "history": ["B000000003", "B000000017", "NOT-IN-BUNDLE", "B000000025"],
        "k": 8,
        "exclude": ["B000000001"],
        "only": ["B000000010", "B000000011", "B000000012", "B000000013"],
        "score": ["B000000004", "B000000040"],
        "candidates": ["B000000005", "B000000006", "B000000007", "B000000050"],
        "image": { "width": w, "height": h, "rgba": rgba },
        "demoHistories": DEMO_HISTORIES,
        "t5Small": t5_small["query"],
    });
    std::fs::write(dir.join("queries.json"), queries.to_string()).expect("write");

    // Native answers.
    let rec = Recommender::from_bundle(&bundle, device.clone()).expect("recommender");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().expect("array").iter().map(|s| s.as_str().expect("str").to_string()).collect()
    };
    let history = strings(&queries["history"]);
    let next =
        pollster::block_on(rec.recommend_next(&history, 8, &strings(&queries["exclude"]), None))
            .expect("next");
    let only =
        pollster::block_on(rec.recommend_next(&history, 8, &[], Some(&strings(&queries["only"]))))
            .expect("only");
    let scores =
        pollster::block_on(rec.score(&history, &strings(&queries["score"]))).expect("score");
    let ranked =
        pollster::block_on(rec.rank_candidates(&history, &strings(&queries["candidates"])))
            .expect("rank");
    let img = RgbImage::from_rgba(&rgba, w, h).expect("image");
    let feats = pollster::block_on(image_features(&clip, &ccfg, &[img], &device))
        .expect("features")
        .remove(0);
    let photo = pollster::block_on(rec.score_photo(&history, &feats)).expect("photo");
    json!({
        "next": next, "only": only, "scores": scores, "ranked": ranked, "features": feats,
        "photo": photo, "t5Small": t5_small
    })
}

/// A `t5-small`-shaped bundle (the paper's shape: number ids, 60 M parameters, q8_0) with seeded
/// random weights and a 300-item catalogue, written to `dir`, and the native answers for a
/// 20-item history: WebGPU must run the full-size model too, not only the small demo one.
fn write_t5_small_fixture(dir: &Path) -> Value {
    let device = flex();
    device.seed(7);
    let cfg = Vip5Config::t5_small();
    let model = Vip5Model::new(&cfg, &device);
    vip5::model::initialize_params(&model);
    let tensors = read_safetensors(&save_safetensors(&model).expect("save")).expect("read");
    let catalog: Vec<CatalogItem> = (1..=T5_SMALL_ITEMS)
        .map(|i| CatalogItem { key: format!("T{i:05}"), title: format!("t5-small product {i}") })
        .collect();
    let features: Vec<f32> = (0..(T5_SMALL_ITEMS + 1) * cfg.feat_dim)
        .map(|i| ((i * 7919 % 200) as f32 - 100.0) / 100.0)
        .collect();
    let bundle =
        write_model_bundle(&cfg, &tensors, TOKENIZER, &catalog, Some(&features), GgmlType::Q8_0)
            .expect("t5-small bundle");
    std::fs::write(dir.join("t5-small-q8_0.gguf"), &bundle).expect("write");
    let history: Vec<String> = (0..20).map(|i| format!("T{:05}", 1 + i * 13)).collect();
    let score: Vec<String> = ["T00002", "T00150", "T00299"].map(String::from).to_vec();
    let rec = Recommender::from_bundle(&bundle, device).expect("t5-small recommender");
    let next = pollster::block_on(rec.recommend_next(&history, 10, &[], None)).expect("next");
    let scores = pollster::block_on(rec.score(&history, &score)).expect("score");
    json!({ "query": { "history": history, "score": score }, "next": next, "scores": scores })
}

const T5_SMALL_ITEMS: usize = 300;

/// Two visitors of the demo shop with histories from two product lines (Beauty ASINs, the most
/// bought items whose titles say "lipstick" and "shampoo").
const DEMO_HISTORIES: [[&str; 3]; 2] =
    [["B005FYJB92", "B005UL3LVY", "B0043TUSME"], ["B0020122ZS", "B007RTR8A2", "B00AAIOP44"]];

/// For each key, the keys bought after it by some user in the training parts of the shipped
/// Beauty data (each user's items but the last two).
fn bought_after() -> BTreeMap<String, std::collections::BTreeSet<String>> {
    let root = repo_root().join("data/amazon/beauty");
    let seqs = vip5::data::parse_sequential_data(
        &std::fs::read_to_string(root.join("sequential_data.txt")).expect("data"),
    )
    .expect("parse");
    let maps: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("datamaps.json")).expect("datamaps"),
    )
    .expect("json");
    let key = |i: u32| maps["id2item"][i.to_string()].as_str().expect("an ASIN").to_string();
    let mut after: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for s in &seqs {
        let part = vip5::data::training_items(s);
        for (i, &a) in part.iter().enumerate() {
            after.entry(key(a)).or_default().extend(part[i + 1..].iter().map(|&b| key(b)));
        }
    }
    after
}

fn ids(v: &Value) -> Vec<u64> {
    v.as_array().expect("list").iter().map(|x| x["id"].as_u64().expect("id")).collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|x| x.as_f64().unwrap_or_else(|| x["score"].as_f64().expect("score")))
        .collect()
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tol, "{what}: {g} vs {w} (tolerance {tol})\n{got:?}\n{want:?}");
    }
}

/// `events` (what `Recommender.load` passed to `onProgress`) hold, for each `(name, bytes)` file,
/// `initiate`, `download` (network only), `progress` events up to all its bytes and `done`, in that
/// order, and end with one `ready` naming the backend.
fn assert_progress(events: &Value, files: &[(&str, u64)], cached: bool, backend: &str) {
    let events = events.as_array().expect("progress events");
    for &(name, bytes) in files {
        let mine: Vec<&Value> = events.iter().filter(|e| e["name"] == name).collect();
        let statuses: Vec<&str> =
            mine.iter().map(|e| e["status"].as_str().expect("status")).collect();
        let mut want = vec!["initiate"];
        if !cached {
            want.push("download");
        }
        assert_eq!(statuses[..want.len()], want[..], "{name}: {statuses:?}");
        assert_eq!(statuses.last(), Some(&"done"), "{name}: {statuses:?}");
        let progress = &mine[want.len()..mine.len() - 1];
        assert!(!progress.is_empty(), "{name}: no progress event: {statuses:?}");
        let mut last = 0;
        for e in progress {
            assert_eq!(e["status"], "progress", "{name}: {e}");
            assert_eq!(e["cached"], cached, "{name}: {e}");
            assert_eq!(e["total"], bytes, "{name}: {e}");
            let loaded = e["loaded"].as_u64().expect("loaded");
            assert!(loaded >= last && loaded <= bytes, "{name}: {e}");
            let percent = e["progress"].as_f64().expect("progress");
            assert!((percent - 100.0 * loaded as f64 / bytes as f64).abs() < 1e-9, "{name}: {e}");
            last = loaded;
        }
        assert_eq!(last, bytes, "{name}: the last progress event has all the bytes");
        assert!(mine.iter().all(|e| e["file"].as_str().is_some_and(|f| f.ends_with(".gguf"))));
    }
    let ready = events.last().expect("events");
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["name"], "model");
    assert_eq!(ready["backend"], backend);
    assert_eq!(events.iter().filter(|e| e["status"] == "ready").count(), 1);
}

#[test]
fn library_and_demo_site_in_headless_chromium_match_native() {
    let root = repo_root();
    let dist = root.join("dist");
    require(
        &dist.join("vip5-web_bg.wasm"),
        "build the site with `trunk build --release` (scripts/test.sh does)",
    );
    require(&dist.join("vip5.js"), "build the site with `trunk build --release`");
    require(
        &test_wasm_dir().join("vip5-web_bg.wasm"),
        "build the test wasm with `bash scripts/build_test_wasm.sh` (scripts/test.sh does)",
    );
    // The site's wasm has no test-only export: a page cannot crash the worker on purpose.
    let glue = std::fs::read_to_string(dist.join("vip5-web.js")).expect("dist/vip5-web.js");
    assert!(!glue.contains("__panicForTests"), "dist/vip5-web.js exports the test-only panic");
    require(
        &root.join("node_modules/playwright-core"),
        "run `npm ci` at the repository root (scripts/test.sh does)",
    );
    require(
        Path::new("/usr/bin/chromium"),
        "install Debian's chromium (`apt-get install chromium`; scripts/test.sh does)",
    );

    let dir = std::env::temp_dir().join(format!("vip5-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let fixtures = dir.join("fixtures");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&fixtures).expect("mkdir");
    let native = write_fixtures(&fixtures);

    let status = Command::new("node")
        .current_dir(&root)
        .args(["tests/browser/run.mjs", "--dist"])
        .arg(&dist)
        .arg("--fixtures")
        .arg(&fixtures)
        .arg("--out")
        .arg(&out)
        .status()
        .expect("run node (is Node.js installed?)");
    assert!(status.success(), "the browser runner failed");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("report"))
            .expect("json");
    eprintln!("browser report and screenshots: {}", out.display());

    for mode in report["modes"].as_array().expect("modes") {
        let name = mode["mode"].as_str().expect("mode name");
        assert!(
            mode.get("failure").is_none(),
            "{name}: {}\nconsole: {}",
            mode["failure"],
            mode["console"]
        );
        // The demo pages log no error (no CSP violation: nothing is injected into them).
        let demo_console = mode["demoConsole"].as_array().expect("demoConsole");
        assert!(demo_console.is_empty(), "{name}: the demo logged errors: {demo_console:?}");
        if name == "cpu" {
            // The CSP blocks and reports a fetch and an image to another origin.
            let csp = &mode["csp"];
            assert!(
                csp["fetchError"].is_string(),
                "an injected cross-origin fetch went through: {csp}"
            );
            assert_eq!(csp["img"], "error", "an injected cross-origin image loaded: {csp}");
            let violations = csp["violations"].as_array().expect("violations");
            for directive in ["connect-src", "img-src"] {
                assert!(
                    violations.iter().any(|v| v["directive"] == directive
                        && v["blocked"].as_str().is_some_and(|b| b.contains("127.0.0.2"))),
                    "no {directive} violation reported: {csp}"
                );
            }
        }
        let p = &mode["parity"];
        // The backend and why.
        match name {
            "webgpu" => assert_eq!(p["backend"], "webgpu", "{}", p["reason"]),
            _ => {
                assert_eq!(p["backend"], "cpu");
                assert!(
                    p["reason"].as_str().expect("reason").contains("CPU fallback"),
                    "{}",
                    p["reason"]
                );
            }
        }
        // transformers.js-shaped progress: initiate, download, progress..., done per file, then
        // ready; a second load reads the bundle from the Cache API.
        let size = |f: &str| std::fs::metadata(fixtures.join(f)).expect("fixture").len();
        let backend = p["backend"].as_str().expect("backend");
        assert_progress(
            &p["progress"],
            &[("bundle", size("bundle.gguf")), ("clip", size("clip.gguf"))],
            false,
            backend,
        );
        assert_progress(&p["cachedProgress"], &[("bundle", size("bundle.gguf"))], true, backend);
        // Same answers as the native library (q8_0 bundle, same code, another backend).
        assert_eq!(
            p["history"].as_array().expect("history").len(),
            4,
            "unknown keys are kept in the history"
        );
        assert_eq!(ids(&p["next"]), ids(&native["next"]), "{name}: recommendNext");
        assert_close(
            &format!("{name} next scores"),
            &floats(&p["next"]),
            &floats(&native["next"]),
            1e-4,
        );
        assert_eq!(ids(&p["only"]), ids(&native["only"]), "{name}: recommendNext with only");
        assert_close(
            &format!("{name} scores"),
            &floats(&p["scores"]),
            &floats(&native["scores"]),
            1e-4,
        );
        assert_eq!(ids(&p["ranked"]), ids(&native["ranked"]), "{name}: rankCandidates");
        // The worker's wasm memory held both bundles' bytes at least (they are read there) and is
        // whole 64 KiB wasm pages below wasm32's 4 GiB.
        let memory = p["memoryBytes"].as_u64().expect("memoryBytes");
        let bundles = size("bundle.gguf") + size("clip.gguf");
        assert!(
            memory >= bundles && memory % 65_536 == 0 && memory < 1 << 32,
            "{name}: worker memory {memory} bytes for {bundles} bytes of bundles"
        );
        assert_close(
            &format!("{name} image features"),
            &floats(&p["features"]),
            &floats(&native["features"]),
            1e-4,
        );
        assert_close(
            &format!("{name} HF-range image features"),
            &floats(&p["hfFeatures"]),
            &floats(&native["features"]),
            1e-4,
        );
        assert!(
            (p["photo"].as_f64().expect("photo") - native["photo"].as_f64().expect("photo")).abs()
                < 1e-4,
            "{name}: scorePhoto"
        );
        // The shipped demo bundle on this backend: no fallback on WebGPU (SwiftShader computed
        // NaN in the adapters' tanh before `bounded_tanh`), the same lists and scores as the CPU.
        let demo_here = &p["demoBundle"];
        assert_eq!(
            demo_here["backend"],
            if name == "webgpu" { "webgpu" } else { "cpu" },
            "{name}: {}",
            demo_here["reason"]
        );
        assert!(
            demo_here["error"].is_null(),
            "{name}: the demo bundle failed: {}",
            demo_here["error"]
        );
        // The t5-small-shaped bundle on this backend, no fallback: the native lists and scores
        // (WebGPU within 1e-3, the wasm CPU path within 1e-4).
        let big = &p["t5SmallBundle"];
        let want = &native["t5Small"];
        assert!(big["error"].is_null(), "{name}: the t5-small bundle failed: {}", big["error"]);
        assert_eq!(
            big["backend"],
            if name == "webgpu" { "webgpu" } else { "cpu" },
            "{name}: {}",
            big["reason"]
        );
        assert_eq!(ids(&big["next"]), ids(&want["next"]), "{name}: t5-small top-10");
        assert_eq!(ids(&big["next"]).len(), 10);
        let tol = if name == "webgpu" { 1e-3 } else { 1e-4 };
        assert_close(
            &format!("{name}: t5-small recommendNext scores"),
            &floats(&big["next"]),
            &floats(&want["next"]),
            tol,
        );
        assert_close(
            &format!("{name}: t5-small score"),
            &floats(&big["scores"]),
            &floats(&want["scores"]),
            tol,
        );
        eprintln!(
            "{name}: t5-small-shaped bundle: native top-10 and scores; load {:.1} s, \
             recommendNext(10) {:.1} s",
            big["loadSeconds"].as_f64().unwrap_or(f64::NAN),
            big["recommendSeconds"].as_f64().unwrap_or(f64::NAN)
        );
        // The forced self-check: NaN weights on `auto` fall back from WebGPU, saying why; the CPU
        // path then refuses to answer with a clear error, never an empty list.
        let nan = &p["nanBundle"];
        assert_eq!(nan["backend"], "cpu", "{name}: {nan}");
        if name == "webgpu" {
            assert!(
                nan["reason"].as_str().expect("reason").contains("self-check"),
                "{name}: {nan}"
            );
        }
        assert!(nan["error"].as_str().expect("an error").contains("non-finite"), "{name}: {nan}");
        // The download helper works inside a worker too (it used `document`).
        let queries_len =
            std::fs::metadata(fixtures.join("queries.json")).expect("queries.json").len();
        assert_eq!(
            p["workerFetch"]["bytes"].as_u64(),
            Some(queries_len),
            "{name}: fetchCached in a worker: {}",
            p["workerFetch"]
        );
        // Errors arrive as exceptions with a message.
        assert!(
            p["unknownError"].as_str().expect("error").contains("not in this bundle's catalogue"),
            "{}",
            p["unknownError"]
        );
        assert!(
            p["missingError"].as_str().expect("error").contains("404"),
            "{}",
            p["missingError"]
        );
        assert!(
            p["notBundleError"].as_str().expect("error").contains("not a GGUF file"),
            "{}",
            p["notBundleError"]
        );
        let panic = p["panicError"].as_str().expect("a panic rejects the call");
        assert!(panic.contains("deliberate panic for the worker-restart test"), "{panic}");
        let after = p["afterPanic"].as_f64().expect("the restarted worker answers");
        assert!(
            (after - floats(&native["scores"])[0]).abs() < 1e-4,
            "{name}: after the restart {after}"
        );
        // The production worker has no test operation (the panic lives in test-worker.js).
        assert_eq!(p["productionPanic"]["fatal"], false, "{}", p["productionPanic"]);
        assert!(
            p["productionPanic"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("unknown operation panicForTests")),
            "{}",
            p["productionPanic"]
        );
        if name == "webgpu" {
            // GPU traffic: one read-back per decoding step (a one-token-per-item bundle decodes
            // the item and </s>: two), one per yes/no score; the weights are uploaded at load
            // and a later call uploads only its inputs (run here: 4.4 MB at load, 6 KB after).
            let counts = &p["gpuCounts"];
            eprintln!("webgpu: GPU traffic {counts}");
            for call in ["first", "second"] {
                assert_eq!(counts[call]["readbacks"], 2, "recommendNext read-backs: {counts}");
            }
            assert_eq!(counts["score"]["readbacks"], 1, "{counts}");
            let uploaded = |c: &str| counts[c]["writeBytes"].as_f64().expect("writeBytes");
            assert!(uploaded("load") > 1e6, "the weights are uploaded at load: {counts}");
            assert!(
                uploaded("second") < 0.01 * uploaded("load"),
                "a second recommendNext uploads weights again: {counts}"
            );
            // A lost device: the pending call and the later ones answer on the CPU, as natively.
            let lost = &p["deviceLost"];
            assert!(lost["destroyed"].as_u64().is_some_and(|n| n >= 1), "{lost}");
            assert_eq!(lost["backend"], "cpu", "{lost}");
            assert!(
                lost["reason"].as_str().is_some_and(|r| r.contains("device was lost")),
                "{lost}"
            );
            for call in ["pending", "after"] {
                assert_eq!(ids(&lost[call]), ids(&native["next"]), "lost device, {call}: {lost}");
                assert_close(
                    &format!("lost device, {call}"),
                    &floats(&lost[call]),
                    &floats(&native["next"]),
                    1e-4,
                );
            }
            let score = lost["score"].as_f64().expect("score after the loss");
            assert!((score - floats(&native["scores"])[0]).abs() < 1e-4, "{lost}");
        }

        // The demo: DOM updates, no long main-thread task, a cached second visit, and requests
        // that do not depend on the history.
        let sessions = mode["sessions"].as_array().expect("sessions");
        assert_eq!(sessions.len(), 2);
        for (s, clicks) in sessions.iter().zip([3, 5]) {
            assert_eq!(
                s["error"].as_str().unwrap_or_default().trim(),
                "",
                "{name}: the page showed an error"
            );
            assert_eq!(
                s["history"].as_array().expect("history").len(),
                clicks,
                "{name}: one history row per click"
            );
            assert!(
                !s["recs"].as_array().expect("recs").is_empty(),
                "{name}: the recommendation list updated"
            );
            assert!(
                s["backendShown"]
                    .as_str()
                    .expect("backend")
                    .starts_with(p["backend"].as_str().expect("b"))
            );
            assert_eq!(
                s["cachedFlag"], "true",
                "{name}: the second visit loads from the Cache API"
            );
            for t in s["longTasks"].as_array().expect("long tasks") {
                assert!(t.as_f64().expect("ms") < 200.0, "{name}: a main-thread task of {t} ms");
            }
            for r in s["requests"].as_array().expect("requests") {
                let r = r.as_str().expect("request");
                assert!(
                    r.starts_with("GET /") || r.starts_with("HEAD /"),
                    "{name}: a request off this origin: {r}"
                );
            }
        }
        // Same requests (as a multiset: parallel downloads may interleave differently).
        let sorted = |s: &Value| {
            let mut v: Vec<String> =
                s["requests"].as_array().expect("requests").iter().map(|r| r.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(
            sorted(&sessions[0]),
            sorted(&sessions[1]),
            "{name}: the two histories made different requests"
        );
        assert_ne!(sessions[0]["history"], sessions[1]["history"]);
    }

    // WebGPU and the CPU agree on the shipped demo bundle: same top-10 lists, scores within 1e-3.
    let by_mode = |m: &str| {
        report["modes"]
            .as_array()
            .expect("modes")
            .iter()
            .find(|x| x["mode"] == m)
            .expect("mode")["parity"]["demoBundle"]
            .clone()
    };
    let (gpu, cpu_demo) = (by_mode("webgpu"), by_mode("cpu"));
    for (g, c) in gpu["lists"]
        .as_array()
        .expect("lists")
        .iter()
        .zip(cpu_demo["lists"].as_array().expect("lists"))
    {
        let keys = |v: &Value| {
            v.as_array()
                .expect("list")
                .iter()
                .map(|r| r["key"].as_str().expect("key").to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(g), keys(c), "webgpu vs cpu top-10 on the demo bundle");
        assert_eq!(keys(g).len(), 10);
        assert_close("webgpu vs cpu demo scores", &floats(g), &floats(c), 1e-3);
    }
    assert_eq!(gpu["lists"].as_array().map(Vec::len), Some(DEMO_HISTORIES.len()));
    eprintln!(
        "demo bundle on WebGPU (SwiftShader) and CPU: the same top-10 lists for {} histories",
        DEMO_HISTORIES.len()
    );

    // The bundled demo model personalises: two product lines, two different lists, each
    // following from its history.
    let cpu = report["modes"]
        .as_array()
        .expect("modes")
        .iter()
        .find(|m| m["mode"] == "cpu")
        .expect("a cpu mode");
    let demo = cpu["demo"].as_array().expect("the demo visitors ran");
    assert_eq!(demo.len(), 2);
    let after = bought_after();
    let lists: Vec<Vec<String>> = demo
        .iter()
        .map(|d| {
            assert_eq!(
                d["error"].as_str().unwrap_or_default().trim(),
                "",
                "the demo page showed an error"
            );
            d["recs"]
                .as_array()
                .expect("recs")
                .iter()
                .map(|k| k.as_str().expect("key").to_string())
                .collect()
        })
        .collect();
    for (keys, list) in DEMO_HISTORIES.iter().zip(&lists) {
        assert_eq!(list.len(), 10, "{keys:?}: {list:?}");
        let follows = list
            .iter()
            .filter(|r| keys.iter().any(|k| after.get(*k).is_some_and(|a| a.contains(*r))))
            .count();
        assert!(
            follows >= 1,
            "{keys:?}: none of {list:?} was bought after these items in the training data"
        );
        eprintln!(
            "demo visitor {keys:?}: {follows} of 10 recommendations were bought after these \
             items in training: {list:?}"
        );
    }
    let shared = lists[0].iter().filter(|k| lists[1].contains(k)).count();
    assert!(shared <= 2, "the two visitors share {shared} of 10 items: {lists:?}");
}

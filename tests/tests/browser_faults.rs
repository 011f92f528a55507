//! The library under faults in headless Chromium (CPU path): a bundle download cut or stalled
//! halfway, retried and resumed; one that fails every try, with a clear message and nothing
//! cached; a Cache API out of quota; the history across a reload and after a wipe (read back from
//! IndexedDB); and no request at all while histories of 1 and 20 items are used.
//!
//! Needs what `scripts/test.sh` provides: `dist/` (the site), `npm ci` and Debian's `chromium`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use vip5_tests::tiny_bundle;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

fn require(path: &Path, how: &str) {
    assert!(path.exists(), "{} is missing: {how}", path.display());
}

/// The server's log rows for `path`: (method, range, status, bytes sent, fault).
fn log_for<'a>(requests: &'a [Value], path: &str) -> Vec<&'a Value> {
    requests.iter().filter(|r| r["path"] == path).collect()
}

fn gets<'a>(requests: &'a [Value], path: &str) -> Vec<&'a Value> {
    log_for(requests, path).into_iter().filter(|r| r["method"] == "GET").collect()
}

fn statuses(events: &Value) -> Vec<String> {
    events
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["status"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn downloads_cut_or_stalled_halfway_resume_and_nothing_partial_is_kept() {
    let root = repo_root();
    let dist = root.join("dist");
    require(&dist.join("vip5.js"), "build the site (`bash scripts/build_site.sh`)");
    require(&root.join("node_modules/playwright-core"), "run `npm ci` (scripts/test.sh does)");
    require(Path::new("/usr/bin/chromium"), "install Debian's chromium (scripts/test.sh does)");

    let dir = std::env::temp_dir().join(format!("vip5-faults-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let bundle = tiny_bundle(30, 11);
    std::fs::write(dir.join("bundle.gguf"), &bundle).expect("write");
    for page in ["faults.html", "faults.js"] {
        std::fs::copy(root.join("tests/browser").join(page), dir.join(page)).expect("copy page");
    }
    // A Hugging Face CLIP layout: a vision tensor, a text tensor the page must not fetch, and
    // the config.json beside it.
    let vision = vec![7u8; 64 * 4];
    let text = vec![0u8; 1024 * 4];
    let views = vec![
        (
            "vision_model.embeddings.class_embedding",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![64], &vision)
                .expect("view"),
        ),
        (
            "text_model.embeddings.token_embedding.weight",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1024], &text)
                .expect("view"),
        ),
    ];
    std::fs::create_dir_all(dir.join("clip")).expect("mkdir");
    std::fs::write(
        dir.join("clip/model.safetensors"),
        safetensors::serialize(views, None).expect("serialize"),
    )
    .expect("write");
    std::fs::write(dir.join("clip/config.json"), r#"{"vision_config":{"patch_size":16}}"#)
        .expect("write");
    let keys: Vec<String> = (1..=20).map(|i| format!("SKU{i:03}")).collect();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-faults");
    let status = Command::new("node")
        .current_dir(&root)
        .arg("tests/browser/faults.mjs")
        .arg("--dist")
        .arg(&dist)
        .arg("--fixtures")
        .arg(&dir)
        .arg("--out")
        .arg(&out)
        .arg("--keys")
        .arg(serde_json::to_string(&keys).expect("json"))
        .status()
        .expect("run node (is Node.js installed?)");
    assert!(status.success(), "the fault runner failed");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("faults.json")).expect("faults.json"),
    )
    .expect("json");
    eprintln!("fault report: {}", out.join("faults.json").display());
    assert!(report["failure"].is_null(), "the run failed: {}", report["failure"]);
    let requests = report["requests"].as_array().expect("requests").clone();
    let d = &report["downloads"];
    let n = bundle.len() as u64;
    let half = n / 2;

    // Cut once: one retry event, the second GET a Range request from where the first stopped,
    // answered 206; the whole file cached once.
    let cut = &d["cutOnce"];
    assert_eq!(cut["ok"], true, "cut once: {cut}");
    assert_eq!(cut["bundleBytes"].as_u64(), Some(n));
    assert_eq!(cut["cachedAfter"], serde_json::json!([n]), "the cache holds the whole file once");
    let retries: Vec<&Value> = cut["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["status"] == "retry")
        .collect();
    assert_eq!(retries.len(), 1, "one retry: {:?}", statuses(&cut["events"]));
    let kept = retries[0]["loaded"].as_u64().expect("loaded");
    assert!(kept > 0 && kept <= half, "kept {kept} of the {half} bytes sent before the cut");
    let g = gets(&requests, "/cut-once/bundle.gguf");
    assert_eq!(g.len(), 2, "{g:?}");
    assert_eq!(g[0]["fault"], "cut");
    assert_eq!(g[1]["range"], format!("bytes={kept}-"), "resumed where it stopped");
    assert_eq!(g[1]["ifRange"], format!("\"bundle-{n}\""), "only for the same version");
    assert_eq!(g[1]["status"], 206);

    // Stalled once: aborted after 1 s without data, then resumed the same way.
    let stall = &d["stallOnce"];
    assert_eq!(stall["ok"], true, "stall once: {stall}");
    assert_eq!(stall["cachedAfter"], serde_json::json!([n]));
    let reasons: Vec<&str> = stall["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["status"] == "retry")
        .map(|e| e["reason"].as_str().expect("reason"))
        .collect();
    assert_eq!(reasons, ["no data for 1 s"], "{stall}");
    let g = gets(&requests, "/stall-once/bundle.gguf");
    assert_eq!(g.len(), 2, "{g:?}");
    assert_eq!(g[1]["status"], 206);

    // Cut on every try: a clear error, nothing cached; the next load starts again and succeeds.
    let thrice = &d["cutThrice"];
    assert_eq!(thrice["ok"], false, "{thrice}");
    assert_eq!(thrice["name"], "Vip5Error");
    let msg = thrice["error"].as_str().expect("message");
    assert!(
        msg.contains("/cut-3/bundle.gguf: download failed after 3 attempts")
            && msg.contains("Nothing was cached"),
        "{msg}"
    );
    assert_eq!(thrice["cachedAfter"], serde_json::json!([]), "no partial file in the cache");
    let again = &d["cutThriceAgain"];
    assert_eq!(again["ok"], true, "{again}");
    assert_eq!(again["cachedAfter"], serde_json::json!([n]));
    let g = gets(&requests, "/cut-3/bundle.gguf");
    assert_eq!(g.len(), 4, "three cut tries, then the new load's one: {g:?}");
    assert!(g[3]["range"].is_null(), "a new load starts from the beginning: {}", g[3]);
    assert_eq!(again["next"], cut["next"], "the same bytes answer the same");

    // A server without Range: the retry restarts from byte 0 and the file is whole.
    let plain = &d["noRange"];
    assert_eq!(plain["ok"], true, "{plain}");
    assert_eq!(plain["cachedAfter"], serde_json::json!([n]));
    let retry = plain["events"].as_array().expect("events").iter().find(|e| e["status"] == "retry");
    assert!(retry.is_some(), "{plain}");
    let g = gets(&requests, "/cut-once-no-range/bundle.gguf");
    assert_eq!(g.len(), 2, "{g:?}");
    assert_eq!(g[1]["status"], 200, "the whole file again");
    assert_eq!(plain["next"], cut["next"]);

    // Bad options: a clear error.
    let bad = &d["badOptions"];
    assert_eq!(bad["ok"], false);
    assert!(
        bad["error"]
            .as_str()
            .expect("message")
            .contains("download.attempts must be a whole number"),
        "{bad}"
    );

    // Out of quota: the page loads and answers, the cache holds nothing, a warning says why.
    let quota = &d["quota"];
    assert_eq!(quota["ok"], true, "{quota}");
    assert_eq!(quota["cachedAfter"], serde_json::json!([]));
    assert_eq!(quota["next"], cut["next"]);
    let console: Vec<&str> =
        report["console"].as_array().expect("console").iter().filter_map(Value::as_str).collect();
    assert!(
        console.iter().any(|l| l
            .starts_with("warning: vip5: could not cache /quota/bundle.gguf (QuotaExceededError")),
        "{console:?}"
    );

    // The history survives a reload; the wipe empties IndexedDB itself.
    assert_eq!(report["recorded"]["history"], serde_json::json!(keys[..3]));
    let reload = &report["afterReload"];
    assert_eq!(reload["before"], serde_json::json!(keys[..3]), "{reload}");
    assert_eq!(reload["storedBefore"], serde_json::json!(keys[..3]));
    assert_eq!(reload["after"], serde_json::json!([]));
    assert_eq!(reload["storedAfter"], serde_json::json!([]), "IndexedDB read back after the wipe");

    // No request while histories of 1 and 20 items are recorded and used: the network sees
    // nothing of the history, not even when it is used.
    assert_eq!(report["historyRequests"]["short"], serde_json::json!([]));
    assert_eq!(report["historyRequests"]["long"], serde_json::json!([]));
    assert_ne!(report["short"]["next"], report["long"]["next"], "the histories were really used");

    // Offline, a second time: the bundle and the Range-read CLIP (with its config) come from the
    // Cache API, and nothing reaches the server.
    let online = &report["online"];
    assert!(online["error"].is_null(), "{online}");
    assert_eq!(online["clipCached"], false, "the first CLIP read is from the network");
    let offline = &report["offline"];
    assert!(offline["error"].is_null(), "offline: {offline}");
    assert_eq!(offline["bundleCached"], true, "{offline}");
    assert_eq!(offline["clipCached"], true, "{offline}");
    assert_eq!(offline["bundleBytes"].as_u64(), Some(n));
    assert_eq!(offline["clipBytes"], online["clipBytes"]);
    assert_eq!(offline["clipConfig"], r#"{"vision_config":{"patch_size":16}}"#);
    assert_eq!(report["offlineRequests"], serde_json::json!([]), "nothing reached the server");
    let clip_file = std::fs::metadata(dir.join("clip/model.safetensors")).expect("clip").len();
    let clip_bytes = online["clipBytes"].as_u64().expect("clip bytes");
    assert!(
        clip_bytes > 256 && clip_bytes < clip_file - 4096,
        "only the vision tensor (and a header) kept: {clip_bytes} of {clip_file} bytes"
    );
}

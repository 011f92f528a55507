//! A shop's own page in a real browser, built only from `trainer site` output (not the demo):
//! a bundle of the shop's catalogue, the library from the site build's `dist/`, the example page.
//! Headless Chromium (CPU path) loads it, a visitor clicks three products, gets recommendations
//! that exclude them, forgets the history (IndexedDB is read back empty), and the page asked
//! for nothing but the site's own static files. Needs dist/ (scripts/build_site.sh), `npm ci`
//! and Debian's chromium, as the library's browser test does.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{prepared, temp_dir, trainer};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("trainer/ has a parent").to_path_buf()
}

#[test]
fn a_page_built_by_trainer_site_recommends_in_headless_chromium() {
    let root = repo_root();
    for (path, how) in [
        (root.join("dist/vip5-web_bg.wasm"), "build the site (`bash scripts/build_site.sh`)"),
        (root.join("node_modules/playwright-core"), "run `npm ci` (scripts/test.sh does)"),
        (PathBuf::from("/usr/bin/chromium"), "install Debian's chromium (scripts/setup.sh does)"),
    ] {
        assert!(path.exists(), "{} is missing: {how}", path.display());
    }
    let dir = temp_dir("site-browser");
    let data = prepared(&dir);
    let bundle = dir.join("shop-q8_0.gguf");
    let (ok, _, err) = trainer(&[
        "export",
        "--random-preset",
        "tiny",
        "--data",
        data.to_str().unwrap(),
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let public = dir.join("public");
    let (ok, _, err) = trainer(&[
        "site",
        "--bundle",
        bundle.to_str().unwrap(),
        "--dist",
        root.join("dist").to_str().unwrap(),
        "--out",
        public.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");

    let report_dir = dir.join("report");
    let status = Command::new("node")
        .current_dir(&root)
        .args(["tests/browser/site.mjs", "--clicks", "3", "--site"])
        .arg(&public)
        .arg("--out")
        .arg(&report_dir)
        .status()
        .expect("run node (is Node.js installed?)");
    assert!(status.success(), "the site runner failed");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("site.json")).unwrap())
            .unwrap();
    assert!(report.get("failure").is_none(), "{}", report["failure"]);
    let errors = report["errors"].as_array().unwrap();
    assert!(errors.is_empty(), "the page logged errors: {errors:?}");
    let status_line = report["status"].as_str().unwrap();
    assert!(status_line.starts_with("Ready on cpu"), "{status_line}");

    let clicked: Vec<&str> =
        report["clicked"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    let recs: Vec<&str> =
        report["recommendations"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(clicked.len(), 3);
    assert_eq!(recs.len(), 10, "{recs:?}");
    let distinct: std::collections::BTreeSet<&str> = recs.iter().copied().collect();
    assert_eq!(distinct.len(), 10, "ten different products: {recs:?}");
    for c in &clicked {
        assert!(!recs.contains(c), "a product in the history was recommended: {c} in {recs:?}");
    }
    assert_eq!(report["afterForget"], 0, "the history is gone from IndexedDB after 'forget'");

    // Only the site's own static files, and the bundle among them.
    let origin = report["origin"].as_str().unwrap();
    let requests = report["requests"].as_array().unwrap();
    for r in requests {
        let (method, url) = (r["method"].as_str().unwrap(), r["url"].as_str().unwrap());
        assert!(matches!(method, "GET" | "HEAD") && url.starts_with(origin), "{method} {url}");
    }
    assert!(requests.iter().any(|r| r["url"].as_str().unwrap().ends_with("/shop-q8_0.gguf")));
    let _ = std::fs::remove_dir_all(&dir);
}

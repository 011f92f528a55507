//! `trainer site`: the library from a site build, a bundle, an example page and the hosts'
//! headers in one folder; every input checked before anything is written.

use std::path::Path;

mod common;
use common::{temp_dir, trainer};

const LIBRARY: [&str; 5] =
    ["vip5.js", "vip5.d.ts", "vip5-worker.js", "vip5-web.js", "vip5-web_bg.wasm"];
const MODULES: [&str; 2] = ["lib/cache.js", "lib/errors.js"];

#[test]
fn site_copies_the_library_and_bundle_and_checks_its_inputs() {
    let dir = temp_dir("site");
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    for (i, name) in LIBRARY.iter().enumerate() {
        std::fs::write(dist.join(name), format!("library file {i}: {name}")).unwrap();
    }
    // The facade's modules (dist/lib/*.js): all copied, anything else there left out.
    std::fs::create_dir_all(dist.join("lib")).unwrap();
    for name in MODULES {
        std::fs::write(dist.join(name), format!("library module {name}")).unwrap();
    }
    std::fs::write(dist.join("lib/notes.txt"), "not a module").unwrap();
    let bundle = dir.join("shop-q8_0.gguf");
    let (ok, _, err) = trainer(&[
        "export",
        "--random-preset",
        "tiny",
        "--quant",
        "f32",
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let out = dir.join("public");
    // `trainer site` with this dist/, a bundle, an output folder and further flags
    let site_with = |bundle: &Path, out: &Path, extra: &[&str]| {
        let mut args = vec![
            "site",
            "--bundle",
            bundle.to_str().unwrap(),
            "--dist",
            dist.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        trainer(&args)
    };
    let site = |extra: &[&str]| site_with(&bundle, &out, extra);

    let (ok, stdout, err) = site(&["--json"]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["bundle"], "shop-q8_0.gguf");
    for name in LIBRARY.iter().chain(&MODULES) {
        assert_eq!(std::fs::read(out.join(name)).unwrap(), std::fs::read(dist.join(name)).unwrap());
    }
    assert!(!out.join("lib/notes.txt").exists());
    assert_eq!(std::fs::read(out.join("shop-q8_0.gguf")).unwrap(), std::fs::read(&bundle).unwrap());
    let script = std::fs::read_to_string(out.join("example.js")).unwrap();
    assert!(script.contains("bundle: 'shop-q8_0.gguf'") && script.contains("from './vip5.js'"));
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(page.contains(r#"src="example.js""#) && page.contains("Content-Security-Policy"));
    let headers = std::fs::read_to_string(out.join("_headers")).unwrap();
    assert!(headers.contains("/*.wasm\n  Content-Type: application/wasm"), "{headers}");
    assert!(
        headers.contains(
            "/*.gguf\n  Content-Type: application/octet-stream\n  Cache-Control: no-cache"
        )
    );
    assert!(std::fs::read_to_string(out.join("HOSTING.md")).unwrap().contains("application/wasm"));
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), LIBRARY.len() + MODULES.len() + 1 + 4, "{files:?}");
    // no staging folder is left beside it
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // an existing site is kept unless --force
    std::fs::write(out.join("mine.txt"), "the shop's own file").unwrap();
    let (ok, _, err) = site(&[]);
    assert!(!ok && err.contains("already holds files") && err.contains("--force"), "{err}");
    assert!(out.join("mine.txt").exists());
    let (ok, _, err) = site(&["--force"]);
    assert!(ok, "{err}");
    assert!(!out.join("mine.txt").exists() && out.join("vip5.js").exists());

    // a missing library file names the file and the build step; nothing is written
    let fresh = dir.join("fresh");
    std::fs::remove_file(dist.join("vip5-web_bg.wasm")).unwrap();
    let (ok, _, err) = site_with(&bundle, &fresh, &[]);
    assert!(
        !ok && err.contains("vip5-web_bg.wasm is missing") && err.contains("build_site.sh"),
        "{err}"
    );
    assert!(!fresh.exists());
    std::fs::write(dist.join("vip5-web_bg.wasm"), "wasm").unwrap();
    // so does a missing lib/ (the facade's modules)
    std::fs::rename(dist.join("lib"), dir.join("lib-aside")).unwrap();
    let (ok, _, err) = site_with(&bundle, &fresh, &[]);
    assert!(!ok && err.contains("lib is missing") && err.contains("build_site.sh"), "{err}");
    assert!(!fresh.exists());
    std::fs::rename(dir.join("lib-aside"), dist.join("lib")).unwrap();

    // a file that is not a bundle, and a model bundle given as CLIP
    let not_bundle = dir.join("notes.gguf");
    std::fs::write(&not_bundle, "not a bundle").unwrap();
    let (ok, _, err) = site_with(&not_bundle, &fresh, &[]);
    assert!(
        !ok && err.contains("notes.gguf") && err.contains("not a readable VIP5 bundle"),
        "{err}"
    );
    let (ok, _, err) = site_with(&bundle, &fresh, &["--clip", bundle.to_str().unwrap()]);
    assert!(!ok && err.contains("is a model bundle, not a clip-vision bundle"), "{err}");
    assert!(!fresh.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

//! `www/vip5.d.ts`, the TypeScript declarations of the hand-written facade `www/vip5.js`: they
//! type-check a page written against the README's API (tests/typescript/use.ts, with
//! `@ts-expect-error` lines that must stay errors), and they declare every export of vip5.js and
//! every public method of its `Recommender`, so the two cannot drift apart.
//!
//! Needs `npm ci` (typescript, pinned in package-lock.json; scripts/test.sh runs it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The identifier that starts `s` (letters, digits, `_`, `$`).
fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).unwrap_or(s.len());
    &s[..end]
}

/// Names after `export class|function|async function|const|interface|type` at the start of a
/// line, and the names an `export { a, b as c }` list there exports (with or without `from`; the
/// facade re-exports what lib/ defines that way), which must fit on that line.
fn exports(source: &str) -> BTreeSet<String> {
    source
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .flat_map(|l| match l.strip_prefix('{') {
            Some(list) => {
                let (names, _) = list
                    .split_once('}')
                    .unwrap_or_else(|| panic!("keep `export {{ ... }}` on one line: export {l}"));
                names
                    .split(',')
                    .map(|n| n.trim().rsplit(" as ").next().unwrap_or_default().trim())
                    .filter(|n| !n.is_empty())
                    .map(|n| ident(n).to_string())
                    .collect::<Vec<_>>()
            }
            None => {
                let l = l.trim_start_matches("declare ").trim_start_matches("async ");
                ["class ", "function ", "const ", "interface ", "type "]
                    .iter()
                    .find_map(|kw| l.strip_prefix(kw))
                    .map(|rest| vec![ident(rest).to_string()])
                    .unwrap_or_default()
            }
        })
        .collect()
}

/// The methods of `class Recommender` (two-space indented members, not `constructor`, not
/// lower-level helpers the JS marks private by convention: none today).
fn recommender_methods(source: &str) -> BTreeSet<String> {
    let start = source.find("class Recommender").expect("a Recommender class");
    let body = &source[start..];
    let end = body.find("\n}").unwrap_or(body.len());
    body[..end]
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| !l.starts_with(' ') && !l.starts_with('*') && !l.starts_with('/'))
        .map(|l| l.trim_start_matches("static ").trim_start_matches("async "))
        .map(ident)
        .filter(|name| !name.is_empty() && *name != "constructor")
        .map(str::to_string)
        .collect()
}

#[test]
fn the_declarations_cover_vip5_js_and_type_check_a_page() {
    let root = repo_root();
    let js = read(&root.join("www/vip5.js"));
    let dts = read(&root.join("www/vip5.d.ts"));

    let js_exports = exports(&js);
    assert!(
        js_exports.contains("Recommender") && js_exports.contains("Vip5Error"),
        "{js_exports:?}"
    );
    let dts_exports = exports(&dts);
    let missing: Vec<_> = js_exports.difference(&dts_exports).collect();
    assert!(missing.is_empty(), "vip5.js exports {missing:?}, which vip5.d.ts does not declare");

    let js_methods = recommender_methods(&js);
    assert!(js_methods.contains("recommendNext") && js_methods.contains("load"), "{js_methods:?}");
    // init and call are the facade's own plumbing, not API
    let api: BTreeSet<String> =
        js_methods.into_iter().filter(|m| m != "init" && m != "call").collect();
    let dts_methods = recommender_methods(&dts);
    let undeclared: Vec<_> = api.difference(&dts_methods).collect();
    assert!(undeclared.is_empty(), "Recommender methods without a declaration: {undeclared:?}");
    let stale: Vec<_> = dts_methods.iter().filter(|m| !api.contains(*m) && *m != "info").collect();
    assert!(stale.is_empty(), "declared but not in vip5.js: {stale:?}");

    let tsc = root.join("node_modules/.bin/tsc");
    assert!(tsc.exists(), "{} is missing: run `npm ci` (scripts/test.sh does)", tsc.display());
    let out = Command::new(&tsc)
        .current_dir(&root)
        .args(["--noEmit", "--strict", "--target", "es2022", "--module", "es2022"])
        .args(["--moduleResolution", "bundler", "--lib", "es2022,dom"])
        .arg("tests/typescript/use.ts")
        .output()
        .expect("running tsc");
    assert!(
        out.status.success(),
        "tsc found errors:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The library as a package: `npm pack` in the site build's `dist/` (its package.json lists the
/// library's files only), the tarball installed into a page's own folder offline, and a
/// TypeScript page there that imports `vip5` by name type-checks through the package's `types`.
#[test]
fn the_library_packs_and_installs_as_a_typed_module() {
    let root = repo_root();
    let dist = root.join("dist");
    for f in ["package.json", "vip5-web_bg.wasm"] {
        assert!(
            dist.join(f).exists(),
            "{} is missing: build the site (`bash scripts/build_site.sh`; scripts/test.sh does)",
            dist.join(f).display()
        );
    }
    let tsc = root.join("node_modules/.bin/tsc");
    assert!(tsc.exists(), "{} is missing: run `npm ci` (scripts/test.sh does)", tsc.display());
    let dir = std::env::temp_dir().join(format!("vip5-pack-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let page = dir.join("page");
    std::fs::create_dir_all(&page).expect("mkdir");
    let run = |cmd: &mut Command| {
        let out = cmd.output().expect("running a tool (is Node.js installed?)");
        assert!(
            out.status.success(),
            "{cmd:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    let packed = run(Command::new("npm")
        .current_dir(&dist)
        .args(["pack", "--json", "--pack-destination"])
        .arg(&dir));
    let packed: serde_json::Value = serde_json::from_str(&packed).expect("npm pack --json");
    let files: BTreeSet<String> = packed[0]["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path").to_string())
        .collect();
    let mut want: BTreeSet<String> = [
        "package.json",
        "vip5.js",
        "vip5.d.ts",
        "vip5-worker.js",
        "vip5-web.js",
        "vip5-web.d.ts",
        "vip5-web_bg.wasm",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    // The modules vip5.js imports: every www/lib/*.js (the source, so a missing copy fails).
    for entry in std::fs::read_dir(root.join("www/lib")).expect("reading www/lib") {
        let name = entry.expect("reading www/lib").file_name().to_string_lossy().into_owned();
        if name.ends_with(".js") {
            want.insert(format!("lib/{name}"));
        }
    }
    assert_eq!(files, want, "the tarball holds the library and nothing of the demo site");
    let tarball = dir.join(packed[0]["filename"].as_str().expect("filename"));

    std::fs::write(page.join("package.json"), r#"{ "name": "a-shop", "private": true }"#)
        .expect("write");
    run(Command::new("npm")
        .current_dir(&page)
        .args(["install", "--offline", "--no-audit", "--no-fund"])
        .arg(&tarball));
    for f in &want {
        assert!(page.join("node_modules/vip5").join(f).is_file(), "installed package lacks {f}");
    }
    std::fs::write(
        page.join("shop.ts"),
        "import { Recommender, type ScoredItem } from 'vip5';\n\
         export async function next(): Promise<ScoredItem[]> {\n\
           const rec = await Recommender.load({ bundle: 'model-q8_0.gguf' });\n\
           return rec.recommendNext(10);\n\
         }\n\
         // @ts-expect-error: the package's types are the facade's\n\
         Recommender.load({ bundle: 1 });\n",
    )
    .expect("write");
    run(Command::new(&tsc)
        .current_dir(&page)
        .args(["--noEmit", "--strict", "--target", "es2022", "--module", "es2022"])
        .args(["--moduleResolution", "bundler", "--lib", "es2022,dom"])
        .arg("shop.ts"));
    let _ = std::fs::remove_dir_all(&dir);
}

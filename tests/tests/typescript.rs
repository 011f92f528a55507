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

/// Names after `export class|function|async function|const` at the start of a line.
fn exports(source: &str) -> BTreeSet<String> {
    source
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .map(|l| l.trim_start_matches("declare ").trim_start_matches("async "))
        .filter_map(|l| {
            ["class ", "function ", "const ", "interface ", "type "]
                .iter()
                .find_map(|kw| l.strip_prefix(kw))
                .map(|rest| ident(rest).to_string())
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

//! `trainer site`: a folder any static host can serve, for a shop's own site: the library the
//! site build made (`dist/`), the shop's bundle (and CLIP's), a minimal example page, and the
//! headers a host needs. It copies; it never rebuilds the wasm.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;
use vip5::bundle::Bundle;

use crate::common::files::write_new;

#[derive(Args)]
pub struct SiteArgs {
    /// The model bundle (`trainer export`).
    #[arg(long)]
    bundle: PathBuf,
    /// A CLIP vision bundle (`trainer export-clip`), for photos.
    #[arg(long)]
    clip: Option<PathBuf>,
    /// The site build's output, where the library files are (`bash scripts/build_site.sh`).
    #[arg(long, default_value = "dist")]
    dist: PathBuf,
    /// The folder to write; it must not exist yet, or be empty (see `--force`).
    #[arg(long)]
    out: PathBuf,
    /// Replace `--out` if it exists and holds files.
    #[arg(long)]
    force: bool,
    #[arg(long)]
    json: bool,
}

/// The library's files in `dist/`: the facade, its declarations, the worker and the wasm module
/// (and the facade's modules, `LIBRARY_MODULES`).
const LIBRARY: [&str; 5] =
    ["vip5.js", "vip5.d.ts", "vip5-worker.js", "vip5-web.js", "vip5-web_bg.wasm"];
/// Copied when the build made them (trunk's declarations of the wasm module).
const LIBRARY_OPTIONAL: [&str; 1] = ["vip5-web.d.ts"];
/// The folder in `dist/` of the modules the facade imports (`lib/*.js`): all of them are copied.
const LIBRARY_MODULES: &str = "lib";

#[derive(Serialize)]
struct SiteFile {
    name: String,
    bytes: u64,
}

pub fn run(args: SiteArgs) -> Result<()> {
    // Everything is checked before anything is written.
    let bundle_name = checked_bundle(&args.bundle, "model")?;
    let clip_name = match &args.clip {
        Some(p) => Some(checked_bundle(p, "clip-vision")?),
        None => None,
    };
    if clip_name.as_deref() == Some(bundle_name.as_str()) {
        bail!("--bundle and --clip have the same file name `{bundle_name}`: rename one");
    }
    for name in LIBRARY {
        let path = args.dist.join(name);
        if !path.is_file() {
            bail!(
                "{} is missing: build the library first (`bash scripts/build_site.sh`), or point \
                 --dist at its output",
                path.display()
            );
        }
    }
    let modules = library_modules(&args.dist)?;
    if args.out.exists() {
        let holds_files = std::fs::read_dir(&args.out)
            .with_context(|| format!("reading {}", args.out.display()))?
            .next()
            .is_some();
        if holds_files && !args.force {
            bail!(
                "{} already holds files: choose another --out, or add --force to replace it",
                args.out.display()
            );
        }
    }

    // Assembled beside --out and renamed into place, so a failure leaves no half-written site.
    let parent = args.out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let leaf = args.out.file_name().context("--out needs a folder name")?.to_string_lossy();
    let staging = parent.join(format!(".{leaf}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let written = assemble(&args, &staging, &modules, &bundle_name, clip_name.as_deref());
    let written = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if args.out.exists() {
        std::fs::remove_dir_all(&args.out)
            .with_context(|| format!("replacing {}", args.out.display()))?;
    }
    std::fs::rename(&staging, &args.out)
        .with_context(|| format!("renaming {} to {}", staging.display(), args.out.display()))?;

    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "out": args.out,
                "bundle": bundle_name,
                "clip": clip_name,
                "files": written,
            }))?
        );
    } else {
        let total: u64 = written.iter().map(|f| f.bytes).sum();
        println!("wrote {} ({} files, {} bytes):", args.out.display(), written.len(), total);
        for f in &written {
            println!("  {:<24} {:>12}", f.name, f.bytes);
        }
        println!(
            "serve it with any static host (HOSTING.md: the .wasm MIME type and cache headers; \
             _headers for Netlify and Cloudflare Pages)"
        );
    }
    Ok(())
}

/// Reads `path` as a bundle of `kind`; returns its file name.
fn checked_bundle(path: &Path, kind: &str) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let bundle =
        Bundle::from_bytes(&bytes).with_context(|| format!("checking {}", path.display()))?;
    let summary = bundle.describe();
    if summary.kind != kind {
        bail!("{} is a {} bundle, not a {kind} bundle", path.display(), summary.kind);
    }
    if kind == "model" {
        bundle.config().with_context(|| format!("checking {}", path.display()))?;
        bundle.catalog().with_context(|| format!("checking {}", path.display()))?;
    }
    let name = path.file_name().context("a bundle path needs a file name")?.to_string_lossy();
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        bail!("{}: use a file name of letters, digits, `.`, `_` and `-` (it becomes a URL)", name);
    }
    Ok(name.into_owned())
}

/// The facade's modules in `dist/lib/`, as paths in the site (`lib/<name>.js`, sorted).
fn library_modules(dist: &Path) -> Result<Vec<String>> {
    let dir = dist.join(LIBRARY_MODULES);
    let build = "build the library first (`bash scripts/build_site.sh`), or point --dist at \
                 its output";
    if !dir.is_dir() {
        bail!("{} is missing: {build}", dir.display());
    }
    let mut modules = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".js") && entry.path().is_file() {
            modules.push(format!("{LIBRARY_MODULES}/{name}"));
        }
    }
    if modules.is_empty() {
        bail!("{} holds no .js module: {build}", dir.display());
    }
    modules.sort();
    Ok(modules)
}

fn assemble(
    args: &SiteArgs,
    dir: &Path,
    modules: &[String],
    bundle: &str,
    clip: Option<&str>,
) -> Result<Vec<SiteFile>> {
    let modules_dir = dir.join(LIBRARY_MODULES);
    std::fs::create_dir_all(&modules_dir)
        .with_context(|| format!("creating {}", modules_dir.display()))?;
    let mut written = Vec::new();
    let mut copy = |from: &Path, name: &str| -> Result<()> {
        let to = dir.join(name);
        let bytes = std::fs::copy(from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        written.push(SiteFile { name: name.to_string(), bytes });
        Ok(())
    };
    for name in LIBRARY {
        copy(&args.dist.join(name), name)?;
    }
    for name in modules {
        copy(&args.dist.join(name), name)?;
    }
    for name in LIBRARY_OPTIONAL {
        let path = args.dist.join(name);
        if path.is_file() {
            copy(&path, name)?;
        }
    }
    copy(&args.bundle, bundle)?;
    if let (Some(path), Some(name)) = (&args.clip, clip) {
        copy(path, name)?;
    }
    for (name, text) in [
        ("index.html", example_page()),
        ("example.js", example_script(bundle, clip)),
        ("_headers", headers()),
        ("HOSTING.md", hosting_notes(bundle)),
    ] {
        write_new(&dir.join(name), text.as_bytes())?;
        written.push(SiteFile { name: name.to_string(), bytes: text.len() as u64 });
    }
    Ok(written)
}

/// The Content-Security-Policy of the example: this site's own files only.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; \
                   connect-src 'self'; img-src 'self' blob: data:; style-src 'self'";

fn example_page() -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta http-equiv="Content-Security-Policy" content="{CSP}">
  <!-- No favicon request (a missing one is a 404 in the console). -->
  <link rel="icon" href="data:,">
  <title>Recommendations on this device</title>
</head>
<body>
  <h1>Recommendations on this device</h1>
  <p id="status">Loading the model...</p>
  <h2>Products</h2>
  <ul id="products"></ul>
  <h2>For you</h2>
  <ol id="recommendations"></ol>
  <button id="forget" type="button">Forget my history</button>
  <script type="module" src="example.js"></script>
</body>
</html>
"#
    )
}

fn example_script(bundle: &str, clip: Option<&str>) -> String {
    let clip = clip.map(|c| format!("\n  clip: '{c}',")).unwrap_or_default();
    format!(
        r#"// The smallest page over vip5.js: click products to record them, see what comes next.
// The history stays in this browser (IndexedDB); no request depends on it.
import {{ Recommender }} from './vip5.js';

const status = document.getElementById('status');
const rec = await Recommender.load({{
  bundle: '{bundle}',{clip}
  onProgress: p => {{
    if (p.status === 'progress') status.textContent = `${{p.name}}: ${{p.loaded}} of ${{p.total || '?'}} bytes`;
  }},
}});
status.textContent = `Ready on ${{rec.backend()}} (${{rec.backendReason()}})`;

async function show() {{
  const list = document.getElementById('recommendations');
  list.replaceChildren();
  if ((await rec.history()).length === 0) return;
  for (const item of await rec.recommendNext(10)) {{
    const li = document.createElement('li');
    li.textContent = item.title || item.key;
    list.append(li);
  }}
}}

const products = document.getElementById('products');
for (const item of rec.catalog().slice(0, 30)) {{
  const li = document.createElement('li');
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = item.title || item.key;
  button.addEventListener('click', async () => {{ await rec.record(item.key); await show(); }});
  li.append(button);
  products.append(li);
}}
document.getElementById('forget').addEventListener('click', async () => {{
  await rec.clearHistory();
  await show();
}});
await show();
"#
    )
}

/// Netlify's and Cloudflare Pages' `_headers`: the wasm's MIME type, and revalidation of every
/// library file and bundle, since vip5.js keys its own Cache API copy by the file's ETag.
fn headers() -> String {
    format!(
        "/*\n  Content-Security-Policy: {CSP}\n  X-Content-Type-Options: nosniff\n\n\
         /*.wasm\n  Content-Type: application/wasm\n  Cache-Control: no-cache\n\n\
         /*.js\n  Cache-Control: no-cache\n\n\
         /*.gguf\n  Content-Type: application/octet-stream\n  Cache-Control: no-cache\n"
    )
}

fn hosting_notes(bundle: &str) -> String {
    format!(
        "# Hosting this folder\n\n\
         Any static host serves it as it is; two things matter:\n\n\
         1. `vip5-web_bg.wasm` must be served as \
         `application/wasm` (browsers refuse to stream-compile\n   \
         it otherwise).\n\
         2. `{bundle}` and the library files should be \
         revalidated on each visit (`Cache-Control:\n   \
         no-cache`, with the ETag or Last-Modified the host \
         sends anyway): vip5.js keeps its own copy\n   \
         of a bundle in the Cache API under the file's ETag, \
         so a visitor downloads a bundle once per\n   \
         version, and a new bundle at the same URL is picked up on the next visit.\n\n\
         - Netlify, Cloudflare Pages: `_headers` here does both.\n\
         - GitHub Pages: serves `.wasm` as `application/wasm` \
         already; custom headers are not possible\n  \
         (its default cache lifetime is 10 minutes, so a new bundle shows up within that).\n\
         - nginx: `types {{ application/wasm wasm; }}` and \
         `add_header Cache-Control no-cache;` in the\n  \
         location of this folder.\n\
         - Apache: `AddType application/wasm .wasm` and \
         `Header set Cache-Control no-cache` (.htaccess).\n\
         - S3 / object storage: set `Content-Type: application/wasm` on the .wasm object and\n  \
         `Cache-Control: no-cache` on the bundle and library objects when uploading.\n\n\
         The page's Content-Security-Policy allows only this \
         site's own files. If the CLIP weights\n\
         come from another origin, add exactly that origin to `connect-src`.\n"
    )
}

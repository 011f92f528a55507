//! The wasm-bindgen API (wasm32 only).

use std::cell::RefCell;

use burn::tensor::Device;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use vip5::bundle::Bundle;
use vip5::clip::{ClipVision, ClipVisionConfig, RgbImage, image_features};
use vip5::recommend::Recommender;

use crate::BackendRequest;

thread_local! {
    /// burn's WebGPU device may be initialised once per page (worker): keep it.
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}

fn js_err(context: &str, e: impl std::fmt::Display) -> JsError {
    JsError::new(&format!("{context}: {e}"))
}

/// The device for a request, and why it was chosen.
async fn choose_device(request: BackendRequest) -> Result<(Device, &'static str, String), JsError> {
    if request == BackendRequest::Cpu {
        return Ok((Device::flex(), "cpu", "the page asked for the CPU".into()));
    }
    if let Some(d) = WEBGPU.with(|g| g.borrow().clone()) {
        return Ok((d, "webgpu", "WebGPU adapter (already initialised)".into()));
    }
    let has_gpu = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("navigator"))
        .ok()
        .and_then(|nav| js_sys::Reflect::get(&nav, &JsValue::from_str("gpu")).ok())
        .is_some_and(|gpu| !gpu.is_undefined() && !gpu.is_null());
    if !has_gpu {
        if request == BackendRequest::WebGpu {
            return Err(JsError::new(
                "WebGPU was requested, but this browser has no navigator.gpu",
            ));
        }
        return Ok((
            Device::flex(),
            "cpu",
            "no WebGPU in this browser (navigator.gpu is missing): CPU fallback".into(),
        ));
    }
    match Device::wgpu_options().init_async().await {
        Ok(d) => {
            WEBGPU.with(|g| *g.borrow_mut() = Some(d.clone()));
            Ok((d, "webgpu", "WebGPU adapter".into()))
        }
        Err(e) if request == BackendRequest::Auto => {
            Ok((Device::flex(), "cpu", format!("no usable WebGPU adapter ({e:?}): CPU fallback")))
        }
        Err(e) => Err(JsError::new(&format!(
            "WebGPU was requested, but no adapter could be initialised: {e:?}"
        ))),
    }
}

/// A short recommendation (beam search over two decoding steps and more, which reads the cache)
/// and one yes/no score through the whole model on the chosen device: finite answers, or the
/// device is not trusted. The core turns a non-finite score into an error, so either shows here.
async fn self_check(recommender: &Recommender) -> Result<(), String> {
    let keys: Vec<String> = recommender.catalog.iter().take(2).map(|c| c.key.clone()).collect();
    if keys.len() < 2 {
        return Ok(());
    }
    let next =
        recommender.recommend_next(&keys[..1], 3, &[], None).await.map_err(|e| e.to_string())?;
    let scores = recommender.score(&keys[..1], &keys[1..]).await.map_err(|e| e.to_string())?;
    if next.is_empty() || next.iter().chain(&scores).any(|s| !s.score.is_finite()) {
        return Err("no finite recommendation came back".into());
    }
    Ok(())
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| js_err("converting the answer", e))
}

/// A loaded model bundle (and optionally a CLIP vision bundle) on one device.
#[wasm_bindgen]
pub struct Engine {
    recommender: Recommender,
    backend: &'static str,
    backend_reason: String,
    clip: Option<(ClipVision, ClipVisionConfig)>,
    timings: Vec<(&'static str, f64)>,
}

#[wasm_bindgen]
impl Engine {
    /// Builds the model of a bundle. `backend`: `"auto"` (WebGPU when available, else CPU),
    /// `"webgpu"` or `"cpu"`.
    pub async fn create(bundle: Vec<u8>, backend: String) -> Result<Engine, JsError> {
        let request = BackendRequest::parse(&backend).map_err(|e| JsError::new(&e))?;
        let mut timings = Vec::new();
        let mut t = js_sys::Date::now();
        let mut lap = |name: &'static str, timings: &mut Vec<(&'static str, f64)>| {
            let now = js_sys::Date::now();
            timings.push((name, now - t));
            t = now;
        };
        let (device, backend, backend_reason) = choose_device(request).await?;
        lap("device", &mut timings);
        let err = |e| js_err("loading the model bundle", e);
        // The core's own loading (the same checks and messages as natively), timed step by step.
        let mut recommender =
            Recommender::from_bundle_timed(&bundle, device, &mut |name| lap(name, &mut timings))
                .map_err(err)?;
        let (mut backend, mut backend_reason) = (backend, backend_reason);
        // `auto` checks the adapter and falls back, saying why; an explicit `webgpu` is taken at
        // its word (a non-finite answer is then an exception, never a silently wrong list).
        if backend == "webgpu" && request == BackendRequest::Auto {
            match self_check(&recommender).await {
                Ok(()) => lap("webgpu self-check", &mut timings),
                Err(why) => {
                    // A guard for adapters that still misbehave: SwiftShader gave NaN here
                    // before `bounded_tanh` (README, "WebGPU"); a test forces it with NaN weights.
                    recommender = Recommender::from_bundle(&bundle, Device::flex()).map_err(err)?;
                    backend = "cpu";
                    backend_reason = format!(
                        "WebGPU failed the self-check at load on this adapter ({why}): CPU fallback"
                    );
                    lap("webgpu self-check failed, cpu reload", &mut timings);
                }
            }
        }
        Ok(Engine { recommender, backend, backend_reason, clip: None, timings })
    }

    /// Milliseconds spent in each loading step: `[{step, ms}]`.
    #[wasm_bindgen(js_name = loadTimings)]
    pub fn load_timings(&self) -> Result<JsValue, JsError> {
        #[derive(Serialize)]
        struct Step {
            step: &'static str,
            ms: f64,
        }
        to_js(&self.timings.iter().map(|&(step, ms)| Step { step, ms }).collect::<Vec<_>>())
    }

    /// `"webgpu"` or `"cpu"`.
    pub fn backend(&self) -> String {
        self.backend.into()
    }

    /// Why that backend was chosen.
    #[wasm_bindgen(js_name = backendReason)]
    pub fn backend_reason(&self) -> String {
        self.backend_reason.clone()
    }

    /// The catalogue as JSON text, `[{"id", "key", "title"}]` (id = model id). JSON text, because
    /// building 12,000 JS objects field by field through serde-wasm-bindgen took 11.8 s in
    /// Chromium, and `JSON.parse` of the same text takes milliseconds.
    #[wasm_bindgen(js_name = catalogJson)]
    pub fn catalog_json(&self) -> Result<String, JsError> {
        #[derive(Serialize)]
        struct Entry<'a> {
            id: u32,
            key: &'a str,
            title: &'a str,
        }
        let entries: Vec<Entry> = (1u32..)
            .zip(&self.recommender.catalog)
            .map(|(id, c)| Entry { id, key: &c.key, title: &c.title })
            .collect();
        serde_json::to_string(&entries).map_err(|e| js_err("catalogJson", e))
    }

    /// How many of these history keys the bundle does not know (they are skipped in prompts).
    #[wasm_bindgen(js_name = unknownKeys)]
    pub fn unknown_keys(&self, history: Vec<String>) -> usize {
        self.recommender.resolve(&history).unknown
    }

    /// `[{id, key, title, score}]`, best first: real catalogue items not in the history nor in
    /// `exclude`; with `only`, among those keys alone. Keys this bundle lacks (in the history,
    /// `exclude` or `only`) are skipped.
    #[wasm_bindgen(js_name = recommendNext)]
    pub async fn recommend_next(
        &self,
        history: Vec<String>,
        k: usize,
        exclude: Vec<String>,
        only: Option<Vec<String>>,
    ) -> Result<JsValue, JsError> {
        let out = self
            .recommender
            .recommend_next(&history, k, &exclude, only.as_deref())
            .await
            .map_err(|e| js_err("recommendNext", e))?;
        to_js(&out)
    }

    /// Diagnostics: the forward pass of `recommendNext` for this history (the encoder and `steps`
    /// decoding steps over `beams` rows), every intermediate tensor read back, as JSON text
    /// `[{name, shape, values}]`. Two engines on two backends give traces to compare stage by
    /// stage (`tests/browser/parity.js`, `traceBoth`).
    #[wasm_bindgen(js_name = traceJson)]
    pub async fn trace_json(
        &self,
        history: Vec<String>,
        beams: usize,
        steps: usize,
    ) -> Result<String, JsError> {
        let stages =
            self.recommender.trace(&history, beams, steps).await.map_err(|e| js_err("trace", e))?;
        serde_json::to_string(&stages).map_err(|e| js_err("trace", e))
    }

    /// `[{id, key, title, score}]` with score = P(yes), in the order of `items`.
    pub async fn score(
        &self,
        history: Vec<String>,
        items: Vec<String>,
    ) -> Result<JsValue, JsError> {
        let out = self.recommender.score(&history, &items).await.map_err(|e| js_err("score", e))?;
        to_js(&out)
    }

    /// The candidates, best first.
    #[wasm_bindgen(js_name = rankCandidates)]
    pub async fn rank_candidates(
        &self,
        history: Vec<String>,
        candidates: Vec<String>,
    ) -> Result<JsValue, JsError> {
        let out = self
            .recommender
            .rank_candidates(&history, &candidates)
            .await
            .map_err(|e| js_err("rankCandidates", e))?;
        to_js(&out)
    }

    /// Loads a CLIP vision bundle (`trainer export-clip`) on this engine's device.
    #[wasm_bindgen(js_name = loadClip)]
    pub fn load_clip(&mut self, bundle: Vec<u8>) -> Result<(), JsError> {
        let b = Bundle::from_bytes(&bundle).map_err(|e| js_err("loading the CLIP bundle", e))?;
        let (model, cfg, _) = b
            .load_clip(self.recommender.device())
            .map_err(|e| js_err("loading the CLIP bundle", e))?;
        self.install_clip(model, cfg)
    }

    /// Loads the vision tower from the vision tensors of a Hugging Face CLIP `model.safetensors`
    /// (`safetensors`: a safetensors file holding at least them, e.g. rebuilt from HTTP ranges)
    /// and its `config.json` text.
    #[wasm_bindgen(js_name = loadClipSafetensors)]
    pub fn load_clip_safetensors(
        &mut self,
        safetensors: Vec<u8>,
        config_json: String,
    ) -> Result<(), JsError> {
        let cfg = ClipVisionConfig::from_hf_json(&config_json)
            .map_err(|e| js_err("reading the CLIP config", e))?;
        let model = ClipVision::new(&cfg, self.recommender.device());
        let (model, _) = vip5::clip::load_clip_vision(model, &safetensors)
            .map_err(|e| js_err("loading CLIP", e))?;
        self.install_clip(model, cfg)
    }

    fn install_clip(&mut self, model: ClipVision, cfg: ClipVisionConfig) -> Result<(), JsError> {
        if cfg.projection_dim != self.recommender.cfg.feat_dim {
            return Err(JsError::new(&format!(
                "this CLIP gives {}-d features, but the model takes {}-d ones",
                cfg.projection_dim, self.recommender.cfg.feat_dim
            )));
        }
        self.clip = Some((model, cfg));
        Ok(())
    }

    /// CLIP features of an image given as RGBA bytes (a canvas `ImageData`).
    #[wasm_bindgen(js_name = embedImage)]
    pub async fn embed_image(
        &self,
        rgba: Vec<u8>,
        width: usize,
        height: usize,
    ) -> Result<Vec<f32>, JsError> {
        let (model, cfg) = self.clip.as_ref().ok_or_else(|| {
            JsError::new("embedImage needs a CLIP model: pass `clip` to Recommender.load")
        })?;
        let img = RgbImage::from_rgba(&rgba, width, height).map_err(|e| js_err("embedImage", e))?;
        let mut out = image_features(model, cfg, &[img], self.recommender.device())
            .await
            .map_err(|e| js_err("embedImage", e))?;
        out.pop().ok_or_else(|| JsError::new("embedImage: no features came back"))
    }

    /// P(yes) that the visitor would buy the product in the photo.
    #[wasm_bindgen(js_name = scorePhoto)]
    pub async fn score_photo(
        &self,
        history: Vec<String>,
        rgba: Vec<u8>,
        width: usize,
        height: usize,
    ) -> Result<f32, JsError> {
        let features = self.embed_image(rgba, width, height).await?;
        self.recommender.score_photo(&history, &features).await.map_err(|e| js_err("scorePhoto", e))
    }
}

unsafe extern "C" {
    /// wasm-ld's function that runs the static constructors (the `inventory` registrations of
    /// pliron, under burn's cubecl). A module that never names it is linked "command-style":
    /// wasm-ld wraps every export in a call to it, so the registrations ran again on every call
    /// from JS (`__wasm_call_ctors` and `inventory::submit`: 17 % of `recommendNext` in a V8
    /// profile of the page's wasm). Named here, it runs once, from `start`.
    fn __wasm_call_ctors();
}

/// Logs Rust panics with their message and leaves it in `globalThis.__vip5LastPanic`, where the
/// worker picks it up after the trap to reject the pending call with it.
/// Runs the static constructors first (see `__wasm_call_ctors`).
#[wasm_bindgen(start)]
pub fn start() {
    // SAFETY: wasm-bindgen runs `start` once, right after instantiation and before any other
    // export; the constructors only register static data.
    unsafe { __wasm_call_ctors() };
    std::panic::set_hook(Box::new(|info| {
        let msg = format!("vip5 panicked: {info}");
        let _ = js_sys::Reflect::set(
            &js_sys::global(),
            &JsValue::from_str("__vip5LastPanic"),
            &JsValue::from_str(&msg),
        );
        web_sys_log(&msg);
    }));
}

/// Panics on purpose: the browser test checks that a panic rejects the call with its message and
/// that the worker comes back. Only in the test build (`--features test-hooks`,
/// scripts/build_test_wasm.sh); the site's wasm has no such export.
#[cfg(feature = "test-hooks")]
#[wasm_bindgen(js_name = __panicForTests)]
pub fn panic_for_tests() {
    panic!("deliberate panic for the worker-restart test");
}

fn web_sys_log(msg: &str) {
    let console = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("console")).ok();
    if let Some(console) = console
        && let Ok(error) = js_sys::Reflect::get(&console, &JsValue::from_str("error"))
        && let Ok(f) = error.dyn_into::<js_sys::Function>()
    {
        let _ = f.call1(&console, &JsValue::from_str(msg));
    }
}

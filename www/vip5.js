// vip5.js: private, in-browser VIP5 recommendations.
//
//   import { Recommender } from './vip5.js';
//   const rec = await Recommender.load({
//     bundle: 'demo-q8_0.gguf',
//     onProgress: p => console.log(p)
//   });
//   await rec.record('B004OHQR1Q');                   // kept in IndexedDB, on this device only
//   const next = await rec.recommendNext(10);         // [{ id, key, title, score }]
//
// The model runs in a Web Worker (vip5-worker.js) on WebGPU when the browser has it, else on the
// CPU (wasm). Bundles are fetched once with progress events and kept in the Cache API under a
// key that changes with the file. Nothing about the visitor is ever sent anywhere: the requests
// this module makes (the worker, the wasm, the bundles) are the same for every visitor.

// This file is the facade; the pieces live in lib/ (plain ES modules, no bundler needed):
// errors.js (Vip5Error), retry.js (tries again after a cut or stall), cache.js (fetchCached and
// the Cache API), clip-range.js (fetchClipVision), history.js (IndexedDB), worker-client.js.
import { Vip5Error } from './lib/errors.js';
import { DOWNLOAD_DEFAULTS, fetchCached } from './lib/cache.js';
import { fetchClipVision } from './lib/clip-range.js';
import { HistoryStore } from './lib/history.js';
import { WorkerClient, recoverOnCpu } from './lib/worker-client.js';

// The API besides Recommender (declared, with it, in vip5.d.ts).
export { Vip5Error, DOWNLOAD_DEFAULTS, fetchCached, fetchClipVision };

/** Private, on-device VIP5 recommendations for one visitor. */
export class Recommender {
  /**
   * @param {object} o
   * @param {string} o.bundle  URL of a model bundle (`trainer export`).
   * @param {string} [o.clip]  URL of a CLIP vision bundle (`trainer export-clip`), or of a Hugging
   *   Face CLIP `model.safetensors` (its `config.json` beside it; only the vision tower's byte
   *   ranges are fetched), for photos.
   * @param {'auto'|'webgpu'|'cpu'} [o.backend='auto']
   * @param {(p: Vip5Progress) => void} [o.onProgress] transformers.js-style (vip5.d.ts)
   *   events: { status: 'initiate'|'download'|'done', name, file }, { status: 'progress', name,
   *   file, loaded, total, progress, cached } and, once the model is built, { status: 'ready',
   *   name: 'model', file, backend }; `name` is 'bundle' or 'clip'.
   *   A download cut or stalled halfway is tried again: { status: 'retry', name, file, attempt,
   *   attempts, loaded, total, reason }.
   * @param {string} [o.workerUrl='vip5-worker.js']
   * @param {{attempts?: number, stallSeconds?: number}} [o.download] how often a failed download
   *   is tried (3 in all) and how long without a byte counts as a stall (30 s); see
   *   DOWNLOAD_DEFAULTS.
   */
  static async load({
    bundle,
    clip,
    backend = 'auto',
    onProgress = () => {},
    workerUrl,
    download: retry = {},
  } = {}) {
    if (!bundle)
      throw new Vip5Error('Recommender.load needs { bundle: "<url of a .gguf model bundle>" }');
    const started = performance.now();
    const url = workerUrl ?? new URL('vip5-worker.js', import.meta.url).href;
    const [history, model, clipFile] = await Promise.all([
      HistoryStore.open(),
      fetchCached(bundle, p => onProgress({ name: 'bundle', ...p }), retry),
      clip
        ? (String(clip).endsWith('.safetensors')
          ? fetchClipVision(clip, p => onProgress({ name: 'clip', ...p }), retry)
          : fetchCached(clip, p => onProgress({ name: 'clip', ...p }), retry))
        : null,
    ]);
    const rec = new Recommender(new WorkerClient(url), history, {
      bundle,
      backend,
      model,
      clipFile,
    });
    await rec.init();
    onProgress({ status: 'ready', name: 'model', file: bundle, backend: rec.backendName });
    rec.info = {
      backend: rec.backendName,
      backendReason: rec.backendReasonText,
      bundleBytes: model.bytes.length,
      clipBytes: clipFile?.bytes.length ?? 0,
      cached: model.cached && (!clipFile || clipFile.cached),
      downloadSeconds: model.seconds,
      loadSeconds: (performance.now() - started) / 1000,
      // Where the worker spent the load: [{ step, ms }].
      steps: rec.loadTimings,
    };
    return rec;
  }

  constructor(worker, history, source) {
    this.worker = worker;
    this.store = history;
    this.source = source;
  }

  async init() {
    // Copies: the worker takes ownership of what it is sent, and a restart needs the bytes again.
    const model = this.source.model.bytes.slice();
    const clip = this.source.clipFile?.bytes.slice();
    const clipConfig = this.source.clipFile?.config ?? null;
    const r = await this.worker.call(
      'init',
      { bundle: model, clip, clipConfig, backend: this.source.backend },
      [model.buffer, ...(clip ? [clip.buffer] : [])],
    );
    this.backendName = r.backend;
    this.backendReasonText = r.reason;
    this.items = r.catalog;
    this.loadTimings = r.timings;
    this.byKey = new Map(this.items.map(i => [i.key, i]));
  }

  /**
   * Runs `op` in the worker. A panic restarts the worker and rethrows; a lost WebGPU device
   * restarts it on the CPU and answers the call there.
   */
  async call(op, args, transfer = []) {
    // On WebGPU the device may be lost mid-call and the call asked again: send copies there
    // (postMessage copies what it does not transfer), so `args` stays whole for the retry.
    const sent = this.backendName === 'webgpu' ? [] : transfer;
    try {
      return await this.worker.call(op, args, sent);
    } catch (e) {
      if (e.deviceLost) {
        await recoverOnCpu(this, e.deviceLost);
        return this.worker.call(op, args);
      }
      if (e.fatal) {
        this.worker.restart();
        await this.init().catch(err => console.error('vip5: restarting the worker failed:', err));
      }
      throw e;
    }
  }

  /** `webgpu` or `cpu`. */
  backend() { return this.backendName; }
  /** Why that backend was chosen (e.g. "no WebGPU in this browser: CPU fallback"). */
  backendReason() { return this.backendReasonText; }
  /** The bundle's items: [{ id, key, title }]. */
  catalog() { return this.items; }

  /** Records that the visitor looked at or bought an item (a shop's key: ASIN, SKU). */
  async record(itemKey) { await this.store.add(itemKey); }
  /** The history, oldest first: [{ key, t }]. Keys unknown to this bundle are kept. */
  async history() { return this.store.all(); }
  async clearHistory() { await this.store.clear(); }
  async historyKeys() { return (await this.store.all()).map(e => e.key); }

  /**
   * The next items for this visitor: real items not yet in the history, best first.
   * @param {number} [k=10] how many
   * @param {{exclude?: string[], only?: string[]}} [filters] `exclude`: keys never to return
   *   (out of stock); `only`: return only among these keys (in stock). Keys the bundle lacks are
   *   skipped in both, so a stock list may name products newer than the bundle.
   */
  async recommendNext(k = 10, { exclude = [], only } = {}) {
    return this.call('recommendNext', {
      history: await this.historyKeys(),
      k,
      exclude,
      only: only ?? null,
    });
  }
  /** The candidates (item keys), best first. */
  async rankCandidates(keys) {
    return this.call('rankCandidates', { history: await this.historyKeys(), candidates: keys });
  }
  /** P(yes) that this visitor would buy the item next. */
  async score(itemKey) {
    const [s] = await this.call('score', { history: await this.historyKeys(), items: [itemKey] });
    return s.score;
  }
  /** CLIP features (Float32Array) of an ImageData (needs `clip` in load). */
  async embedImage(imageData) {
    const rgba = new Uint8Array(imageData.data);
    return this.call(
      'embedImage',
      { rgba, width: imageData.width, height: imageData.height },
      [rgba.buffer],
    );
  }
  /** P(yes) that this visitor would like the product in the photo (needs `clip` in load). */
  async scorePhoto(imageData) {
    const rgba = new Uint8Array(imageData.data);
    return this.call(
      'scorePhoto',
      {
        history: await this.historyKeys(),
        rgba,
        width: imageData.width,
        height: imageData.height,
      },
      [rgba.buffer],
    );
  }
  /**
   * The worker's wasm memory in bytes: the most the model has held at once (wasm memory only
   * grows; WebGPU buffers are not counted). For a shop checking what a bundle costs a visitor.
   */
  async memoryBytes() { return this.call('memoryBytes', {}); }
  /** Stops the worker. */
  terminate() { this.worker.worker.terminate(); }
}

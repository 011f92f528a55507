// vip5.js: private, in-browser VIP5 recommendations.
//
//   import { Recommender } from './vip5.js';
//   const rec = await Recommender.load({ bundle: 'demo-q8_0.gguf', onProgress: p => console.log(p) });
//   await rec.record('B004OHQR1Q');                   // kept in IndexedDB, on this device only
//   const next = await rec.recommendNext(10);         // [{ id, key, title, score }]
//
// The model runs in a Web Worker (vip5-worker.js) on WebGPU when the browser has it, else on the
// CPU (wasm). Bundles are fetched once with progress events and kept in the Cache API under a
// key that changes with the file. Nothing about the visitor is ever sent anywhere: the requests
// this module makes (the worker, the wasm, the bundles) are the same for every visitor.

const HISTORY_DB = 'vip5-history';
const BUNDLE_CACHE = 'vip5-bundles';

/** Thrown for every failure, with a message a web developer can act on. */
export class Vip5Error extends Error {
  constructor(message, { cause, fatal = false } = {}) {
    super(message, { cause });
    this.name = 'Vip5Error';
    this.fatal = fatal;
  }
}

// ---------------------------------------------------------------------------------------------
// Fetching with progress and the Cache API

// The URL relative paths resolve against: the page's base, or the worker's own location (a
// worker has no `document`).
function baseUrl() {
  return typeof document !== 'undefined' ? document.baseURI : self.location.href;
}

/** A version tag for `url` from a HEAD request (ETag, else Last-Modified + length), or null offline. */
async function versionTag(url) {
  try {
    const head = await fetch(url, { method: 'HEAD', cache: 'no-cache' });
    if (!head.ok) throw new Vip5Error(`${url}: HTTP ${head.status} ${head.statusText} (bundle not found?)`);
    const h = head.headers;
    return h.get('etag') || `${h.get('last-modified') || ''}|${h.get('content-length') || ''}`;
  } catch (e) {
    if (e instanceof Vip5Error) throw e;
    return null; // offline: use whatever is cached
  }
}

/** Any cached version of the entry whose keys start with `prefix` (offline: the version is unknown). */
async function anyCachedVersion(cache, prefix) {
  const key = (await cache.keys()).find(r => r.url.startsWith(prefix));
  return key ? cache.match(key) : null;
}

/** Caches `response` under `key`, replacing the other versions under `prefix`; a failure only warns. */
async function replaceCachedVersion(cache, prefix, key, response, url) {
  try {
    for (const old of await cache.keys()) {
      if (old.url.startsWith(prefix)) await cache.delete(old);
    }
    await cache.put(key, response);
  } catch (e) {
    console.warn(`vip5: could not cache ${url} (${e.name}: ${e.message}); it will be downloaded again next time`);
  }
}

// Progress events, named and shaped like transformers.js's `progress_callback` ones: per file
// `initiate`, then `download` (network only), `progress` as bytes arrive, `done`; `ready` once the
// model is built (Recommender.load adds `name`).
function progressEvent(file, loaded, total, cached) {
  return { status: 'progress', file, loaded, total, progress: total ? (100 * loaded) / total : null, cached };
}

/** Reports a whole file read from the Cache API: progress at 100 %, then done. */
function reportCached(file, length, onProgress) {
  onProgress(progressEvent(file, length, length, true));
  onProgress({ status: 'done', file, cached: true });
}

/**
 * How a download that fails halfway is retried: `attempts` tries in all, and a stall of
 * `stallSeconds` without a byte counts as a failure. Recommender.load's `download` option.
 */
export const DOWNLOAD_DEFAULTS = Object.freeze({ attempts: 3, stallSeconds: 30 });

/** A failure no retry can mend (HTTP 404, not a bundle): thrown at once. */
function permanent(error) { error.permanent = true; return error; }

/** `bytes ${start}-${end}/${total}` -> { start, total }, or null. */
function contentRange(response) {
  const m = /^bytes (\d+)-\d+\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
  return m ? { start: Number(m[1]), total: Number(m[2]) } : null;
}

/**
 * The whole body of `absolute`, with progress events. A download cut or stalled halfway is tried
 * again (`options.attempts` in all): from where it stopped when the server honours Range for this
 * same version (If-Range with its ETag or Last-Modified), else from the start. Every try's bytes
 * stay in memory until the length is complete; nothing partial is returned or cached.
 */
async function download(absolute, file, onProgress, { attempts, stallSeconds }) {
  let chunks = [];
  let loaded = 0;
  let total = 0;
  let validator = null;
  let lastReason = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const controller = new AbortController();
    let stalled = false;
    let timer;
    const watch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => { stalled = true; controller.abort(); }, stallSeconds * 1000);
    };
    try {
      const resume = loaded > 0 && validator !== null;
      const headers = resume ? { range: `bytes=${loaded}-`, 'if-range': validator } : {};
      watch();
      const response = await fetch(absolute, { cache: 'no-cache', headers, signal: controller.signal });
      if (!response.ok) throw permanent(new Vip5Error(`${file}: HTTP ${response.status} ${response.statusText} (bundle not found?)`));
      const range = response.status === 206 ? contentRange(response) : null;
      if (!(resume && range && range.start === loaded && range.total === total)) {
        // A fresh start: a first try, a server without Range, or a new version of the file.
        chunks = [];
        loaded = 0;
        total = Number(response.headers.get('content-length')) || 0;
        const etag = response.headers.get('etag');
        validator = etag && !etag.startsWith('W/') ? etag : response.headers.get('last-modified');
      }
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        watch();
        chunks.push(value);
        loaded += value.length;
        onProgress(progressEvent(file, loaded, total, false));
      }
      clearTimeout(timer);
      if (total && loaded !== total) throw new Error(`the connection closed after ${loaded} of ${total} bytes`);
      const bytes = new Uint8Array(loaded);
      let offset = 0;
      for (const c of chunks) { bytes.set(c, offset); offset += c.length; }
      return bytes;
    } catch (e) {
      clearTimeout(timer);
      if (e.permanent) throw e;
      lastReason = stalled ? `no data for ${stallSeconds} s` : e.message;
      if (attempt < attempts) {
        onProgress({ status: 'retry', file, attempt: attempt + 1, attempts, loaded, total, reason: lastReason });
        await new Promise(r => setTimeout(r, 250 * attempt));
      }
    }
  }
  throw new Vip5Error(`${file}: download failed after ${attempts} attempts (${lastReason}; ${loaded} of ${total || '?'} bytes arrived). Nothing was cached; loading again retries`);
}

/**
 * The bytes of `url`, from the Cache API when this version is cached, else downloaded with
 * progress events (see `progressEvent`; a `retry` event for each new try) and cached once whole.
 * `options`: see DOWNLOAD_DEFAULTS. Returns { bytes, cached, seconds }.
 */
export async function fetchCached(url, onProgress = () => {}, options = {}) {
  const started = performance.now();
  const opts = downloadOptions(options);
  onProgress({ status: 'initiate', file: url });
  const absolute = new URL(url, baseUrl()).href;
  const tag = await versionTag(absolute);
  const cache = 'caches' in self ? await caches.open(BUNDLE_CACHE).catch(() => null) : null;
  const cacheKey = tag === null ? null : `${absolute}#v=${encodeURIComponent(tag)}`;
  if (cache) {
    let hit = cacheKey ? await cache.match(cacheKey) : null;
    // Offline: any cached version of this URL.
    if (!hit && tag === null) hit = await anyCachedVersion(cache, `${absolute}#v=`);
    if (hit) {
      const bytes = new Uint8Array(await hit.arrayBuffer());
      reportCached(url, bytes.length, onProgress);
      return { bytes, cached: true, seconds: (performance.now() - started) / 1000 };
    }
  }
  onProgress({ status: 'download', file: url });
  const bytes = await download(absolute, url, onProgress, opts);
  if (cache && cacheKey) {
    await replaceCachedVersion(cache, `${absolute}#v=`, cacheKey, new Response(bytes, { headers: { 'content-type': 'application/octet-stream' } }), url);
  }
  onProgress({ status: 'done', file: url, cached: false });
  return { bytes, cached: false, seconds: (performance.now() - started) / 1000 };
}

/** `options` checked and completed from DOWNLOAD_DEFAULTS. */
function downloadOptions(options) {
  const o = { ...DOWNLOAD_DEFAULTS, ...options };
  if (!Number.isInteger(o.attempts) || o.attempts < 1) throw new Vip5Error(`download.attempts must be a whole number >= 1, not ${options.attempts}`);
  if (!(o.stallSeconds > 0)) throw new Vip5Error(`download.stallSeconds must be a number > 0, not ${options.stallSeconds}`);
  return o;
}

// ---------------------------------------------------------------------------------------------
// CLIP from a Hugging Face `model.safetensors`: only the vision tower's byte ranges

const isVisionTensor = name => name.startsWith('vision_model.') || name === 'visual_projection.weight';

/** Bytes [start, end) of `url` by one Range request, tried again like `download` when it fails. */
async function fetchRange(url, start, end, { attempts, stallSeconds }) {
  let lastReason = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer for ${stallSeconds} s`)), stallSeconds * 1000);
    try {
      const r = await fetch(url, { headers: { range: `bytes=${start}-${end - 1}` }, cache: 'no-cache', signal: controller.signal });
      if (r.status !== 206) throw permanent(new Vip5Error(`${url}: the server answered ${r.status} to a Range request (it must honour HTTP Range to fetch only CLIP's vision tower)`));
      const bytes = new Uint8Array(await r.arrayBuffer());
      if (bytes.length !== end - start) throw new Error(`the connection closed after ${bytes.length} of ${end - start} bytes`);
      return bytes;
    } catch (e) {
      if (e.permanent) throw e;
      lastReason = controller.signal.aborted ? String(controller.signal.reason?.message ?? 'stalled') : e.message;
      if (attempt < attempts) await new Promise(r => setTimeout(r, 250 * attempt));
    } finally {
      clearTimeout(timer);
    }
  }
  throw new Vip5Error(`${url}: bytes ${start}-${end - 1} failed after ${attempts} attempts (${lastReason}). Nothing was cached; loading again retries`);
}

/**
 * A safetensors file holding only the vision tensors of a Hugging Face CLIP checkpoint, fetched
 * with Range requests (the header first, then the vision tensors' ranges), and cached like a
 * bundle. `options`: see DOWNLOAD_DEFAULTS. Returns { bytes, config, cached, seconds }; `config` is the `config.json` beside it.
 */
export async function fetchClipVision(url, onProgress = () => {}, options = {}) {
  const started = performance.now();
  const opts = downloadOptions(options);
  onProgress({ status: 'initiate', file: url });
  const absolute = new URL(url, baseUrl()).href;
  const tag = await versionTag(absolute);
  const cache = 'caches' in self ? await caches.open(BUNDLE_CACHE).catch(() => null) : null;
  // One cache entry holds the vision tensors and, in a header, the config.json beside them.
  const prefix = `${absolute}#vision#v=`;
  const cacheKey = tag === null ? null : `${prefix}${encodeURIComponent(tag)}`;
  let hit = cache && cacheKey ? await cache.match(cacheKey) : null;
  // Offline: any cached version of this URL, as for bundles.
  if (cache && !hit && tag === null) hit = await anyCachedVersion(cache, prefix);
  const cachedConfig = hit?.headers.get('x-vip5-clip-config');
  if (hit && cachedConfig) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    reportCached(url, bytes.length, onProgress);
    return { bytes, config: decodeURIComponent(cachedConfig), cached: true, seconds: (performance.now() - started) / 1000 };
  }
  onProgress({ status: 'download', file: url });
  const configUrl = new URL('config.json', absolute).href;
  const configResponse = await fetch(configUrl, { cache: 'no-cache' }).catch(e => {
    throw new Vip5Error(`${configUrl}: download failed (${e.message})`, { cause: e });
  });
  if (!configResponse.ok) throw new Vip5Error(`${configUrl}: HTTP ${configResponse.status} (the CLIP config.json must sit beside model.safetensors)`);
  const config = await configResponse.text();
  const lenBytes = await fetchRange(absolute, 0, 8, opts);
  const headerLen = Number(new DataView(lenBytes.buffer).getBigUint64(0, true));
  if (headerLen > 100_000_000) throw new Vip5Error(`${url} is not a safetensors file (header of ${headerLen} bytes)`);
  const header = JSON.parse(new TextDecoder().decode(await fetchRange(absolute, 8, 8 + headerLen, opts)));
  const base = 8 + headerLen;
  const names = Object.keys(header).filter(n => n !== '__metadata__' && isVisionTensor(n));
  if (names.length === 0) throw new Vip5Error(`${url} has no CLIP vision tensors (vision_model.*, visual_projection.weight)`);
  names.sort((a, b) => header[a].data_offsets[0] - header[b].data_offsets[0]);
  // Merge neighbouring ranges into few requests.
  const spans = [];
  for (const n of names) {
    const [s, e] = header[n].data_offsets;
    const last = spans[spans.length - 1];
    if (last && s - last.end < 65536) last.end = Math.max(last.end, e); else spans.push({ start: s, end: e });
  }
  const total = spans.reduce((t, sp) => t + sp.end - sp.start, 0);
  let loaded = 0;
  const parts = [];
  for (const sp of spans) {
    const part = await fetchRange(absolute, base + sp.start, base + sp.end, opts);
    parts.push({ ...sp, part });
    loaded += part.length;
    onProgress(progressEvent(url, loaded, total, false));
  }
  // A new safetensors file with just these tensors.
  const newHeader = {};
  let offset = 0;
  const pieces = [];
  for (const n of names) {
    const [s, e] = header[n].data_offsets;
    const span = parts.find(p => p.start <= s && e <= p.end);
    pieces.push(span.part.subarray(s - span.start, e - span.start));
    newHeader[n] = { dtype: header[n].dtype, shape: header[n].shape, data_offsets: [offset, offset + (e - s)] };
    offset += e - s;
  }
  let json = new TextEncoder().encode(JSON.stringify(newHeader));
  const pad = (8 - (json.length % 8)) % 8;
  json = new TextEncoder().encode(JSON.stringify(newHeader) + ' '.repeat(pad));
  const bytes = new Uint8Array(8 + json.length + offset);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  let at = 8 + json.length;
  for (const p of pieces) { bytes.set(p, at); at += p.length; }
  if (cache && cacheKey) {
    await replaceCachedVersion(cache, prefix, cacheKey, new Response(bytes, { headers: { 'x-vip5-clip-config': encodeURIComponent(config) } }), url);
  }
  onProgress({ status: 'done', file: url, cached: false });
  return { bytes, config, cached: false, seconds: (performance.now() - started) / 1000 };
}

// ---------------------------------------------------------------------------------------------
// The visitor's history, in IndexedDB, keyed by the shop's stable item keys

function openHistory() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(HISTORY_DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore('events', { autoIncrement: true });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new Vip5Error(`IndexedDB is unavailable (${req.error?.message}); the history lives in memory for this page only`));
  });
}

class HistoryStore {
  constructor(db) { this.db = db; this.memory = []; }

  static async open() {
    try { return new HistoryStore(await openHistory()); } catch (e) { console.warn(e.message); return new HistoryStore(null); }
  }

  tx(mode, fn) {
    return new Promise((resolve, reject) => {
      const t = this.db.transaction('events', mode);
      const out = fn(t.objectStore('events'));
      t.oncomplete = () => resolve(out.result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  }

  async add(key) {
    const event = { key: String(key), t: Date.now() };
    if (!this.db) { this.memory.push(event); return; }
    try {
      await this.tx('readwrite', s => s.add(event));
    } catch (e) {
      // Quota or a private mode: keep going in memory and say so.
      this.memory.push(event);
      console.warn(`vip5: the history could not be stored (${e?.name}: ${e?.message}); kept in memory for this page`);
    }
  }

  async all() {
    if (!this.db) return [...this.memory];
    const stored = await this.tx('readonly', s => s.getAll());
    return [...stored, ...this.memory];
  }

  async clear() {
    this.memory = [];
    if (this.db) await this.tx('readwrite', s => s.clear());
  }
}

// ---------------------------------------------------------------------------------------------
// The worker

class WorkerClient {
  constructor(url) { this.url = url; this.pending = new Map(); this.next = 1; this.start(); }

  start() {
    this.worker = new Worker(this.url, { type: 'module' });
    this.worker.onmessage = ({ data }) => {
      const p = this.pending.get(data.id);
      if (!p) return;
      this.pending.delete(data.id);
      if (data.ok) p.resolve(data.result);
      else p.reject(Object.assign(new Vip5Error(data.error, { fatal: data.fatal }), { deviceLost: data.lost }));
    };
    this.worker.onerror = e => {
      e.preventDefault?.();
      this.failAll(`the vip5 worker failed: ${e.message || 'script error (is vip5-worker.js served?)'}`);
    };
  }

  failAll(message) {
    for (const p of this.pending.values()) p.reject(new Vip5Error(message, { fatal: true }));
    this.pending.clear();
  }

  call(op, args = {}, transfer = []) {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, args }, transfer);
    });
  }

  restart() {
    this.worker.terminate();
    this.failAll('the vip5 worker was restarted');
    this.start();
  }
}

/** Restarts `rec`'s worker on the CPU once, however many calls the lost device failed. */
function recoverOnCpu(rec, reason) {
  rec.recovery ??= (async () => {
    console.warn(`vip5: the WebGPU device was lost (${reason}); moving to the CPU`);
    rec.worker.restart();
    rec.source.backend = 'cpu';
    await rec.init();
    rec.backendReasonText = `the WebGPU device was lost (${reason}): CPU fallback`;
    if (rec.info) Object.assign(rec.info, { backend: rec.backendName, backendReason: rec.backendReasonText });
  })().finally(() => { rec.recovery = null; });
  return rec.recovery;
}

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
  static async load({ bundle, clip, backend = 'auto', onProgress = () => {}, workerUrl, download: retry = {} } = {}) {
    if (!bundle) throw new Vip5Error('Recommender.load needs { bundle: "<url of a .gguf model bundle>" }');
    const started = performance.now();
    const url = workerUrl ?? new URL('vip5-worker.js', import.meta.url).href;
    const [history, model, clipFile] = await Promise.all([
      HistoryStore.open(),
      fetchCached(bundle, p => onProgress({ name: 'bundle', ...p }), retry),
      clip ? (String(clip).endsWith('.safetensors') ? fetchClipVision(clip, p => onProgress({ name: 'clip', ...p }), retry) : fetchCached(clip, p => onProgress({ name: 'clip', ...p }), retry)) : null,
    ]);
    const rec = new Recommender(new WorkerClient(url), history, { bundle, backend, model, clipFile });
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
    const r = await this.worker.call('init', { bundle: model, clip, clipConfig, backend: this.source.backend }, [model.buffer, ...(clip ? [clip.buffer] : [])]);
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
    return this.call('recommendNext', { history: await this.historyKeys(), k, exclude, only: only ?? null });
  }
  /** The candidates (item keys), best first. */
  async rankCandidates(keys) { return this.call('rankCandidates', { history: await this.historyKeys(), candidates: keys }); }
  /** P(yes) that this visitor would buy the item next. */
  async score(itemKey) {
    const [s] = await this.call('score', { history: await this.historyKeys(), items: [itemKey] });
    return s.score;
  }
  /** CLIP features (Float32Array) of an ImageData (needs `clip` in load). */
  async embedImage(imageData) {
    const rgba = new Uint8Array(imageData.data);
    return this.call('embedImage', { rgba, width: imageData.width, height: imageData.height }, [rgba.buffer]);
  }
  /** P(yes) that this visitor would like the product in the photo (needs `clip` in load). */
  async scorePhoto(imageData) {
    const rgba = new Uint8Array(imageData.data);
    return this.call('scorePhoto', { history: await this.historyKeys(), rgba, width: imageData.width, height: imageData.height }, [rgba.buffer]);
  }
  /** Stops the worker. */
  terminate() { this.worker.worker.terminate(); }
}

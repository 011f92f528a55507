// The library under faults, for tests/browser/faults.mjs: downloads cut or stalled by the test
// server, a Cache API that is out of quota, and the history across reloads and after a wipe.
import { Recommender, fetchCached, fetchClipVision } from '/vip5.js';

/** The Cache API entries for `path` (any version) and their byte lengths. */
async function cached(path) {
  const cache = await caches.open('vip5-bundles');
  const out = [];
  for (const key of await cache.keys()) {
    if (new URL(key.url).pathname !== path) continue;
    out.push((await (await cache.match(key)).arrayBuffer()).byteLength);
  }
  return out;
}

/**
 * Loads `bundle` and answers one recommendNext; every outcome is data, never an exception. The
 * first bytes of each try are acknowledged to the server (GET /ack/<fault>), which cuts a faulty
 * download only then.
 */
async function tryLoad(bundle, download) {
  const events = [];
  const fault = bundle.split('/')[1];
  const onProgress = p => {
    const first = events.length === 0 || events[events.length - 1].status !== 'progress';
    events.push(p);
    if (p.status === 'progress' && !p.cached && p.loaded > 0 && first) {
      fetch(`/ack/${fault}`).catch(() => {});
    }
  };
  try {
    const rec = await Recommender.load({ bundle, backend: 'cpu', download, onProgress });
    await rec.clearHistory();
    await rec.record('SKU001');
    const next = await rec.recommendNext(3);
    const info = rec.info;
    rec.terminate();
    return {
      ok: true,
      events,
      next: next.map(r => r.key),
      bundleBytes: info.bundleBytes,
      cachedAfter: await cached(bundle),
    };
  } catch (e) {
    return { ok: false, error: e.message, name: e.name, events, cachedAfter: await cached(bundle) };
  }
}

window.downloadFaults = async () => {
  const out = {};
  // Cut halfway once: the retry resumes from the cut with a Range request.
  out.cutOnce = await tryLoad('/cut-once/bundle.gguf', { stallSeconds: 5 });
  // Stalled halfway once: aborted after 1 s without a byte, then resumed.
  out.stallOnce = await tryLoad('/stall-once/bundle.gguf', { stallSeconds: 1 });
  // Cut on the first three tries: the load fails with a clear message and caches nothing; loading
  // again (the visitor's retry) starts from the beginning and succeeds.
  out.cutThrice = await tryLoad('/cut-3/bundle.gguf', { stallSeconds: 5 });
  out.cutThriceAgain = await tryLoad('/cut-3/bundle.gguf', { stallSeconds: 5 });
  // A server that ignores Range: the retry starts again from byte 0 and still ends whole.
  out.noRange = await tryLoad('/cut-once-no-range/bundle.gguf', { stallSeconds: 5 });
  // Bad options are a clear error before any request.
  out.badOptions = await tryLoad('/fixtures/bundle.gguf', { attempts: 0 });
  // The Cache API out of quota: the page still loads and answers; nothing is cached.
  const put = Cache.prototype.put;
  Cache.prototype.put = () =>
    Promise.reject(new DOMException('the quota has been exceeded', 'QuotaExceededError'));
  try {
    out.quota = await tryLoad('/quota/bundle.gguf', {});
  } finally {
    Cache.prototype.put = put;
  }
  return out;
};

// The history: recorded here, read back after a reload (`historyAfterReload`), then wiped.
window.recordHistory = async keys => {
  const rec = await Recommender.load({ bundle: '/fixtures/bundle.gguf', backend: 'cpu' });
  await rec.clearHistory();
  for (const k of keys) await rec.record(k);
  const next = await rec.recommendNext(5);
  rec.terminate();
  return { history: (await rec.history()).map(e => e.key), next: next.map(r => r.key) };
};

/** The raw IndexedDB store, read without the library. */
function storedEvents() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open('vip5-history');
    req.onsuccess = () => {
      const all = req.result.transaction('events', 'readonly').objectStore('events').getAll();
      all.onsuccess = () => { resolve(all.result.map(e => e.key)); req.result.close(); };
      all.onerror = () => reject(all.error);
    };
    req.onerror = () => reject(req.error);
  });
}

window.historyAfterReload = async () => {
  const rec = await Recommender.load({ bundle: '/fixtures/bundle.gguf', backend: 'cpu' });
  const before = (await rec.history()).map(e => e.key);
  const storedBefore = await storedEvents();
  await rec.clearHistory();
  const after = (await rec.history()).map(e => e.key);
  const storedAfter = await storedEvents();
  rec.terminate();
  return { before, storedBefore, after, storedAfter };
};

// Requests must not depend on the history: once loaded, any number of calls with a history of
// any length makes no request at all (the node side counts them between `ready` and `done`).
window.loadForHistoryUse = async () => {
  window.__rec = await Recommender.load({ bundle: '/fixtures/bundle.gguf', backend: 'cpu' });
  return window.__rec.catalog().map(i => i.key);
};
window.useHistory = async keys => {
  const rec = window.__rec;
  await rec.clearHistory();
  for (const k of keys) await rec.record(k);
  const next = await rec.recommendNext(5);
  const score = await rec.score(keys[0]);
  const ranked = await rec.rankCandidates(keys.slice(0, 3));
  return { next: next.map(r => r.key), score, ranked: ranked.map(r => r.key) };
};

// Offline (the node side turns the network off between the two calls): a bundle and a Hugging
// Face CLIP read by Range requests both come from the Cache API, the CLIP with its config.json.
window.fetchBoth = async () => {
  const result = {};
  try {
    const bundle = await fetchCached('/fixtures/bundle.gguf');
    const clip = await fetchClipVision('/fixtures/clip/model.safetensors');
    Object.assign(result, {
      bundleBytes: bundle.bytes.length,
      bundleCached: bundle.cached,
      clipBytes: clip.bytes.length,
      clipCached: clip.cached,
      clipConfig: clip.config,
    });
  } catch (e) {
    result.error = e.message;
  }
  return result;
};

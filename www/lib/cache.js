// Bundles fetched once with progress events and kept in the Cache API under a key that changes
// with the file (its ETag), so a visitor downloads each version once and works offline after.
// A download cut or stalled halfway is tried again, resumed by Range where the server allows.

import { Vip5Error } from './errors.js';
import { permanent, withRetries } from './retry.js';

/** The Cache API cache every bundle (and CLIP's vision tensors) is kept in. */
export const BUNDLE_CACHE = 'vip5-bundles';

// The URL relative paths resolve against: the page's base, or the worker's own location (a
// worker has no `document`).
export function baseUrl() {
  return typeof document !== 'undefined' ? document.baseURI : self.location.href;
}

/**
 * A version tag for `url` from a HEAD request (ETag, else Last-Modified + length), or null
 * offline.
 */
export async function versionTag(url) {
  try {
    const head = await fetch(url, { method: 'HEAD', cache: 'no-cache' });
    if (!head.ok) {
      throw new Vip5Error(`${url}: HTTP ${head.status} ${head.statusText} (bundle not found?)`);
    }
    const h = head.headers;
    return h.get('etag') || `${h.get('last-modified') || ''}|${h.get('content-length') || ''}`;
  } catch (e) {
    if (e instanceof Vip5Error) throw e;
    return null; // offline: use whatever is cached
  }
}

/**
 * Any cached version of the entry whose keys start with `prefix` (offline: the version is
 * unknown).
 */
export async function anyCachedVersion(cache, prefix) {
  const key = (await cache.keys()).find(r => r.url.startsWith(prefix));
  return key ? cache.match(key) : null;
}

/**
 * Caches `response` under `key`, replacing the other versions under `prefix`; a failure only
 * warns.
 */
export async function replaceCachedVersion(cache, prefix, key, response, url) {
  try {
    for (const old of await cache.keys()) {
      if (old.url.startsWith(prefix)) await cache.delete(old);
    }
    await cache.put(key, response);
  } catch (e) {
    console.warn(
      `vip5: could not cache ${url} (${e.name}: ${e.message}); ` +
        'it will be downloaded again next time',
    );
  }
}

// Progress events, named and shaped like transformers.js's `progress_callback` ones: per file
// `initiate`, then `download` (network only), `progress` as bytes arrive, `done`; `ready` once the
// model is built (Recommender.load adds `name`).
export function progressEvent(file, loaded, total, cached) {
  const progress = total ? (100 * loaded) / total : null;
  return { status: 'progress', file, loaded, total, progress, cached };
}

/** Reports a whole file read from the Cache API: progress at 100 %, then done. */
export function reportCached(file, length, onProgress) {
  onProgress(progressEvent(file, length, length, true));
  onProgress({ status: 'done', file, cached: true });
}

/**
 * How a download that fails halfway is retried: `attempts` tries in all, and a stall of
 * `stallSeconds` without a byte counts as a failure. Recommender.load's `download` option.
 */
export const DOWNLOAD_DEFAULTS = Object.freeze({ attempts: 3, stallSeconds: 30 });

/** `options` checked and completed from DOWNLOAD_DEFAULTS. */
export function downloadOptions(options) {
  const o = { ...DOWNLOAD_DEFAULTS, ...options };
  if (!Number.isInteger(o.attempts) || o.attempts < 1) {
    throw new Vip5Error(`download.attempts must be a whole number >= 1, not ${options.attempts}`);
  }
  if (!(o.stallSeconds > 0)) {
    throw new Vip5Error(`download.stallSeconds must be a number > 0, not ${options.stallSeconds}`);
  }
  return o;
}

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
  // What the tries so far received, kept across them so that the next one can resume.
  let chunks = [];
  let loaded = 0;
  let total = 0;
  let validator = null;
  const attemptOnce = async ({ signal, alive }) => {
    const resume = loaded > 0 && validator !== null;
    const headers = resume ? { range: `bytes=${loaded}-`, 'if-range': validator } : {};
    const response = await fetch(absolute, { cache: 'no-cache', headers, signal });
    if (!response.ok) {
      const status = `HTTP ${response.status} ${response.statusText}`;
      throw permanent(new Vip5Error(`${file}: ${status} (bundle not found?)`));
    }
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
      alive();
      chunks.push(value);
      loaded += value.length;
      onProgress(progressEvent(file, loaded, total, false));
    }
    if (total && loaded !== total) {
      throw new Error(`the connection closed after ${loaded} of ${total} bytes`);
    }
    const bytes = new Uint8Array(loaded);
    let offset = 0;
    for (const c of chunks) { bytes.set(c, offset); offset += c.length; }
    return bytes;
  };
  return withRetries(attemptOnce, {
    attempts,
    stallSeconds,
    stalledReason: `no data for ${stallSeconds} s`,
    onRetry: (attempt, reason) =>
      onProgress({ status: 'retry', file, attempt, attempts, loaded, total, reason }),
    finalError: reason => new Vip5Error(
      `${file}: download failed after ${attempts} attempts (${reason}; ${loaded} of ` +
        `${total || '?'} bytes arrived). Nothing was cached; loading again retries`,
    ),
  });
}

/**
 * This version of the file at `absolute` in the Cache API: the server's version tag (ETag or
 * Last-Modified), the cache entry's key (`prefix` + tag) and the entry; offline (no tag), any
 * version cached under `prefix`. `cache` is null where the Cache API is missing or refused.
 * @param {string} absolute
 * @param {string} prefix
 */
export async function lookupCached(absolute, prefix) {
  const tag = await versionTag(absolute);
  const cache = 'caches' in self ? await caches.open(BUNDLE_CACHE).catch(() => null) : null;
  const cacheKey = tag === null ? null : `${prefix}${encodeURIComponent(tag)}`;
  let hit = cache && cacheKey ? await cache.match(cacheKey) : null;
  if (cache && !hit && tag === null) hit = await anyCachedVersion(cache, prefix);
  return { cache, cacheKey, hit };
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
  const { cache, cacheKey, hit } = await lookupCached(absolute, `${absolute}#v=`);
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    reportCached(url, bytes.length, onProgress);
    return { bytes, cached: true, seconds: (performance.now() - started) / 1000 };
  }
  onProgress({ status: 'download', file: url });
  const bytes = await download(absolute, url, onProgress, opts);
  if (cache && cacheKey) {
    const response = new Response(bytes, {
      headers: { 'content-type': 'application/octet-stream' },
    });
    await replaceCachedVersion(cache, `${absolute}#v=`, cacheKey, response, url);
  }
  onProgress({ status: 'done', file: url, cached: false });
  return { bytes, cached: false, seconds: (performance.now() - started) / 1000 };
}

// CLIP from a Hugging Face `model.safetensors`: only the vision tower's byte ranges are fetched
// (HTTP Range), since the text tower the page never uses is as big again. The result is cached
// like a bundle.

import { Vip5Error } from './errors.js';
import { permanent, withRetries } from './retry.js';
import {
  baseUrl,
  downloadOptions,
  lookupCached,
  progressEvent,
  replaceCachedVersion,
  reportCached,
} from './cache.js';

/**
 * The tensors the vision tower loads: the same rule as the core's `vip5::clip::is_vision_tensor`
 * (tests/tests/clip.rs runs both over a checkpoint's names).
 * @param {string} name
 */
export const isVisionTensor = name =>
  (name.startsWith('vision_model.') && !name.endsWith('position_ids')) ||
  name === 'visual_projection.weight';

/** Bytes [start, end) of `url` by one Range request, tried again like a download when it fails. */
async function fetchRange(url, start, end, { attempts, stallSeconds }) {
  const attemptOnce = async ({ signal }) => {
    const headers = { range: `bytes=${start}-${end - 1}` };
    const r = await fetch(url, { headers, cache: 'no-cache', signal });
    if (r.status !== 206) {
      throw permanent(new Vip5Error(
        `${url}: the server answered ${r.status} to a Range request (it must honour HTTP Range ` +
          "to fetch only CLIP's vision tower)",
      ));
    }
    const bytes = new Uint8Array(await r.arrayBuffer());
    if (bytes.length !== end - start) {
      throw new Error(`the connection closed after ${bytes.length} of ${end - start} bytes`);
    }
    return bytes;
  };
  // The try never calls `alive`: `stallSeconds` is the whole request's deadline.
  return withRetries(attemptOnce, {
    attempts,
    stallSeconds,
    stalledReason: `no answer for ${stallSeconds} s`,
    finalError: reason => new Vip5Error(
      `${url}: bytes ${start}-${end - 1} failed after ${attempts} attempts (${reason}). ` +
        'Nothing was cached; loading again retries',
    ),
  });
}

/**
 * A safetensors file holding only the vision tensors of a Hugging Face CLIP checkpoint, fetched
 * with Range requests (the header first, then the vision tensors' ranges), and cached like a
 * bundle. `options`: see DOWNLOAD_DEFAULTS. Returns { bytes, config, cached, seconds }; `config`
 * is the `config.json` beside it.
 */
export async function fetchClipVision(url, onProgress = () => {}, options = {}) {
  const started = performance.now();
  const opts = downloadOptions(options);
  onProgress({ status: 'initiate', file: url });
  const absolute = new URL(url, baseUrl()).href;
  // One cache entry holds the vision tensors and, in a header, the config.json beside them.
  const prefix = `${absolute}#vision#v=`;
  const { cache, cacheKey, hit } = await lookupCached(absolute, prefix);
  const cachedConfig = hit?.headers.get('x-vip5-clip-config');
  if (hit && cachedConfig) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    reportCached(url, bytes.length, onProgress);
    const config = decodeURIComponent(cachedConfig);
    return { bytes, config, cached: true, seconds: (performance.now() - started) / 1000 };
  }
  onProgress({ status: 'download', file: url });
  const configUrl = new URL('config.json', absolute).href;
  const configResponse = await fetch(configUrl, { cache: 'no-cache' }).catch(e => {
    throw new Vip5Error(`${configUrl}: download failed (${e.message})`, { cause: e });
  });
  if (!configResponse.ok) {
    throw new Vip5Error(
      `${configUrl}: HTTP ${configResponse.status} ` +
        '(the CLIP config.json must sit beside model.safetensors)',
    );
  }
  const config = await configResponse.text();
  const lenBytes = await fetchRange(absolute, 0, 8, opts);
  const headerLen = Number(new DataView(lenBytes.buffer).getBigUint64(0, true));
  if (headerLen > 100_000_000) {
    throw new Vip5Error(`${url} is not a safetensors file (header of ${headerLen} bytes)`);
  }
  const headerBytes = await fetchRange(absolute, 8, 8 + headerLen, opts);
  const header = JSON.parse(new TextDecoder().decode(headerBytes));
  const base = 8 + headerLen;
  const names = Object.keys(header).filter(n => n !== '__metadata__' && isVisionTensor(n));
  if (names.length === 0) {
    throw new Vip5Error(
      `${url} has no CLIP vision tensors (vision_model.*, visual_projection.weight)`,
    );
  }
  names.sort((a, b) => header[a].data_offsets[0] - header[b].data_offsets[0]);
  // Merge neighbouring ranges into few requests.
  const spans = [];
  for (const n of names) {
    const [s, e] = header[n].data_offsets;
    const last = spans[spans.length - 1];
    if (last && s - last.end < 65536) last.end = Math.max(last.end, e);
    else spans.push({ start: s, end: e });
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
    const { dtype, shape } = header[n];
    newHeader[n] = { dtype, shape, data_offsets: [offset, offset + (e - s)] };
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
    const headers = { 'x-vip5-clip-config': encodeURIComponent(config) };
    await replaceCachedVersion(cache, prefix, cacheKey, new Response(bytes, { headers }), url);
  }
  onProgress({ status: 'done', file: url, cached: false });
  return { bytes, config, cached: false, seconds: (performance.now() - started) / 1000 };
}

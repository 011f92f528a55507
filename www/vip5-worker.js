// The vip5 Web Worker: loads the wasm module and answers the page's calls, so that the page's
// main thread never runs the model. Messages: { id, op, args } -> { id, ok, result | error,
// fatal }.
import init, { Engine } from './vip5-web.js';

let engine = null;
let ready = null;
// The engine's backend once built ('webgpu' or 'cpu'; null while it is being built).
let backendInUse = null;
// Calls in flight: a lost device answers them at once instead of leaving them hanging.
const pending = new Set();
// Why the WebGPU device was lost, once it was; `lost` resolves then.
let deviceLost = null;
let markLost;
const lost = new Promise(resolve => { markLost = resolve; });

function lostError() {
  return { error: `the WebGPU device was lost (${deviceLost})`, fatal: true, lost: deviceLost };
}

// Every device the wasm module asks for is watched (burn creates it inside Rust). When one is
// lost, the calls in flight and every later one are answered with `lost`: the page restarts the
// worker on the CPU and asks again.
if (typeof GPUAdapter !== 'undefined') {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    device.lost.then(info => {
      if (backendInUse === 'cpu' || deviceLost) return;
      deviceLost = `${info.reason ?? 'unknown'}${info.message ? `: ${info.message}` : ''}`;
      markLost();
      for (const id of pending) self.postMessage({ id, ok: false, ...lostError() });
      pending.clear();
    });
    return device;
  };
}

function message(e) {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  return String(e);
}

// A wasm trap (a Rust panic compiles to `unreachable`) leaves the module unusable: the page
// restarts the worker.
function isFatal(e) {
  return e instanceof WebAssembly.RuntimeError ||
    /unreachable|device (was )?lost|out of memory/i.test(message(e));
}

const ops = {
  async init({ bundle, clip, clipConfig, backend }) {
    const t0 = performance.now();
    ready ??= init({ module_or_path: new URL('vip5-web_bg.wasm', import.meta.url) });
    await ready;
    const t1 = performance.now();
    engine?.free();
    backendInUse = null;
    engine = await Engine.create(bundle, backend);
    backendInUse = engine.backend();
    if (clip && clipConfig) engine.loadClipSafetensors(clip, clipConfig);
    else if (clip) engine.loadClip(clip);
    const t2 = performance.now();
    const catalog = JSON.parse(engine.catalogJson());
    const t3 = performance.now();
    const timings = [
      { step: 'wasm', ms: t1 - t0 },
      ...engine.loadTimings(),
      { step: 'engine total', ms: t2 - t1 },
      { step: 'catalog to JS', ms: t3 - t2 },
    ];
    return { backend: engine.backend(), reason: engine.backendReason(), catalog, timings };
  },
  recommendNext: ({ history, k, exclude, only }) =>
    engine.recommendNext(history, k, exclude, only ?? undefined),
  rankCandidates: ({ history, candidates }) => engine.rankCandidates(history, candidates),
  score: ({ history, items }) => engine.score(history, items),
  embedImage: async ({ rgba, width, height }) => engine.embedImage(rgba, width, height),
  scorePhoto: ({ history, rgba, width, height }) => engine.scorePhoto(history, rgba, width, height),
  trace: ({ history, beams, steps }) => engine.traceJson(history, beams, steps),
  // The wasm module's linear memory: it only ever grows, so this is the most the model has held
  // at once in this worker (tensors, weights, the catalogue), GPU buffers aside.
  memoryBytes: async () => (await ready).memory.buffer.byteLength,
};

self.onmessage = async ({ data: { id, op, args } }) => {
  if (deviceLost) {
    self.postMessage({ id, ok: false, ...lostError() });
    return;
  }
  pending.add(id);
  try {
    if (!ops[op]) throw new Error(`unknown operation ${op}`);
    if (op !== 'init' && !engine) throw new Error('the model is not loaded yet');
    const result = await ops[op](args);
    if (pending.delete(id)) self.postMessage({ id, ok: true, result });
  } catch (e) {
    const fatal = isFatal(e);
    // A trap on WebGPU may be the lost device's doing, its `lost` event not seen yet: wait a
    // moment.
    if (fatal && backendInUse !== 'cpu' && !deviceLost)
      await Promise.race([lost, new Promise(r => setTimeout(r, 100))]);
    if (!pending.delete(id)) return; // answered already (the device was lost)
    if (deviceLost) {
      self.postMessage({ id, ok: false, ...lostError() });
      return;
    }
    // After a trap, the Rust panic message (left by the panic hook) says more than "unreachable".
    const error =
      fatal && self.__vip5LastPanic ? `${self.__vip5LastPanic} (${message(e)})` : message(e);
    self.__vip5LastPanic = undefined;
    self.postMessage({ id, ok: false, error, fatal });
  }
};

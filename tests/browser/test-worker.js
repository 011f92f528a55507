// The production worker (vip5-worker.js) with test-only operations beside it, for parity.js:
// a Rust panic on purpose, destroying the WebGPU device (a lost device), and the GPU traffic
// counts. Served only by the test server; the production worker has none of these. It runs the
// production worker's code against the test build of the wasm (test-wasm/: the same library
// with `__panicForTests`, scripts/build_test_wasm.sh); the site's wasm has no such export.
import { counts, devices } from './gpu-hooks.js';
import './test-wasm/vip5-worker.js';
import { __panicForTests } from './test-wasm/vip5-web.js';

const production = self.onmessage;
const testOps = {
  panicForTests: () => __panicForTests(),
  destroyDevices: () => {
    for (const d of devices) d.destroy();
    return devices.length;
  },
  // The counts since the last call, then zeroed.
  gpuCounts: () => {
    const now = { ...counts };
    for (const k of Object.keys(counts)) counts[k] = 0;
    return now;
  },
};

self.onmessage = event => {
  const { id, op } = event.data;
  if (!testOps[op]) return production(event);
  try {
    self.postMessage({ id, ok: true, result: testOps[op]() });
  } catch (e) {
    const error = self.__vip5LastPanic
      ? `${self.__vip5LastPanic} (${e.message})`
      : String(e?.message ?? e);
    self.__vip5LastPanic = undefined;
    self.postMessage({ id, ok: false, error, fatal: e instanceof WebAssembly.RuntimeError });
  }
};

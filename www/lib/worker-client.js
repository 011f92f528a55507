// The page's side of the vip5 Web Worker: calls as promises over postMessage, the worker's
// failures as Vip5Errors, a restart after a wasm trap, and the move to the CPU when the WebGPU
// device is lost. The model never runs on the page's main thread.

import { Vip5Error } from './errors.js';

/** One module worker at `url`; `call` sends { id, op, args } and resolves with its answer. */
export class WorkerClient {
  constructor(url) { this.url = url; this.pending = new Map(); this.next = 1; this.start(); }

  start() {
    this.worker = new Worker(this.url, { type: 'module' });
    this.worker.onmessage = ({ data }) => {
      const p = this.pending.get(data.id);
      if (!p) return;
      this.pending.delete(data.id);
      if (data.ok) {
        p.resolve(data.result);
        return;
      }
      const error = new Vip5Error(data.error, { fatal: data.fatal });
      p.reject(Object.assign(error, { deviceLost: data.lost }));
    };
    this.worker.onerror = e => {
      e.preventDefault?.();
      const why = e.message || 'script error (is vip5-worker.js served?)';
      this.failAll(`the vip5 worker failed: ${why}`);
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
export function recoverOnCpu(rec, reason) {
  rec.recovery ??= (async () => {
    console.warn(`vip5: the WebGPU device was lost (${reason}); moving to the CPU`);
    rec.worker.restart();
    rec.source.backend = 'cpu';
    await rec.init();
    rec.backendReasonText = `the WebGPU device was lost (${reason}): CPU fallback`;
    if (rec.info) {
      Object.assign(rec.info, { backend: rec.backendName, backendReason: rec.backendReasonText });
    }
  })().finally(() => { rec.recovery = null; });
  return rec.recovery;
}

// Answers the fixed queries of queries.json with the library as a page uses it (worker, cache,
// IndexedDB history), for tests/tests/browser.rs to compare with the native answers.
import { Recommender } from '/vip5.js';

function imageData({ width, height, rgba }) {
  return new ImageData(new Uint8ClampedArray(rgba), width, height);
}

window.runParity = async (q, backend) => {
  const out = {};
  // The progress events of a first (network) and a second (Cache API) load.
  out.progress = [];
  // The production worker with test-only operations beside it (test-worker.js).
  const workerUrl = '/fixtures/test-worker.js';
  const rec = await Recommender.load({
    bundle: '/fixtures/bundle.gguf',
    clip: '/fixtures/clip.gguf',
    backend,
    workerUrl,
    onProgress: p => out.progress.push(p),
  });
  out.cachedProgress = [];
  (
    await Recommender.load({
      bundle: '/fixtures/bundle.gguf',
      backend,
      onProgress: p => out.cachedProgress.push(p),
    })
  ).terminate();
  out.backend = rec.backend();
  out.reason = rec.backendReason();
  await rec.clearHistory();
  for (const key of q.history) await rec.record(key);
  out.history = (await rec.history()).map(e => e.key);
  out.next = await rec.recommendNext(q.k, { exclude: q.exclude });
  out.only = await rec.recommendNext(q.k, { only: q.only });
  out.scores = [];
  for (const key of q.score) out.scores.push(await rec.score(key));
  out.ranked = await rec.rankCandidates(q.candidates);
  out.features = Array.from(await rec.embedImage(imageData(q.image)));
  out.photo = await rec.scorePhoto(imageData(q.image));
  out.memoryBytes = await rec.memoryBytes();
  // Errors reach the page as exceptions with a message.
  try {
    await rec.rankCandidates(['NOT-A-KEY']);
    out.unknownError = null;
  } catch (e) {
    out.unknownError = e.message;
  }
  // A panic in the worker: the call is rejected with the panic's message, the worker restarts,
  // and the next call answers as before.
  try {
    await rec.call('panicForTests', {});
    out.panicError = null;
  } catch (e) {
    out.panicError = e.message;
  }
  out.afterPanic = await rec.score(q.score[0]);
  // The production worker has no such operation.
  const production = await Recommender.load({ bundle: '/fixtures/bundle.gguf', backend });
  try {
    await production.call('panicForTests', {});
    out.productionPanic = null;
  } catch (e) {
    out.productionPanic = { message: e.message, fatal: e.fatal };
  }
  production.terminate();
  if (backend === 'webgpu') {
    // What crosses between the GPU and the CPU: the load, then two recommendNext calls.
    const counted = await Recommender.load({ bundle: '/fixtures/bundle.gguf', backend, workerUrl });
    const counts = { load: await counted.worker.call('gpuCounts') };
    await counted.recommendNext(q.k, { exclude: q.exclude });
    counts.first = await counted.worker.call('gpuCounts');
    await counted.recommendNext(q.k, { exclude: q.exclude });
    counts.second = await counted.worker.call('gpuCounts');
    await counted.score(q.score[0]);
    counts.score = await counted.worker.call('gpuCounts');
    out.gpuCounts = counts;
    // A lost device (destroyed by the test) while recommendNext runs: the call is answered on the
    // CPU, the backend says so, and later calls answer there.
    const pending = counted.recommendNext(q.k, { exclude: q.exclude });
    const destroyed = await counted.worker.call('destroyDevices');
    const lost = { destroyed };
    lost.pending = await pending.then(v => v, e => ({ error: e.message }));
    lost.backend = counted.backend();
    lost.reason = counted.backendReason();
    lost.after = await counted.recommendNext(q.k, { exclude: q.exclude });
    lost.score = await counted.score(q.score[0]);
    out.deviceLost = lost;
    counted.terminate();
  }
  try {
    await Recommender.load({ bundle: '/fixtures/missing.gguf', backend });
    out.missingError = null;
  } catch (e) {
    out.missingError = e.message;
  }
  try {
    await Recommender.load({ bundle: '/fixtures/queries.json', backend });
    out.notBundleError = null;
  } catch (e) {
    out.notBundleError = e.message;
  }
  rec.terminate();
  // The shipped demo bundle on the asked backend (explicit: no fallback): the demo visitors' lists.
  out.demoBundle = await (async () => {
    let demo;
    try {
      demo = await Recommender.load({ bundle: '/assets/demo-q8_0.gguf', backend });
      const lists = [];
      for (const keys of q.demoHistories ?? []) {
        await demo.clearHistory();
        for (const key of keys) await demo.record(key);
        lists.push(await demo.recommendNext(10));
      }
      return { backend: demo.backend(), reason: demo.backendReason(), lists, error: null };
    } catch (e) {
      return {
        backend: demo?.backend(),
        reason: demo?.backendReason(),
        lists: [],
        error: e.message,
      };
    } finally {
      await demo?.clearHistory();
      demo?.terminate();
    }
  })();
  // A t5-small-shaped bundle (random weights, the paper's size) on the asked backend, no fallback.
  if (q.t5Small) out.t5SmallBundle = await (async () => {
    let big;
    try {
      const t0 = performance.now();
      big = await Recommender.load({ bundle: '/fixtures/t5-small-q8_0.gguf', backend });
      const loadSeconds = (performance.now() - t0) / 1000;
      await big.clearHistory();
      for (const key of q.t5Small.history) await big.record(key);
      const t1 = performance.now();
      const next = await big.recommendNext(10);
      const recommendSeconds = (performance.now() - t1) / 1000;
      const scores = [];
      for (const key of q.t5Small.score) scores.push(await big.score(key));
      return {
        backend: big.backend(),
        reason: big.backendReason(),
        next,
        scores,
        loadSeconds,
        recommendSeconds,
        error: null,
      };
    } catch (e) {
      return {
        backend: big?.backend(),
        reason: big?.backendReason(),
        next: [],
        scores: [],
        error: e.message,
      };
    } finally {
      await big?.clearHistory();
      big?.terminate();
    }
  })();
  // NaN weights on `auto`: the WebGPU self-check fails and the CPU path refuses to answer.
  out.nanBundle = await (async () => {
    const bad = await Recommender.load({ bundle: '/fixtures/nan-bundle.gguf', backend: 'auto' });
    const info = { backend: bad.backend(), reason: bad.backendReason(), error: null };
    await bad.record(q.history[0]);
    try { await bad.recommendNext(3); } catch (e) { info.error = e.message; }
    await bad.clearHistory();
    bad.terminate();
    return info;
  })();
  // The library's download helper inside a worker (no `document` there).
  out.workerFetch = await new Promise(resolve => {
    const w = new Worker('/fixtures/fetch-worker.js', { type: 'module' });
    w.onmessage = e => { resolve(e.data); w.terminate(); };
    w.onerror = e => { resolve({ error: e.message ?? 'worker error' }); w.terminate(); };
  });
  // CLIP straight from a Hugging Face model.safetensors: only the vision tower's ranges.
  const hf = await Recommender.load({
    bundle: '/fixtures/bundle.gguf',
    clip: '/fixtures/clip/model.safetensors',
    backend,
  });
  out.hfFeatures = Array.from(await hf.embedImage(imageData(q.image)));
  hf.terminate();
  return out;
};

const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** The seconds `f` took, and what it returned. */
const timed = async f => {
  const start = performance.now();
  const result = await f();
  return [(performance.now() - start) / 1000, result];
};

// For bench/browser_cpu.sh: median time of recommendNext over `reps` calls, after one warm-up.
window.benchRecommend = async (bundle, history, k, reps, backend) => {
  const t0 = performance.now();
  const rec = await Recommender.load({ bundle, backend });
  const loadSeconds = (performance.now() - t0) / 1000;
  await rec.clearHistory();
  for (const key of history) await rec.record(key);
  // Warm-ups: the engine compiles its hot wasm functions with the optimising tier as they run.
  for (let i = 0; i < 3; i++) await rec.recommendNext(k);
  const times = [];
  const historyReads = [];
  const workerCalls = [];
  let last = null;
  for (let i = 0; i < reps; i++) {
    const [seconds, next] = await timed(() => rec.recommendNext(k));
    times.push(seconds);
    last = next;
    // The same call split: the history read from IndexedDB, then the worker's answer alone.
    const [read, keys] = await timed(() => rec.historyKeys());
    const [call] = await timed(() =>
      rec.call('recommendNext', { history: keys, k, exclude: [], only: null }),
    );
    historyReads.push(read);
    workerCalls.push(call);
  }
  const memoryBytes = await rec.memoryBytes();
  rec.terminate();
  return {
    backend: rec.backend(),
    memoryBytes,
    info: rec.info,
    steps: rec.info.steps,
    loadSeconds,
    cached: rec.info.cached,
    medianSeconds: median(times),
    times,
    historyReadSeconds: median(historyReads),
    workerCallSeconds: median(workerCalls),
    next: last.map(r => r.key),
  };
};

// For bench/compare.sh (row 5): CLIP's image embedding in the page, the median over `reps` calls
// on a 224 x 224 image (no resize) after warm-ups, and the worker's memory afterwards.
window.benchClip = async (bundle, clip, reps) => {
  const rec = await Recommender.load({ bundle, clip, backend: 'cpu' });
  const image = new ImageData(224, 224);
  for (let i = 0; i < image.data.length; i++) image.data[i] = (i * 37) % 251;
  for (let i = 0; i < 2; i++) await rec.embedImage(image);
  const times = [];
  let features = null;
  for (let i = 0; i < reps; i++) {
    const [seconds, embedding] = await timed(() => rec.embedImage(image));
    times.push(seconds);
    features = embedding;
  }
  const memoryBytes = await rec.memoryBytes();
  rec.terminate();
  return {
    backend: rec.backend(),
    medianSeconds: median(times),
    times,
    memoryBytes,
    dims: features.length,
  };
};

// For `run.mjs --trace`: the forward pass of one history on WebGPU and on the CPU, stage by stage,
// and how far apart each stage is (the first stage that differs is where to look).
window.traceBoth = async (bundle, history, beams, steps) => {
  const runs = {};
  for (const backend of ['webgpu', 'cpu']) {
    const rec = await Recommender.load({ bundle, backend });
    try {
      runs[backend] = {
        backend: rec.backend(),
        reason: rec.backendReason(),
        stages: JSON.parse(await rec.call('trace', { history, beams, steps })),
      };
    } catch (e) {
      runs[backend] = {
        backend: rec.backend(),
        reason: rec.backendReason(),
        error: e.message,
        stages: [],
      };
    } finally {
      rec.terminate();
    }
  }
  const nonFinite = s => s.values.filter(v => v === null || !Number.isFinite(v)).length;
  const diffs = runs.webgpu.stages.map((s, i) => {
    const c = runs.cpu.stages[i];
    let max = 0;
    for (let j = 0; j < s.values.length; j++) {
      const d = Math.abs((s.values[j] ?? NaN) - (c.values[j] ?? NaN));
      max = Number.isNaN(d) ? NaN : Math.max(max, d);
    }
    const maxAbsCpu = c.values.reduce((m, v) => Math.max(m, Math.abs(v ?? 0)), 0);
    return {
      name: s.name,
      shape: s.shape,
      maxAbsDiff: max,
      maxAbsCpu,
      nonFiniteWebgpu: nonFinite(s),
      nonFiniteCpu: nonFinite(c),
    };
  });
  return {
    webgpu: { backend: runs.webgpu.backend, reason: runs.webgpu.reason, error: runs.webgpu.error },
    cpu: { backend: runs.cpu.backend, error: runs.cpu.error },
    diffs,
  };
};

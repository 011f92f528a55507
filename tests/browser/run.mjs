// Browser end-to-end tests, driven by `tests/tests/browser.rs` (so they run under nextest):
//
//   node tests/browser/run.mjs --dist dist --fixtures <dir> --out <dir>
//
// <dir> holds `bundle.gguf`, `clip.gguf`, `clip/model.safetensors` + `clip/config.json` and
// `queries.json` (the queries the native side answered). The site is served from a local server
// that honours HTTP Range; headless Chromium (Debian's) runs it twice: with the SwiftShader WebGPU
// adapter and with WebGPU off (CPU path). Writes `<out>/report.json` with every answer, the
// request logs, main-thread long tasks and timings, and screenshots; the Rust test asserts.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { staticServer } from '../../scripts/serve.mjs';
import { launchChromium } from './chromium.mjs';

/**
 * Clicks a product's "add to my history" button and waits until the page has refreshed its
 * recommendations `refreshes` times in all (the page counts them in data-recommendations).
 */
async function addToHistory(page, item, refreshes) {
  await item.locator('button', { hasText: 'add to my history' }).click();
  await page.waitForFunction(
    c => document.body.dataset.recommendations === String(c),
    refreshes,
    { timeout: 300_000 },
  );
}

const args = Object.fromEntries(
  process.argv.slice(2).reduce(
    (acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc),
    [],
  ),
);
const dist = resolve(args.dist ?? 'dist');
const fixtures = resolve(args.fixtures);
const out = resolve(args.out);
await mkdir(out, { recursive: true });

// Static files: dist/ at the root, the fixtures under /fixtures/ (Range requests get 206).
const server = staticServer({ '/': dist, '/fixtures/': fixtures });
await new Promise(r => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;

if (args.bench) {
  // bench/browser_cpu.sh: recommendNext timed in the page on the CPU path (and WebGPU, for the
  // record).
  const spec = JSON.parse(args.bench);
  const results = {};
  for (const mode of ['cpu', 'webgpu']) {
    const browser = await launchChromium(mode);
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${origin}/fixtures/parity.html`);
    const first = await page.evaluate(
      a => window.benchRecommend(a.bundle, a.history, a.k, a.reps, a.backend),
      { ...spec, backend: mode === 'cpu' ? 'cpu' : 'webgpu' },
    );
    const second = await page.evaluate(
      a => window.benchRecommend(a.bundle, a.history, a.k, 1, a.backend),
      { ...spec, backend: mode === 'cpu' ? 'cpu' : 'webgpu' },
    );
    results[mode] = {
      ...first,
      secondLoadSeconds: second.loadSeconds,
      secondCached: second.cached,
    };
    await browser.close();
  }
  await writeFile(join(out, 'bench.json'), JSON.stringify(results, null, 2));
  console.log(JSON.stringify(results));
  server.close();
  process.exit(0);
}

if (args['page-bench']) {
  // bench/compare.sh, row 5: each case in its own browser (a fresh worker, so that its memory is
  // the case's own), on the CPU path. Cases: { name, bundle, history, k, reps } times
  // recommendNext; { name, bundle, clip, reps } times embedImage.
  const cases = JSON.parse(args['page-bench']);
  const results = {};
  for (const c of cases) {
    const browser = await launchChromium('cpu');
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', e => console.error(`[page] ${e.message}`));
    await page.goto(`${origin}/fixtures/parity.html`);
    results[c.name] = c.clip
      ? await page.evaluate(a => window.benchClip(a.bundle, a.clip, a.reps), c)
      : await page.evaluate(
        a => window.benchRecommend(a.bundle, a.history, a.k, a.reps, 'cpu'),
        c,
      );
    await browser.close();
  }
  await writeFile(join(out, 'page-bench.json'), JSON.stringify(results, null, 2));
  server.close();
  process.exit(0);
}

if (args.trace) {
  // The WebGPU bisection: one history's forward pass on SwiftShader WebGPU and on the CPU path.
  const spec = JSON.parse(args.trace);
  const browser = await launchChromium('webgpu');
  const page = await (await browser.newContext()).newPage();
  page.on('console', m => console.error(`[page] ${m.text()}`));
  await page.goto(`${origin}/fixtures/parity.html`);
  const result = await page.evaluate(
    a => window.traceBoth(a.bundle, a.history, a.beams, a.steps),
    spec,
  );
  await browser.close();
  await writeFile(join(out, 'trace.json'), JSON.stringify(result, null, 2));
  console.log(JSON.stringify(result));
  server.close();
  process.exit(0);
}

const queries = JSON.parse(await readFile(join(fixtures, 'queries.json'), 'utf8'));
// Optional: histories (item keys) for the bundled demo model's two-visitor check.
const demoHistories = await readFile(join(fixtures, 'demo_histories.json'), 'utf8').then(
  JSON.parse,
  () => null,
);

async function runMode(mode, result) {
  const browser = await launchChromium(mode);
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  try {
    // 1. Parity: the library's answers for the fixed queries (the test page, not the demo).
    const page = await context.newPage();
    page.on('console', m => result.console.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', e => result.console.push(`pageerror: ${e.message}`));
    await page.goto(`${origin}/fixtures/parity.html`);
    result.parity = await page.evaluate(
      async ({ queries, backend }) => window.runParity(queries, backend),
      { queries, backend: mode === 'webgpu' ? 'webgpu' : 'auto' },
    );
    await page.close();

    // 2. The demo shop, twice with two histories of different lengths: the request logs must be
    //    identical (nothing about the history, not even its length, reaches the network).
    for (const [i, clicks] of [[0, 3, 5], [7, 2, 9, 4, 11]].entries()) {
      const session = await browser.newContext({ viewport: { width: 1200, height: 900 } });
      const p = await session.newPage();
      const requests = [];
      // The demo's console must stay clean (a CSP violation is logged as an error).
      p.on(
        'console',
        m => m.type() === 'error' && result.demoConsole.push(`session ${i}: ${m.text()}`),
      );
      p.on('request', r =>
        requests.push(
          `${r.method()} ${r.url().replace(origin, '')}` +
            `${r.headers().range ? ` range=${r.headers().range}` : ''}`,
        ),
      );
      await p.addInitScript(() => {
        window.__longTasks = [];
        new PerformanceObserver(l =>
          l.getEntries().forEach(e => window.__longTasks.push(e.duration)),
        ).observe({ type: 'longtask', buffered: true });
      });
      const t0 = Date.now();
      await p.goto(
        `${origin}/index.html?bundle=fixtures/bundle.gguf&clip=fixtures/clip.gguf` +
          `&backend=${mode === 'webgpu' ? 'webgpu' : 'auto'}`,
      );
      await p.waitForSelector('body[data-ready="true"]', { timeout: 300_000 });
      const firstLoad = (Date.now() - t0) / 1000;
      const backendShown = await p.textContent('#backend');
      // The page counts finished recommendation refreshes; each click adds one.
      for (const [done, n] of clicks.entries()) {
        await addToHistory(p, p.locator('#items li').nth(n), done + 1);
      }
      const recs = await p.locator('#recs li').evaluateAll(lis => lis.map(li => li.dataset.key));
      const history = await p
        .locator('#history li')
        .evaluateAll(lis => lis.map(li => li.dataset.key));
      await p.screenshot({ path: join(out, `${mode}-session${i}.png`), fullPage: true });
      // A second visit in the same profile: the bundles come from the Cache API.
      const t1 = Date.now();
      await p.reload();
      await p.waitForSelector('body[data-ready="true"]', { timeout: 300_000 });
      const cachedLoad = (Date.now() - t1) / 1000;
      const cachedFlag = await p.getAttribute('body', 'data-cached');
      const longTasks = await p.evaluate(() => window.__longTasks);
      result.sessions.push({
        clicks,
        history,
        recs,
        backendShown,
        firstLoad,
        cachedLoad,
        cachedFlag,
        requests,
        longTasks,
        error: await p.textContent('#error'),
      });
      await session.close();
    }
    // 2b. The Content-Security-Policy holds: a fetch and an <img> to another origin, injected into
    //     the demo page, are both blocked and reported as violations.
    if (mode === 'cpu') {
      const session = await browser.newContext();
      const p = await session.newPage();
      await p.goto(`${origin}/index.html?bundle=fixtures/bundle.gguf&backend=cpu`);
      await p.waitForSelector('body[data-ready="true"]', { timeout: 300_000 });
      result.csp = await p.evaluate(async () => {
        const violations = [];
        document.addEventListener('securitypolicyviolation', e =>
          violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI }),
        );
        let fetchError = null;
        try {
          await fetch('http://127.0.0.2:9/collect?history=1');
        } catch (e) {
          fetchError = String(e);
        }
        const img = await new Promise(r => {
          const i = new Image();
          i.onload = () => r('loaded');
          i.onerror = () => r('error');
          i.src = 'http://127.0.0.2:9/pixel.png';
          document.body.append(i);
        });
        await new Promise(r => setTimeout(r, 300));
        return { violations, fetchError, img };
      });
      await session.close();
    }
    // 3. The bundled demo model (dist/assets), CPU path: two visitors with histories from two
    //    product lines, each key typed into the search box and added; their top-10 lists.
    if (mode === 'cpu' && demoHistories) {
      result.demo = [];
      for (const [i, keys] of demoHistories.entries()) {
        const session = await browser.newContext({ viewport: { width: 1200, height: 1400 } });
        const p = await session.newPage();
        p.on('pageerror', e => result.console.push(`demo pageerror: ${e.message}`));
        p.on(
          'console',
          m => m.type() === 'error' && result.demoConsole.push(`visitor ${i}: ${m.text()}`),
        );
        await p.goto(`${origin}/index.html?backend=cpu`);
        await p.waitForSelector('body[data-ready="true"]', { timeout: 300_000 });
        for (const [done, key] of keys.entries()) {
          await p.fill('#search', key);
          await addToHistory(p, p.locator(`#items li[data-key="${key}"]`), done + 1);
        }
        const recs = await p.locator('#recs li').evaluateAll(lis => lis.map(li => li.dataset.key));
        await p.screenshot({ path: join(out, `demo-visitor${i}.png`), fullPage: true });
        result.demo.push({ keys, recs, error: await p.textContent('#error') });
        await session.close();
      }
    }
  } finally {
    await browser.close();
  }
  return result;
}

const report = { origin, modes: [] };
for (const mode of ['webgpu', 'cpu']) {
  const result = { mode, sessions: [], console: [], demoConsole: [] };
  try {
    await runMode(mode, result);
  } catch (e) {
    result.failure = String(e?.stack ?? e);
  }
  report.modes.push(result);
}
await writeFile(join(out, 'report.json'), JSON.stringify(report, null, 2));
server.close();
console.log(`browser report: ${join(out, 'report.json')}`);

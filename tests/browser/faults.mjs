// The library under faults in headless Chromium (CPU path), driven by
// tests/tests/browser_faults.rs:
//
//   node tests/browser/faults.mjs --dist dist --fixtures <dir> --out <dir>
//
// <dir> holds `bundle.gguf` and the test pages. Besides dist/ and /fixtures/, the server answers
// /<fault>/bundle.gguf with the fixture bundle and a fault on its GETs: `cut-once` (the first GET
// closes the connection halfway), `stall-once` (the first GET sends half, then nothing),
// `cut-3` (the first three GETs cut), `cut-once-no-range` (cut once, and Range is ignored),
// `quota` (no fault; the page makes the Cache API fail). A cut waits until the page says (GET
// /ack/<fault>) that its reader holds bytes of this try: a stream that errors drops the chunks it
// has not handed out yet, so cutting at once leaves a busy page nothing to resume from. Writes
// <out>/faults.json: the page's results and every request the server saw.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { staticServer } from '../../scripts/serve.mjs';
import { launchChromium } from './chromium.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce(
    (acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc),
    [],
  ),
);
const fixtures = resolve(args.fixtures);
const out = resolve(args.out);
await mkdir(out, { recursive: true });
const bundle = await readFile(join(fixtures, 'bundle.gguf'));
const etag = `"bundle-${bundle.length}"`;

const requests = [];
const gets = new Map();
const statics = staticServer({ '/': resolve(args.dist ?? 'dist'), '/fixtures/': fixtures });
const sockets = new Set();
// fault -> the cut waiting for the page's acknowledgement; faults acknowledged before their cut
// was armed (the page can read the first bytes before the whole half is written).
const pendingCuts = new Map();
const earlyAcks = new Set();
const server = createServer((req, res) => {
  const path = new URL(req.url, 'http://localhost').pathname;
  const ack = /^\/ack\/([a-z0-9-]+)$/.exec(path)?.[1];
  if (ack) {
    if (pendingCuts.has(ack)) pendingCuts.get(ack)();
    else earlyAcks.add(ack);
    pendingCuts.delete(ack);
    res.writeHead(204).end();
    return;
  }
  const entry = {
    method: req.method,
    path,
    range: req.headers.range ?? null,
    ifRange: req.headers['if-range'] ?? null,
  };
  requests.push(entry);
  const fault =
    /^\/(cut-once|stall-once|cut-3|cut-once-no-range|quota)\/bundle\.gguf$/.exec(path)?.[1];
  if (!fault) {
    res.on('finish', () => { entry.status = res.statusCode; });
    statics.emit('request', req, res);
    return;
  }
  const ranges = fault !== 'cut-once-no-range';
  const headers = {
    'content-type': 'application/octet-stream',
    etag,
    'cache-control': 'no-cache',
    ...(ranges ? { 'accept-ranges': 'bytes' } : {}),
  };
  const m = ranges ? /^bytes=(\d+)-$/.exec(req.headers.range ?? '') : null;
  const start =
    m && (!req.headers['if-range'] || req.headers['if-range'] === etag) ? Number(m[1]) : 0;
  const body = bundle.subarray(start);
  if (m && start > 0) {
    entry.status = 206;
    res.writeHead(206, {
      ...headers,
      'content-range': `bytes ${start}-${bundle.length - 1}/${bundle.length}`,
      'content-length': body.length,
    });
  } else {
    entry.status = 200;
    res.writeHead(200, { ...headers, 'content-length': bundle.length });
  }
  if (req.method === 'HEAD') { res.end(); return; }
  const n = (gets.get(path) ?? 0) + 1;
  gets.set(path, n);
  const faulty = {
    'cut-once': n === 1,
    'stall-once': n === 1,
    'cut-3': n <= 3,
    'cut-once-no-range': n === 1,
    quota: false,
  }[fault];
  if (!faulty) { entry.sent = body.length; res.end(body); return; }
  const half = body.subarray(0, Math.floor(body.length / 2));
  entry.sent = half.length;
  entry.fault = fault.startsWith('stall') ? 'stalled' : 'cut';
  // Cut: the connection closes once half is written and the page has read some of it (or after
  // 20 s without word). Stall: it stays open with nothing more.
  res.write(half, () => {
    if (entry.fault !== 'cut') return;
    const socket = res.socket;
    const cut = () => { clearTimeout(timer); socket?.destroy(); };
    if (earlyAcks.delete(fault)) { socket?.destroy(); return; }
    const timer = setTimeout(() => { pendingCuts.delete(fault); cut(); }, 20_000);
    pendingCuts.set(fault, cut);
  });
});
server.on('connection', s => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
await new Promise(r => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await launchChromium('cpu');
const result = { bundleBytes: bundle.length, console: [] };
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', m => result.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', e => result.console.push(`pageerror: ${e.message}`));
  await page.goto(`${origin}/fixtures/faults.html`);
  // A library without a stall timeout would wait for the stalled download forever: fail instead.
  let guard;
  result.downloads = await Promise.race([
    page.evaluate(() => window.downloadFaults()),
    new Promise((_, reject) => {
      guard = setTimeout(
        () =>
          reject(new Error('the downloads did not finish within 300 s (a stall never detected?)')),
        300_000,
      );
    }),
  ]).finally(() => clearTimeout(guard));

  // The history survives a reload, and the wipe empties IndexedDB.
  const keys = JSON.parse(args.keys ?? '[]');
  result.recorded = await page.evaluate(k => window.recordHistory(k), keys.slice(0, 3));
  await page.reload();
  result.afterReload = await page.evaluate(() => window.historyAfterReload());

  // Requests against the history: none at all once loaded, for a 1-item and a 20-item history.
  await page.reload();
  await page.evaluate(() => window.loadForHistoryUse());
  const before = requests.length;
  result.short = await page.evaluate(k => window.useHistory(k), keys.slice(0, 1));
  const between = requests.length;
  result.long = await page.evaluate(k => window.useHistory(k), keys.slice(0, 20));
  result.historyRequests = {
    short: requests.slice(before, between),
    long: requests.slice(between),
  };

  // Offline: what was fetched online once comes from the Cache API (bundle and CLIP by Range).
  result.online = await page.evaluate(() => window.fetchBoth());
  await context.setOffline(true);
  const offlineFrom = requests.length;
  result.offline = await page.evaluate(() => window.fetchBoth());
  result.offlineRequests = requests.slice(offlineFrom);
  await context.setOffline(false);
} catch (e) {
  result.failure = String(e?.stack ?? e);
} finally {
  await browser.close();
  for (const s of sockets) s.destroy();
  server.close();
}
result.requests = requests;
await writeFile(join(out, 'faults.json'), JSON.stringify(result, null, 2));
console.log(`faults report: ${join(out, 'faults.json')}`);
process.exit(0);

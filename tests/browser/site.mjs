// A shop's own page, built only from `trainer site` output (not the demo): driven by
// trainer/tests/site_browser.rs.
//
//   node tests/browser/site.mjs --site <trainer site --out> --clicks 3 --out <dir>
//
// Serves the folder as a static host would, opens its index.html in headless Chromium (CPU
// path), clicks the first products, and writes <out>/site.json: the status line, the
// recommendations, every request and the console's errors.
import { writeFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { staticServer } from '../../scripts/serve.mjs';
import { launchChromium } from './chromium.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce(
    (acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc),
    [],
  ),
);
const out = resolve(args.out);
await mkdir(out, { recursive: true });
const server = staticServer({ '/': resolve(args.site) });
await new Promise(r => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await launchChromium('cpu');
const result = { requests: [], errors: [] };
try {
  const page = await (await browser.newContext()).newPage();
  page.on('request', r => result.requests.push({ method: r.method(), url: r.url() }));
  page.on('console', m => m.type() === 'error' && result.errors.push(m.text()));
  page.on('pageerror', e => result.errors.push(`pageerror: ${e.message}`));
  await page.goto(`${origin}/index.html`);
  await page.waitForFunction(
    () => document.getElementById('status').textContent.startsWith('Ready'),
    null,
    { timeout: 300_000 },
  );
  result.status = await page.textContent('#status');
  const clicks = Number(args.clicks ?? 3);
  result.clicked = [];
  for (let i = 0; i < clicks; i++) {
    const button = page.locator('#products li button').nth(i);
    result.clicked.push(await button.textContent());
    // Each click records the product and redraws the list (all its items appended at once).
    await page.evaluate(() => {
      window.__before = document.getElementById('recommendations').firstElementChild;
    });
    await button.click();
    await page.waitForFunction(() => {
      const first = document.getElementById('recommendations').firstElementChild;
      return first !== null && first !== window.__before;
    }, null, { timeout: 300_000 });
  }
  result.recommendations = await page.locator('#recommendations li').allTextContents();
  await page.screenshot({ path: join(out, 'site.png'), fullPage: true });
  await page.click('#forget');
  await page.waitForFunction(
    () => document.querySelectorAll('#recommendations li').length === 0,
    null,
    { timeout: 60_000 },
  );
  result.afterForget = await page.evaluate(() => new Promise((res, rej) => {
    const req = indexedDB.open('vip5-history');
    req.onsuccess = () => {
      const tx = req.result.transaction('events', 'readonly');
      const all = tx.objectStore('events').getAll();
      all.onsuccess = () => res(all.result.length);
      all.onerror = () => rej(all.error);
    };
    req.onerror = () => rej(req.error);
  }));
} catch (e) {
  result.failure = String(e?.stack ?? e);
} finally {
  await browser.close();
  server.close();
}
result.origin = origin;
await writeFile(join(out, 'site.json'), JSON.stringify(result, null, 2));
console.log(`site report: ${join(out, 'site.json')}`);

// The demo shop: browse the bundled Beauty catalogue, click items into a local history, and see
// what VIP5 recommends, on this device.
import { Recommender } from './vip5.js';

const $ = id => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = { rec: null, byKey: new Map() };

function showError(e) {
  console.error(e);
  $('error').hidden = false;
  $('error').textContent = e.message ?? String(e);
}

function itemRow(item, { onClick, label, score } = {}) {
  const li = document.createElement('li');
  li.dataset.key = item.key;
  const title = document.createElement('span');
  title.className = 'title';
  title.textContent = item.title || '(no title)';
  const key = document.createElement('span');
  key.className = 'key';
  key.textContent = item.key;
  li.append(title, key);
  if (score !== undefined) {
    const s = document.createElement('span');
    s.className = 'score';
    s.textContent = score;
    li.append(s);
  }
  if (onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label ?? 'add';
    b.addEventListener('click', () => onClick(item, li));
    li.append(b);
  }
  return li;
}

function renderItems() {
  const q = $('search').value.trim().toLowerCase();
  const matches = [];
  for (const item of state.rec.catalog()) {
    if (!q || item.title.toLowerCase().includes(q) || item.key.toLowerCase() === q)
      matches.push(item);
    if (matches.length >= 60) break;
  }
  $('items').replaceChildren(...matches.map(item => {
    const li = itemRow(item, { onClick: add, label: 'add to my history' });
    const ask = document.createElement('button');
    ask.type = 'button';
    ask.textContent = 'is this for me?';
    ask.className = 'ask';
    ask.addEventListener('click', () => askScore(item, li));
    li.append(ask);
    return li;
  }));
}

async function askScore(item, li) {
  try {
    const p = await state.rec.score(item.key);
    let s = li.querySelector('.score');
    if (!s) {
      s = document.createElement('span');
      s.className = 'score';
      li.insertBefore(s, li.querySelector('button'));
    }
    s.textContent = `${Math.round(100 * p)} % match`;
  } catch (e) { showError(e); }
}

async function renderHistory() {
  const history = await state.rec.history();
  $('history').replaceChildren(
    ...history.map(e =>
      itemRow(state.byKey.get(e.key) ?? { key: e.key, title: '(not in this catalogue)' }),
    ),
  );
}

async function refreshRecommendations() {
  const history = await state.rec.history();
  if (history.length === 0) {
    $('recs').replaceChildren();
    $('rec-time').textContent = '(add an item first)';
    return;
  }
  const t0 = performance.now();
  const recs = await state.rec.recommendNext(10);
  const ms = performance.now() - t0;
  $('rec-time').textContent = `(${ms.toFixed(0)} ms)`;
  // Best first (the list numbers them); the beam's log-probability means nothing to a visitor.
  $('recs').replaceChildren(...recs.map(r => itemRow(r, { onClick: add, label: 'add' })));
  document.body.dataset.recommendations = String(
    Number(document.body.dataset.recommendations ?? 0) + 1,
  );
}

async function add(item) {
  try {
    await state.rec.record(item.key);
    await renderHistory();
    await refreshRecommendations();
  } catch (e) { showError(e); }
}

async function scoreDroppedPhoto(file) {
  const bitmap = await createImageBitmap(file);
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  const p = await state.rec.scorePhoto(data);
  $('photo-result').textContent = `this photo: ${Math.round(100 * p)} % match`;
}

async function main() {
  const started = performance.now();
  const bundle = params.get('bundle') ?? 'assets/demo-q8_0.gguf';
  const clip = params.get('clip') ?? undefined;
  const backend = params.get('backend') ?? 'auto';
  state.rec = await Recommender.load({
    bundle,
    clip,
    backend,
    onProgress: p => {
      if (p.status === 'progress') {
        if (p.total) { $('progress').max = p.total; $('progress').value = p.loaded; }
        $('load-info').textContent =
          `${p.name}: ${(p.loaded / 1e6).toFixed(1)} MB` +
          `${p.total ? ` of ${(p.total / 1e6).toFixed(1)} MB` : ''}` +
          `${p.cached ? ' (from cache)' : ''}`;
      } else if (p.status === 'done' && p.name === 'bundle') {
        $('load-info').textContent = 'building the model…';
      }
    },
  });
  const info = state.rec.info;
  for (const item of state.rec.catalog()) state.byKey.set(item.key, item);
  $('bundle-info').textContent =
    `${bundle}: ${(info.bundleBytes / 1e6).toFixed(1)} MB, ${state.rec.catalog().length} items`;
  $('backend').textContent = `${state.rec.backend()} (${state.rec.backendReason()})`;
  $('load-info').textContent =
    `${((performance.now() - started) / 1000).toFixed(2)} s, ` +
    `${info.cached ? 'from the browser cache (no download)' : 'downloaded, now cached'}`;
  $('progress').hidden = true;
  document.body.dataset.backend = state.rec.backend();
  document.body.dataset.cached = String(info.cached);
  $('photo-result').textContent = clip ? 'drop a photo' : 'needs a CLIP bundle (?clip=URL)';
  $('search').addEventListener('input', renderItems);
  $('clear').addEventListener('click', async () => {
    await state.rec.clearHistory();
    await renderHistory();
    await refreshRecommendations();
  });
  const drop = $('drop');
  drop.addEventListener('dragover', e => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', e => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer.files[0];
    if (file) scoreDroppedPhoto(file).catch(showError);
  });
  renderItems();
  document.body.dataset.recommendations = '0';
  await renderHistory();
  await refreshRecommendations();
  document.body.dataset.ready = 'true';
}

main().catch(showError);

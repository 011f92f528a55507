// The visitor's history, in IndexedDB, keyed by the shop's stable item keys: it stays on this
// device, survives reloads and new bundles, and falls back to memory where IndexedDB is refused.

import { Vip5Error } from './errors.js';

const HISTORY_DB = 'vip5-history';

function openHistory() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(HISTORY_DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore('events', { autoIncrement: true });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new Vip5Error(
      `IndexedDB is unavailable (${req.error?.message}); ` +
        'the history lives in memory for this page only',
    ));
  });
}

/** The history's events ({ key, t }, oldest first), in IndexedDB or, failing that, in memory. */
export class HistoryStore {
  constructor(db) { this.db = db; this.memory = []; }

  static async open() {
    try {
      return new HistoryStore(await openHistory());
    } catch (e) {
      console.warn(e.message);
      return new HistoryStore(null);
    }
  }

  tx(mode, fn) {
    return new Promise((resolve, reject) => {
      const t = this.db.transaction('events', mode);
      const out = fn(t.objectStore('events'));
      t.oncomplete = () => resolve(out.result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  }

  async add(key) {
    const event = { key: String(key), t: Date.now() };
    if (!this.db) { this.memory.push(event); return; }
    try {
      await this.tx('readwrite', s => s.add(event));
    } catch (e) {
      // Quota or a private mode: keep going in memory and say so.
      this.memory.push(event);
      console.warn(
        `vip5: the history could not be stored (${e?.name}: ${e?.message}); ` +
          'kept in memory for this page',
      );
    }
  }

  async all() {
    if (!this.db) return [...this.memory];
    const stored = await this.tx('readonly', s => s.getAll());
    return [...stored, ...this.memory];
  }

  async clear() {
    this.memory = [];
    if (this.db) await this.tx('readwrite', s => s.clear());
  }
}

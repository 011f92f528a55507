// A static file server for the built site: the demo (`scripts/demo.sh`) and the browser tests
// (`tests/browser/run.mjs`). Serves the MIME types a page needs (`.wasm` as application/wasm),
// honours HTTP Range and If-Range (the CLIP reader fetches byte ranges; a cut download resumes),
// answers HEAD, never leaves its roots, and injects nothing into the pages (trunk serve's reload
// script broke the demo's CSP).
//
//   node scripts/serve.mjs [dir=dist] [port=8080]
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

export const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
};

/**
 * An HTTP server for static files. `mounts` maps a URL prefix ('/' or '/fixtures/') to a folder;
 * the longest matching prefix wins. `onRequest(req)` sees every request (the tests log them).
 */
export function staticServer(mounts, { onRequest } = {}) {
  const roots = Object.entries(mounts)
    .map(([prefix, dir]) => [prefix, resolve(dir)])
    .sort((a, b) => b[0].length - a[0].length);
  return createServer(async (req, res) => {
    onRequest?.(req);
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      const path = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
      const [prefix, root] = roots.find(([p]) => path.startsWith(p)) ?? [];
      if (!root) throw new Error('no mount');
      const rel = path.slice(prefix.length) || 'index.html';
      const file = resolve(root, rel.endsWith('/') ? `${rel}index.html` : rel);
      if (file !== root && !file.startsWith(root + sep)) throw new Error('outside the root');
      const info = await stat(file);
      const body = await readFile(file);
      const headers = {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'accept-ranges': 'bytes',
        etag: `"${info.size}-${Math.trunc(info.mtimeMs)}"`,
        'cache-control': 'no-cache',
      };
      // If-Range: the range only when the client's copy is this version, else the whole file.
      const ifRange = req.headers['if-range'];
      const range =
        ifRange && ifRange !== headers.etag
          ? null
          : /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (range) {
        const start = Number(range[1]);
        const end = range[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
        if (start > end) {
          res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
          return;
        }
        res.writeHead(206, {
          ...headers,
          'content-range': `bytes ${start}-${end}/${body.length}`,
          'content-length': end - start + 1,
        });
        res.end(req.method === 'HEAD' ? undefined : body.subarray(start, end + 1));
        return;
      }
      res.writeHead(200, { ...headers, 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404).end();
    }
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = process.argv[2] ?? 'dist';
  const port = Number(process.argv[3] ?? 8080);
  const server = staticServer({ '/': dir });
  server.listen(port, '127.0.0.1', () =>
    console.log(`serving ${resolve(dir)} on http://127.0.0.1:${port}/ (Ctrl-C stops it)`),
  );
}

// A module worker that uses the library's fetchCached (a worker has no `document`): answers the
// byte length of queries.json beside it, or the error.
import { fetchCached } from '/vip5.js';

fetchCached('queries.json').then(
  r => postMessage({ bytes: r.bytes.length }),
  e => postMessage({ error: e.message }),
);

// Answers the fixed queries of queries.json with the library as a page uses it (worker, cache,
// IndexedDB history), for tests/tests/browser.rs to compare with the native answers.
import { Recommender } from '/vip5.js';

function imageData({ width, height, rgba }) {
  return new ImageData(new Uint8ClampedArray(rgba), width, height);
}

window.runParity = async (q, backend) => {
  const out = {};
  const rec = await Recommender.load({ bundle: '/fixtures/bundle.gguf', clip: '/fixtures/clip.gguf', backend });
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
  // Errors reach the page as exceptions with a message.
  try { await rec.rankCandidates(['NOT-A-KEY']); out.unknownError = null; } catch (e) { out.unknownError = e.message; }
  try { await Recommender.load({ bundle: '/fixtures/missing.gguf', backend }); out.missingError = null; } catch (e) { out.missingError = e.message; }
  try { await Recommender.load({ bundle: '/fixtures/queries.json', backend }); out.notBundleError = null; } catch (e) { out.notBundleError = e.message; }
  rec.terminate();
  // CLIP straight from a Hugging Face model.safetensors: only the vision tower's ranges.
  const hf = await Recommender.load({ bundle: '/fixtures/bundle.gguf', clip: '/fixtures/clip/model.safetensors', backend });
  out.hfFeatures = Array.from(await hf.embedImage(imageData(q.image)));
  hf.terminate();
  return out;
};

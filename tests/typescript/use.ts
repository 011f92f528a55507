// Type-checked against www/vip5.d.ts by tests/tests/typescript.rs (tsc --noEmit --strict): the
// README's JavaScript API, written as a shop's TypeScript page would use it.
import { Recommender, Vip5Error, type ScoredItem, type Vip5Progress } from '../../www/vip5.js';

export async function visit(photo: ImageData): Promise<void> {
  const rec = await Recommender.load({
    bundle: 'model-q8_0.gguf',
    clip: 'clip-q8_0.gguf',
    backend: 'auto',
    onProgress: (p: Vip5Progress) => {
      if (p.status === 'progress') console.log(p.name, p.file, p.loaded, p.total, p.progress ?? '?', p.cached);
      else if (p.status === 'ready') console.log(p.file, p.backend);
      else console.log(p.status, p.name, p.file);
    },
  });
  console.log(rec.backend(), rec.backendReason(), rec.info.loadSeconds, rec.info.steps[0]?.step);
  await rec.record('B004OHQR1Q');
  const next: ScoredItem[] = await rec.recommendNext(10, { exclude: ['B0069FDR96'], only: undefined });
  const ranked: ScoredItem[] = await rec.rankCandidates(['B0069FDR96', 'B006L1DNWY']);
  const p: number = await rec.score(next[0]?.key ?? ranked[0].key);
  const features: Float32Array = await rec.embedImage(photo);
  const q: number = await rec.scorePhoto(photo);
  const events = await rec.history();
  console.log(p, q, features.length, events[0]?.key, events[0]?.t, rec.catalog()[0]?.title);
  await rec.clearHistory();
  try {
    await rec.recommendNext(0);
  } catch (e) {
    if (e instanceof Vip5Error) console.log(e.message, e.fatal);
  }
  rec.terminate();
}

export async function mistakes(): Promise<void> {
  // @ts-expect-error: the bundle URL is required
  await Recommender.load({});
  // @ts-expect-error: not a backend
  await Recommender.load({ bundle: 'm.gguf', backend: 'cuda' });
  const rec = await Recommender.load({ bundle: 'm.gguf' });
  // @ts-expect-error: scores are numbers
  const s: string = await rec.score('B004OHQR1Q');
  await Recommender.load({
    bundle: 'm.gguf',
    // @ts-expect-error: only a 'progress' event carries byte counts
    onProgress: (p: Vip5Progress) => console.log(p.loaded),
  });
  console.log(s);
}

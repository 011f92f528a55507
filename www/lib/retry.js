// Tries a network read again when it fails or stalls halfway: one loop, watchdog and backoff for
// the bundle download and the CLIP Range reads, so both give up the same way.

/** A failure no retry can mend (HTTP 404, not a bundle): thrown at once. */
export function permanent(error) { error.permanent = true; return error; }

/**
 * What `attemptOnce({ signal, alive })` returns, tried up to `options.attempts` times. Each try
 * gets a fresh `signal`, aborted once `stallSeconds` pass without a call to `alive()` (a try calls
 * it on each sign of progress; one that never does has `stallSeconds` in all). A failed try's
 * reason is its error's message, or `stalledReason` when it stalled; `onRetry(nextAttempt,
 * reason)` is called before the next try, which waits 250 ms per try so far. A `permanent` error
 * is thrown at once; after the last try, `finalError(reason)` is thrown.
 */
export async function withRetries(attemptOnce, options) {
  const { attempts, stallSeconds, stalledReason, onRetry = () => {}, finalError } = options;
  let lastReason = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const controller = new AbortController();
    let stalled = false;
    let timer;
    const alive = () => {
      clearTimeout(timer);
      timer = setTimeout(() => { stalled = true; controller.abort(); }, stallSeconds * 1000);
    };
    try {
      alive();
      return await attemptOnce({ signal: controller.signal, alive });
    } catch (e) {
      if (e.permanent) throw e;
      lastReason = stalled ? stalledReason : e.message;
    } finally {
      clearTimeout(timer);
    }
    if (attempt < attempts) {
      onRetry(attempt + 1, lastReason);
      await new Promise(r => setTimeout(r, 250 * attempt));
    }
  }
  throw finalError(lastReason);
}

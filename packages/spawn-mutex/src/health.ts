import type { Validated } from './options.js';

/** Aborts a health check's signal once its answer is no longer needed (made once: no stack per call). */
const HEALTH_CHECK_DONE = new Error('health check no longer needed');

/**
 * isHealthy, bounded by the deadline and the signal; a throw or a hang counts as "not healthy".
 * The signal handed to isHealthy is made on first access: an AbortController costs microseconds,
 * and the fast path (every hook, every editor event) should cost one health check and little else.
 */
export async function checkHealth(o: Validated, deadline: number): Promise<boolean> {
  const remaining = deadline - Date.now();
  if (remaining <= 0) return false;
  let call: AbortController | undefined;
  let resolveTimeout: ((answer: false) => void) | undefined;
  // The caller's abort ends the check at once, whether or not isHealthy looked at its signal.
  const onAbort = () => {
    resolveTimeout?.(false);
    call?.abort(o.signal?.reason);
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const context = {
    get signal(): AbortSignal {
      if (call === undefined) {
        call = new AbortController();
        if (o.signal?.aborted) call.abort(o.signal.reason);
      }
      return call.signal;
    },
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    const answer = await Promise.race([
      Promise.resolve()
        .then(() => o.isHealthy(context))
        .then(
          (ok) => ok === true,
          () => false,
        ),
      new Promise<false>((resolve) => {
        resolveTimeout = resolve;
        timer = setTimeout(() => {
          resolve(false);
          call?.abort(HEALTH_CHECK_DONE);
        }, remaining);
      }),
    ]);
    o.signal?.throwIfAborted();
    return answer;
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
    if (call !== undefined && !call.signal.aborted) call.abort(HEALTH_CHECK_DONE);
  }
}

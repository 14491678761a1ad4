/**
 * Resolves after ms; rejects with signal.reason on abort. Not unref'd on purpose: the caller is
 * awaiting it, so the process must stay alive until it fires.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Jittered millisecond backoff: 5 ms, then a random pause up to a ceiling that doubles to 50 ms.
 * Waiters poll often (a freed lock or a fresh daemon is noticed within tens of ms) without
 * marching in lockstep.
 */
export function backoff(minMs = 5, maxMs = 50): () => number {
  let ceiling = minMs;
  return () => {
    const delay = minMs + Math.random() * (ceiling - minMs);
    ceiling = Math.min(maxMs, ceiling * 2);
    return delay;
  };
}

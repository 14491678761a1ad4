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

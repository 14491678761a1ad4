import type { CircuitSnapshot, CircuitStore } from './snapshot.js';

/**
 * The default store: state lives in this object only. Pass one memoryStore to several breakers
 * to make them one circuit within a process.
 */
export function memoryStore(): CircuitStore {
  let current: CircuitSnapshot | undefined;
  return {
    load: () => current,
    save(snapshot) {
      // Frozen, so sharing the object between breakers (and handing it back from load) is safe.
      current = Object.isFrozen(snapshot) ? snapshot : Object.freeze({ ...snapshot });
    },
  };
}

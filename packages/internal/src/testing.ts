/** Test helpers for the packages' own tests (never imported by their src, never bundled). */
import { LISTENER_ERROR_CODE, type ListenerErrorWarning } from './listeners.js';

export interface CapturedWarnings {
  /** The listener-error warnings seen so far, in order. */
  readonly list: ListenerErrorWarning[];
  /** Resolves once warnings emitted before the call have arrived (Node delivers them on a later tick). */
  settled(): Promise<void>;
  stop(): void;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Collects the process warnings with code SPAWNGUARD_LISTENER_ERROR until stop(). Waits a turn
 * first, so warnings emitted before the call (by an earlier test) are not counted.
 */
export async function captureWarnings(): Promise<CapturedWarnings> {
  await nextTurn();
  const list: ListenerErrorWarning[] = [];
  const onWarning = (warning: Error) => {
    if ((warning as { code?: unknown }).code === LISTENER_ERROR_CODE) list.push(warning as ListenerErrorWarning);
  };
  process.on('warning', onWarning);
  return {
    list,
    settled: nextTurn,
    stop: () => process.off('warning', onWarning),
  };
}

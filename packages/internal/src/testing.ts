/** Test helpers for the packages' own tests (never imported by their src, never bundled). */
import { LISTENER_ERROR_CODE, type ListenerErrorWarning } from './listeners.js';

export interface CapturedWarnings {
  /** The listener-error warnings seen so far, in order. */
  readonly list: ListenerErrorWarning[];
  /** The same as plain objects, to compare with listenerWarning(...). */
  entries(): ExpectedWarning[];
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
    entries: () =>
      list.map((w) => ({ name: w.name, code: w.code, event: w.event, package: w.package, cause: w.cause })),
    settled: nextTurn,
    stop: () => process.off('warning', onWarning),
  };
}

export interface ExpectedWarning {
  name: string;
  code: string;
  event: string;
  package: string;
  cause: unknown;
}

/** What the policy says a throwing `event` listener in `pkg` becomes. */
export function listenerWarning(pkg: string, event: string, cause: unknown): ExpectedWarning {
  return { name: 'SpawnguardWarning', code: LISTENER_ERROR_CODE, event, package: pkg, cause };
}

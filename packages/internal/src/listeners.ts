import type { Emitter, EventType, Handler, WildcardHandler } from 'mitt';

/**
 * The listener-error policy of every spawnguard package, written once:
 *
 * A listener that throws never breaks the operation that emitted the event, nor the listeners after
 * it (the event's own listeners run first, then `'*'` listeners, each on a copy of the list, as mitt
 * does). Its error is reported as a process warning: a `SpawnguardWarning` with
 * `code: 'SPAWNGUARD_LISTENER_ERROR'`, `event` (the event's name), `package` (the package that
 * emitted it) and `cause` (what the listener threw).
 */
export const LISTENER_ERROR_CODE = 'SPAWNGUARD_LISTENER_ERROR';

/** The warning a throwing listener becomes (see `process.on('warning')`). */
export class ListenerErrorWarning extends Error {
  override readonly name = 'SpawnguardWarning';
  readonly code = LISTENER_ERROR_CODE;
  /** The package that emitted the event, e.g. `@spawnguard/storm`. */
  readonly package: string;
  /** Printed by Node under the warning's line: the listener's stack. */
  readonly detail: string | undefined;

  constructor(
    pkg: string,
    readonly event: string,
    cause: unknown,
  ) {
    super(`${pkg}: a listener for '${event}' threw (the operation went on): ${summary(cause)}`, { cause });
    this.package = pkg;
    this.detail = cause instanceof Error ? cause.stack : undefined;
  }
}

function summary(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    return Object.prototype.toString.call(error);
  }
}

/** Reports a listener's error as the policy says. Never throws. */
export function reportListenerError(pkg: string, event: EventType, error: unknown): void {
  try {
    process.emitWarning(new ListenerErrorWarning(pkg, String(event), error));
  } catch {
    // a broken process.emitWarning must not break the operation either
  }
}

/**
 * Does anyone listen for `type` (directly or through '*') on this mitt emitter? The hot-path check:
 * two map look-ups, no allocation. (An emitter of the user's own without mitt's map: ask
 * `emitter.all instanceof Map` first, as connection-memo does.)
 */
export function hasListeners(emitter: { readonly all: Map<unknown, unknown> } | undefined, type: EventType): boolean {
  if (emitter === undefined) return false;
  const all = emitter.all as Map<unknown, readonly unknown[] | undefined>;
  const handlers = all.get(type);
  if (handlers !== undefined && handlers.length > 0) return true;
  const wildcards = all.get('*');
  return wildcards !== undefined && wildcards.length > 0;
}

/**
 * mitt's emit under the listener-error policy above. `pkg` names the package in the warning;
 * `onListenerError`, when given, is told too (after the warning), and must not throw.
 * With no listener it returns after two map look-ups, allocating nothing. An emitter without mitt's
 * `all` map (one of the user's own with mitt's API) is called through its `emit()`, guarded once.
 */
export function safeEmit<Events extends Record<EventType, unknown>, Key extends keyof Events>(
  pkg: string,
  emitter: Emitter<Events> | undefined,
  type: Key,
  payload: Events[Key],
  onListenerError?: (error: unknown, type: Key) => void,
): void {
  if (emitter === undefined) return;
  const all = emitter.all;
  if (!(all instanceof Map)) {
    // An emitter of the user's own with mitt's API but not its map: one guarded emit().
    try {
      emitter.emit(type, payload);
    } catch (error) {
      listenerFailed(pkg, type, error, onListenerError);
    }
    return;
  }
  const handlers = all.get(type) as Handler<Events[Key]>[] | undefined;
  if (handlers !== undefined && handlers.length > 0) {
    for (const handler of handlers.slice()) {
      try {
        handler(payload);
      } catch (error) {
        listenerFailed(pkg, type, error, onListenerError);
      }
    }
  }
  const wildcards = all.get('*') as WildcardHandler<Events>[] | undefined;
  if (wildcards !== undefined && wildcards.length > 0) {
    for (const handler of wildcards.slice()) {
      try {
        handler(type, payload);
      } catch (error) {
        listenerFailed(pkg, type, error, onListenerError);
      }
    }
  }
}

function listenerFailed<Key>(
  pkg: string,
  type: Key,
  error: unknown,
  onListenerError: ((error: unknown, type: Key) => void) | undefined,
): void {
  reportListenerError(pkg, type as EventType, error);
  if (onListenerError !== undefined) onListenerError(error, type);
}

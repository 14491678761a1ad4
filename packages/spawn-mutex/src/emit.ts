import type { Emitter, EventType, Handler, WildcardHandler } from 'mitt';

/**
 * Emit like mitt does, but a throwing listener neither breaks the caller nor skips the other
 * listeners: the error becomes a process warning instead.
 */
export function safeEmit<Events extends Record<EventType, unknown>, Key extends keyof Events>(
  emitter: Emitter<Events> | undefined,
  type: Key,
  payload: Events[Key],
): void {
  if (!emitter) return;
  const handlers = [...((emitter.all.get(type) ?? []) as Handler<Events[Key]>[])];
  for (const handler of handlers) guard(type, () => handler(payload));
  const wildcards = [...((emitter.all.get('*') ?? []) as WildcardHandler<Events>[])];
  for (const handler of wildcards) guard(type, () => handler(type, payload));
}

function guard(type: PropertyKey, call: () => void): void {
  try {
    call();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.emitWarning(`a '${String(type)}' listener threw: ${message}`, 'SpawnguardSpawnMutexWarning');
  }
}

import type { ReaperEmitter, ReaperEvents } from './types.js';

/**
 * mitt's emit, except that a throwing listener breaks neither the caller nor the other listeners.
 * Type listeners first, then '*' listeners, as mitt does.
 */
export function safeEmit<K extends keyof ReaperEvents>(events: ReaperEmitter, type: K, payload: ReaperEvents[K]): void {
  for (const handler of [...(events.all.get(type) ?? [])]) {
    try {
      (handler as (e: ReaperEvents[K]) => void)(payload);
    } catch {}
  }
  for (const handler of [...(events.all.get('*') ?? [])]) {
    try {
      (handler as (t: K, e: ReaperEvents[K]) => void)(type, payload);
    } catch {}
  }
}

import type { Session } from './session.js';

/**
 * Resource subscriptions counted across the sessions of one backend: the backend sees one
 * `resources/subscribe` per URI (when the first session subscribes) and one `unsubscribe` (when
 * the last one leaves). A session subscribing twice counts once.
 */
export class Subscriptions {
  readonly #byUri = new Map<string, Set<Session>>();

  /** Adds; true when this is the URI's first subscriber (the backend must be told). */
  add(session: Session, uri: string): boolean {
    if (session.subscriptions.has(uri)) return false;
    session.subscriptions.add(uri);
    let set = this.#byUri.get(uri);
    if (!set) {
      set = new Set();
      this.#byUri.set(uri, set);
    }
    set.add(session);
    return set.size === 1;
  }

  /** Removes; true when that was the URI's last subscriber (the backend must be told). */
  remove(session: Session, uri: string): boolean {
    if (!session.subscriptions.delete(uri)) return false;
    const set = this.#byUri.get(uri);
    if (!set) return false;
    set.delete(session);
    if (set.size > 0) return false;
    this.#byUri.delete(uri);
    return true;
  }

  /** Removes every subscription of `session`; returns the URIs nobody subscribes to any more. */
  drop(session: Session): string[] {
    const last: string[] = [];
    for (const uri of [...session.subscriptions]) if (this.remove(session, uri)) last.push(uri);
    return last;
  }

  subscribers(uri: string): ReadonlySet<Session> | undefined {
    return this.#byUri.get(uri);
  }

  uris(): string[] {
    return [...this.#byUri.keys()];
  }
}

/**
 * The level the backend is set to: the most verbose any session asked for. A session that never
 * set one receives every message (as it would from the server directly), so it counts as `debug`
 * once any level has been sent. Undefined: no level was ever sent and none is needed.
 */
export function aggregateLevel(sessions: Iterable<Session>, current: number | undefined): number | undefined {
  let min = Number.POSITIVE_INFINITY;
  let anySet = false;
  let any = false;
  for (const session of sessions) {
    any = true;
    if (session.level === undefined) min = 0;
    else {
      anySet = true;
      if (session.level < min) min = session.level;
    }
  }
  if (!any) return current;
  if (!anySet && current === undefined) return undefined;
  return min;
}

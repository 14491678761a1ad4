/** The events hooks delivered: counted, and the last `capacity` kept in memory (never on disk). */
export interface StoredEvent {
  event: string;
  payload: unknown;
  receivedAt: number;
}

export class EventStore {
  readonly #items: StoredEvent[] = [];
  #total = 0;

  constructor(readonly capacity = 100) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    }
  }

  add(event: string, payload: unknown, now = Date.now()): number {
    this.#items.push({ event, payload, receivedAt: now });
    if (this.#items.length > this.capacity) this.#items.shift();
    return ++this.#total;
  }

  get total(): number {
    return this.#total;
  }

  recent(): StoredEvent[] {
    return [...this.#items];
  }
}

export const EVENT_NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

import { StringDecoder } from 'node:string_decoder';

/**
 * Splits a byte stream into lines and hands each one to `onLine` (without the newline, a trailing
 * `\r` removed). A line longer than `maxLineBytes` is dropped and reported with `onOverflow`
 * instead of growing the buffer without bound.
 */
export class LineSplitter {
  readonly #decoder = new StringDecoder('utf8');
  #buffer = '';
  #skipping = false;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onOverflow: (bytes: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let text = this.#decoder.write(chunk);
    if (this.#skipping) {
      const end = text.indexOf('\n');
      if (end === -1) return;
      this.#skipping = false;
      text = text.slice(end + 1);
    }
    // The buffer never holds a newline, so only the new text is searched: a message that arrives in
    // many chunks costs O(its size), not O(size x chunks).
    let end = text.indexOf('\n');
    if (end === -1) {
      this.#keep(this.#buffer + text);
      return;
    }
    this.#emit(this.#buffer + text.slice(0, end));
    this.#buffer = '';
    let start = end + 1;
    for (;;) {
      end = text.indexOf('\n', start);
      if (end === -1) break;
      this.#emit(text.slice(start, end));
      start = end + 1;
    }
    if (start < text.length) this.#keep(text.slice(start));
  }

  #keep(partial: string): void {
    if (partial.length > this.maxLineBytes) {
      this.onOverflow(partial.length);
      this.#buffer = '';
      this.#skipping = true;
    } else this.#buffer = partial;
  }

  #emit(raw: string): void {
    const line = raw.charCodeAt(raw.length - 1) === 13 ? raw.slice(0, -1) : raw;
    if (line.length === 0) return;
    if (line.length > this.maxLineBytes) this.onOverflow(line.length);
    else this.onLine(line);
  }

  clear(): void {
    this.#buffer = '';
  }
}

/** The last `capacity` lines of a stream, each cut to `maxLineLength` characters: what start and crash errors quote. */
export class LineRing {
  readonly #lines: string[] = [];
  #partial = '';
  readonly #decoder = new StringDecoder('utf8');

  constructor(
    private readonly capacity: number,
    private readonly maxLineLength = 1000,
  ) {}

  /** Adds a chunk; returns the complete lines it finished (for an output event). */
  push(chunk: Buffer): string[] {
    const text = this.#partial + this.#decoder.write(chunk);
    const parts = text.split('\n');
    this.#partial = (parts.pop() ?? '').slice(0, this.maxLineLength);
    const done: string[] = [];
    for (const raw of parts) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (line.length === 0) continue;
      this.add(line);
      done.push(line);
    }
    return done;
  }

  add(line: string): void {
    if (this.capacity === 0) return;
    this.#lines.push(line.length > this.maxLineLength ? `${line.slice(0, this.maxLineLength)}…` : line);
    if (this.#lines.length > this.capacity) this.#lines.shift();
  }

  /** The kept lines, oldest first, including a last line that has no newline yet. */
  tail(): string[] {
    return this.#partial ? [...this.#lines, this.#partial].slice(-Math.max(this.capacity, 1)) : [...this.#lines];
  }
}

/**
 * Newline-delimited input with a bound: a line longer than `maxBytes` is never buffered whole; it is
 * skipped up to its newline and reported once (`onOversized`), with its first and last `keepBytes`
 * bytes (enough to read its id; nothing more is kept). Works on any readable stream.
 */
export interface LineReaderOptions {
  maxBytes: number;
  /** Bytes kept at each end of an oversized line for `onOversized` (default 0: none). At most `maxBytes`. */
  keepBytes?: number;
  onLine(line: string): void;
  onOversized(bytes: number, ends: LineEnds): void;
  onEnd(): void;
}

/** The first and the last bytes of an oversized line (they overlap when it is shorter than twice the kept size). */
export interface LineEnds {
  head: Buffer;
  tail: Buffer;
}

export function readLines(stream: NodeJS.ReadableStream, options: LineReaderOptions): void {
  const keep = options.keepBytes ?? 0;
  let chunks: Buffer[] = [];
  let size = 0;
  let skipping = 0; // > 0: bytes of an oversized line seen so far (we are waiting for its newline)
  let ends: LineEnds = { head: Buffer.alloc(0), tail: Buffer.alloc(0) };
  const flush = (tail: Buffer) => {
    const line = Buffer.concat([...chunks, tail])
      .toString('utf8')
      .replace(/\r$/, '');
    chunks = [];
    size = 0;
    if (line.trim() !== '') options.onLine(line);
  };
  /** The line so far (`chunks` + `more`) is too long: keep its ends, drop the rest. */
  const cut = (more: Buffer) => {
    const all = Buffer.concat([...chunks, more]);
    ends = {
      head: Buffer.from(all.subarray(0, keep)),
      tail: Buffer.from(all.subarray(Math.max(0, all.length - keep))),
    };
    chunks = [];
    size = 0;
    return all.length;
  };
  const keepTail = (more: Buffer) => {
    if (keep === 0) return;
    ends.tail =
      more.length >= keep
        ? Buffer.from(more.subarray(more.length - keep))
        : Buffer.from(Buffer.concat([ends.tail, more]).subarray(-keep));
  };
  const oversized = (bytes: number) => {
    const found = ends;
    ends = { head: Buffer.alloc(0), tail: Buffer.alloc(0) };
    options.onOversized(bytes, found);
  };
  stream.on('data', (data: Buffer | string) => {
    let chunk = typeof data === 'string' ? Buffer.from(data) : data;
    for (let nl = chunk.indexOf(10); ; nl = chunk.indexOf(10)) {
      if (nl === -1) {
        if (skipping > 0) {
          skipping += chunk.length;
          keepTail(chunk);
        } else if (size + chunk.length > options.maxBytes) skipping = cut(chunk);
        else {
          chunks.push(chunk);
          size += chunk.length;
        }
        return;
      }
      const head = chunk.subarray(0, nl);
      chunk = chunk.subarray(nl + 1);
      if (skipping > 0) {
        keepTail(head);
        oversized(skipping + head.length);
        skipping = 0;
      } else if (size + head.length > options.maxBytes) oversized(cut(head));
      else flush(head);
    }
  });
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    if (skipping > 0) oversized(skipping);
    else if (size > 0) flush(Buffer.alloc(0));
    options.onEnd();
  };
  stream.once('end', end);
  stream.once('error', end);
}

/**
 * Newline-delimited input with a bound: a line longer than `maxBytes` is never buffered whole; it is
 * skipped up to its newline and reported once (`onOversized`). Works on any readable stream.
 */
export interface LineReaderOptions {
  maxBytes: number;
  onLine(line: string): void;
  onOversized(bytes: number): void;
  onEnd(): void;
}

export function readLines(stream: NodeJS.ReadableStream, options: LineReaderOptions): void {
  let chunks: Buffer[] = [];
  let size = 0;
  let skipping = 0; // > 0: bytes of an oversized line seen so far (we are waiting for its newline)
  const flush = (tail: Buffer) => {
    const line = Buffer.concat([...chunks, tail])
      .toString('utf8')
      .replace(/\r$/, '');
    chunks = [];
    size = 0;
    if (line.trim() !== '') options.onLine(line);
  };
  stream.on('data', (data: Buffer | string) => {
    let chunk = typeof data === 'string' ? Buffer.from(data) : data;
    for (let nl = chunk.indexOf(10); ; nl = chunk.indexOf(10)) {
      if (nl === -1) {
        if (skipping > 0) skipping += chunk.length;
        else if (size + chunk.length > options.maxBytes) {
          skipping = size + chunk.length;
          chunks = [];
          size = 0;
        } else {
          chunks.push(chunk);
          size += chunk.length;
        }
        return;
      }
      const head = chunk.subarray(0, nl);
      chunk = chunk.subarray(nl + 1);
      if (skipping > 0) {
        options.onOversized(skipping + head.length);
        skipping = 0;
      } else if (size + head.length > options.maxBytes) {
        options.onOversized(size + head.length);
        chunks = [];
        size = 0;
      } else flush(head);
    }
  });
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    if (skipping > 0) options.onOversized(skipping);
    else if (size > 0) flush(Buffer.alloc(0));
    options.onEnd();
  };
  stream.once('end', end);
  stream.once('error', end);
}

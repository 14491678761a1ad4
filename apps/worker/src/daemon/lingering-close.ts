import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkInteger, checkMs, MAX_TIMER_MS } from '@spawnguard/internal';

/** How much of an unread body is thrown away, at most, before the connection is closed. */
export interface LingerLimits {
  /** From the answer on; default 5000. */
  ms: number;
  /** Bytes of the body read and discarded; default 16 MiB. */
  bytes: number;
}

export function checkLingerLimits(limits: { ms?: number; bytes?: number } = {}): LingerLimits {
  return {
    ms: checkMs('lingerMs', limits.ms, { max: MAX_TIMER_MS, fallback: 5000 }),
    bytes: checkInteger('lingerBytes', limits.bytes, { fallback: 16 * 1024 * 1024 }),
  };
}

/**
 * An answer given before the request's body was read (413 over the limit, 401 before reading):
 * closing at once would reset a connection the client is still writing to, and a client that reads
 * only after it has written (node's http client, the bridge) would see ECONNRESET, not the answer.
 * So the whole answer goes out first (Connection: close), the rest of the body is read and thrown
 * away (never buffered) until the client has sent it all or `limits` are spent, and only then is
 * the response ended, which closes the connection.
 */
export function answerThenClose(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string>,
  limits: LingerLimits,
): void {
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.write(body);
  let discarded = 0;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', close);
    req.off('error', close);
    res.off('close', close);
    // What the client sends after this is not read: node closes the connection with the response.
    if (!res.writableEnded && !res.destroyed) res.end();
  };
  const onData = (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > limits.bytes) close();
  };
  const timer = setTimeout(close, limits.ms);
  timer.unref();
  if (req.complete || req.readableEnded) {
    close();
    return;
  }
  req.on('data', onData);
  req.once('end', close);
  req.once('error', close);
  res.once('close', close);
  req.resume();
}

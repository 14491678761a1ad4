import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * The daemon binds 127.0.0.1, but a browser tab can still reach it: a page on evil.example whose
 * DNS later resolves to 127.0.0.1 (DNS rebinding) sends `Host: evil.example:<port>`, and a page
 * that simply POSTs cross-site sends its own `Origin`. Both are refused before any handler runs.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function allowedHosts(port: number): string[] {
  return [`127.0.0.1:${port}`, `localhost:${port}`];
}

/** Exact match on `127.0.0.1:<port>` or `localhost:<port>` (case-insensitive host name). */
export function isAllowedHost(host: string | undefined, port: number): boolean {
  if (host === undefined) return false;
  return allowedHosts(port).includes(host.toLowerCase());
}

/** No Origin (curl, hooks, Node fetch) is fine; an Origin must be the worker itself. */
export function isAllowedOrigin(origin: string | undefined, port: number): boolean {
  if (origin === undefined) return true;
  return allowedHosts(port).some((host) => origin.toLowerCase() === `http://${host}`);
}

/**
 * Browsers mark every request with `Sec-Fetch-Site`; only `same-origin` (the worker's own page, if
 * it had one) and `none` (typed in the address bar) are acceptable. `same-site` is refused too: a
 * page on localhost:3000 is the same site as 127.0.0.1's neighbour ports. Non-browser clients send
 * no such header.
 */
export function isCrossSiteFetch(site: string | string[] | undefined): boolean {
  if (site === undefined) return false;
  const value = Array.isArray(site) ? site.join(',') : site;
  return value !== 'same-origin' && value !== 'none';
}

/** Constant-time comparison of `Authorization: Bearer <token>` against the token file's content. */
export function hasBearer(header: string | undefined, token: string | null): boolean {
  if (!token || !header) return false;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) return false;
  const given = Buffer.from(match[1]!);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export const BODY_LIMIT = 64 * 1024;

/**
 * Reads at most `limit` bytes. A declared Content-Length over the limit is refused before a byte is
 * read; an undeclared (chunked) body is refused the moment it crosses the limit. Either way the
 * request stream is paused, never buffered: a 10 MB body costs the daemon 64 KiB at most. The
 * caller's answer then reads the rest and throws it away, bounded (lingering-close.ts).
 */
export function readBody(req: IncomingMessage, limit = BODY_LIMIT, timeoutMs = 10_000): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(new HttpError(413, `request body is ${declared} bytes; the limit is ${limit}`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(
      () => finish(new HttpError(408, `request body not received within ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref();
    const finish = (error: Error | null) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (error) {
        req.pause();
        reject(error);
      } else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) finish(new HttpError(413, `request body is over the ${limit}-byte limit`));
      else chunks.push(chunk);
    };
    const onEnd = () => finish(null);
    const onError = (error: Error) => finish(new HttpError(400, `request body could not be read: ${error.message}`));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

export async function readJson(req: IncomingMessage, limit = BODY_LIMIT): Promise<unknown> {
  const body = await readBody(req, limit);
  if (body.length === 0) throw new HttpError(400, 'request body is empty; send a JSON object');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new HttpError(400, `request body is not valid JSON: ${(error as Error).message}`);
  }
}

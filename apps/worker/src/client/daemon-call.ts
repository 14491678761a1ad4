import { request } from 'node:http';
import { HOST } from '../config/config.js';

/**
 * The one HTTP call every client makes (hook, start, stop, status), on node:http: cheaper to load
 * than fetch, and it dials the literal 127.0.0.1 that the daemon bound (never `localhost`).
 */
export interface CallOptions {
  method?: 'GET' | 'POST';
  body?: string;
  token?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface CallResult {
  status: number;
  text: string;
  json: unknown;
}

export class CallError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'CallError';
  }
}

const MAX_RESPONSE = 1024 * 1024;

export function call(port: number, path: string, options: CallOptions = {}): Promise<CallResult> {
  const { method = 'GET', body, token, timeoutMs = 2000, signal } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const headers: Record<string, string> = { connection: 'close' };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    if (token) headers.authorization = `Bearer ${token}`;
    const req = request({ host: HOST, port, path, method, headers, agent: false });
    let settled = false;
    const done = (error: Error | null, result?: CallResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error) {
        req.destroy();
        reject(error);
      } else resolve(result!);
    };
    const onAbort = () => done(signal!.reason as Error);
    const timer = setTimeout(
      () => done(new CallError(`no answer from ${HOST}:${port}${path} within ${timeoutMs} ms`, 'ETIMEDOUT')),
      timeoutMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (error: NodeJS.ErrnoException) =>
      done(new CallError(`${HOST}:${port}${path}: ${error.code ?? error.message}`, error.code ?? 'EREQUEST')),
    );
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE) done(new CallError(`answer from ${HOST}:${port}${path} is too large`, 'ETOOLARGE'));
        else chunks.push(chunk);
      });
      res.on('error', (error) => done(error));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        done(null, { status: res.statusCode ?? 0, text, json });
      });
    });
    req.end(body);
  });
}

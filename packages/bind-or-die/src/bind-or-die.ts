import type { AddressInfo, Server } from 'node:net';
import type { Emitter } from 'mitt';
import mitt from 'mitt';
import { safeEmit } from './emit.js';
import { LostBindError } from './errors.js';
import { removeIfStale, withRecoveryLock } from './stale-socket.js';

/** A TCP address. `host` defaults to the literal `127.0.0.1`, see README "Why 127.0.0.1". */
export interface TcpTarget {
  port: number;
  host?: string;
}

/** A unix domain socket path (or a Windows named pipe, `\\.\pipe\name`). */
export interface SocketTarget {
  path: string;
}

export type BindTarget = TcpTarget | SocketTarget;

/** What `onLost` and the `lost` event receive. */
export interface LostInfo {
  /** `host:port` or the socket path that another process holds. */
  address: string;
  /** `true` when `verifyWinner` confirmed the holder, `false` when it never did in time, `undefined` without it. */
  winnerVerified: boolean | undefined;
  /** The original EADDRINUSE error from `listen`. */
  error: NodeJS.ErrnoException;
}

export type BindOrDieEvents = {
  /** We lost the race; emitted before `onLost` runs. */
  lost: LostInfo;
  /** A unix socket file that refused connections was removed before binding again. */
  staleSocketRemoved: { path: string };
};

/** A typed emitter to pass as `events`. */
export function createBindOrDieEvents(): Emitter<BindOrDieEvents> {
  return mitt<BindOrDieEvents>();
}

export interface BindOrDieOptions {
  /**
   * Called once when the address is taken. Default: exit the process quietly with `exitCode`
   * (losing the race is success), or with code 1 and one stderr line when `verifyWinner` never
   * confirmed the holder. If it returns, `bindOrDie` rejects with `LostBindError`.
   */
  onLost?: (info: LostInfo) => unknown;
  /** Asked until it returns true (or `verifyTimeoutMs` passes): is the process holding the address ours and healthy? */
  verifyWinner?: (options: { signal: AbortSignal }) => boolean | Promise<boolean>;
  /** How long to keep asking `verifyWinner`. Default 3000 ms. */
  verifyTimeoutMs?: number;
  /** Exit code of the default `onLost`. Default 0. */
  exitCode?: number;
  signal?: AbortSignal;
  events?: Emitter<BindOrDieEvents>;
}

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_VERIFY_TIMEOUT_MS = 3000;

/**
 * Listen on `target` or lose quietly. Resolves with the bound address; a process that loses the
 * race never sees the promise resolve (it exits, or the promise rejects with `LostBindError`).
 */
export async function bindOrDie(
  server: Server,
  target: BindTarget,
  options: BindOrDieOptions = {},
): Promise<AddressInfo | string> {
  validateServer(server);
  const listenOptions = normaliseTarget(target);
  const opts = validateOptions(options);
  opts.signal?.throwIfAborted();
  if (server.listening) throw new TypeError('server is already listening; pass a server that has not been started');

  const address = () => server.address() as AddressInfo | string;
  try {
    await listenOnce(server, listenOptions, opts.signal);
    return address();
  } catch (error) {
    if (!isAddrInUse(error)) throw error;
    if (!('path' in listenOptions) || isWindowsPipe(listenOptions.path)) {
      return lose(describe(listenOptions), error, opts);
    }
    const { path } = listenOptions;
    // A unix socket file outlives a crashed owner: if nobody accepts on it, remove it and bind once more.
    const lostTo = await withRecoveryLock(path, opts.signal, async (mayRemove) => {
      const state = await removeIfStale(path, mayRemove);
      if (state === 'live') return error;
      if (state === 'removed') safeEmit(opts.events, 'staleSocketRemoved', { path });
      try {
        await listenOnce(server, listenOptions, opts.signal);
        return null;
      } catch (again) {
        if (!isAddrInUse(again)) throw again;
        return again;
      }
    });
    if (!lostTo) return address();
    return lose(path, lostTo, opts);
  }
}

interface ValidatedOptions {
  onLost: ((info: LostInfo) => unknown) | undefined;
  verifyWinner: BindOrDieOptions['verifyWinner'];
  verifyTimeoutMs: number;
  exitCode: number;
  signal: AbortSignal | undefined;
  events: Emitter<BindOrDieEvents> | undefined;
}

type ListenOptions = { port: number; host: string; exclusive: true } | { path: string; exclusive: true };

function validateServer(server: unknown): asserts server is Server {
  const s = server as Partial<Server> | null;
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.listen !== 'function' ||
    typeof s.once !== 'function' ||
    typeof s.address !== 'function'
  ) {
    throw new TypeError(`server must be a net.Server (node:http, node:https, node:net...), got ${show(server)}`);
  }
}

function normaliseTarget(target: unknown): ListenOptions {
  if (typeof target !== 'object' || target === null) {
    throw new TypeError(`target must be { port, host? } or { path }, got ${show(target)}`);
  }
  const t = target as Record<string, unknown>;
  if ('path' in t && 'port' in t) throw new TypeError('target must have either port or path, not both');
  if ('path' in t) {
    if (typeof t.path !== 'string' || t.path.length === 0) {
      throw new TypeError(`path must be a non-empty string, got ${show(t.path)}`);
    }
    return { path: t.path, exclusive: true };
  }
  if (!('port' in t)) throw new TypeError('target must have a port or a path');
  if (typeof t.port !== 'number' || !Number.isInteger(t.port) || t.port < 0 || t.port > 65535) {
    throw new RangeError(`port must be an integer from 0 to 65535, got ${show(t.port)}`);
  }
  const host = t.host ?? DEFAULT_HOST;
  if (typeof host !== 'string' || host.length === 0) {
    throw new TypeError(`host must be a non-empty string, got ${show(t.host)}`);
  }
  return { port: t.port, host, exclusive: true };
}

function validateOptions(options: unknown): ValidatedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`options must be an object, got ${show(options)}`);
  }
  const o = options as BindOrDieOptions;
  if (o.onLost !== undefined && typeof o.onLost !== 'function') {
    throw new TypeError(`onLost must be a function, got ${show(o.onLost)}`);
  }
  if (o.verifyWinner !== undefined && typeof o.verifyWinner !== 'function') {
    throw new TypeError(`verifyWinner must be a function, got ${show(o.verifyWinner)}`);
  }
  const verifyTimeoutMs = o.verifyTimeoutMs ?? DEFAULT_VERIFY_TIMEOUT_MS;
  if (typeof verifyTimeoutMs !== 'number' || !Number.isFinite(verifyTimeoutMs) || verifyTimeoutMs < 0) {
    throw new RangeError(`verifyTimeoutMs must be a finite number >= 0, got ${show(o.verifyTimeoutMs)}`);
  }
  const exitCode = o.exitCode ?? 0;
  if (typeof exitCode !== 'number' || !Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255) {
    throw new RangeError(`exitCode must be an integer from 0 to 255, got ${show(o.exitCode)}`);
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new TypeError(`signal must be an AbortSignal, got ${show(o.signal)}`);
  }
  if (o.events !== undefined && (typeof o.events !== 'object' || o.events === null || !(o.events.all instanceof Map))) {
    throw new TypeError(`events must be a mitt emitter, got ${show(o.events)}`);
  }
  return {
    onLost: o.onLost,
    verifyWinner: o.verifyWinner,
    verifyTimeoutMs,
    exitCode,
    signal: o.signal,
    events: o.events,
  };
}

/** One listen attempt; resolves on 'listening', rejects with the server's 'error'. */
function listenOnce(server: Server, options: ListenOptions, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      server.off('error', onError);
      server.off('listening', onListening);
      signal?.removeEventListener('abort', onAbort);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onListening = () => {
      cleanup();
      resolve();
    };
    const onAbort = () => {
      // The bind may still complete; a server nobody asked for must not stay open.
      server.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
      server.once('error', () => {});
      if (server.listening) server.close();
      else server.once('listening', () => server.close());
      server.off('listening', onListening);
      reject(signal?.reason);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    signal?.addEventListener('abort', onAbort, { once: true });
    // exclusive: in a cluster worker the primary would otherwise share one handle and nobody sees EADDRINUSE.
    server.listen(options);
  });
}

async function lose(address: string, error: NodeJS.ErrnoException, opts: ValidatedOptions): Promise<never> {
  const winnerVerified = opts.verifyWinner
    ? await verify(opts.verifyWinner, opts.verifyTimeoutMs, opts.signal)
    : undefined;
  const info: LostInfo = { address, winnerVerified, error };
  safeEmit(opts.events, 'lost', info);
  if (opts.onLost) {
    await opts.onLost(info);
  } else {
    if (winnerVerified === false) {
      process.stderr.write(
        `${address} is taken by a process that did not answer as our worker within ${opts.verifyTimeoutMs} ms; exiting with code 1\n`,
      );
      process.exit(1);
    }
    process.exit(opts.exitCode);
  }
  throw new LostBindError(address, winnerVerified);
}

/** Ask `verifyWinner` with short jittered pauses until it says yes or the time is up. */
async function verify(
  verifyWinner: NonNullable<BindOrDieOptions['verifyWinner']>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const remaining = deadline - Date.now();
    const attempt = new AbortController();
    const timer = setTimeout(() => attempt.abort(new Error('verifyWinner timed out')), Math.max(remaining, 0));
    const onAbort = () => attempt.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const ok = await Promise.race([
        Promise.resolve()
          .then(() => verifyWinner({ signal: attempt.signal }))
          .catch(() => false),
        new Promise<false>((resolve) => attempt.signal.addEventListener('abort', () => resolve(false), { once: true })),
      ]);
      signal?.throwIfAborted();
      if (ok === true) return true;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(25 + Math.random() * 75, Math.max(deadline - Date.now(), 0)), signal);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function isAddrInUse(error: unknown): error is NodeJS.ErrnoException {
  return (error as NodeJS.ErrnoException | null)?.code === 'EADDRINUSE';
}

function isWindowsPipe(path: string): boolean {
  return /^[\\/]{2}[.?][\\/]pipe[\\/]/i.test(path);
}

function describe(options: ListenOptions): string {
  if ('path' in options) return options.path;
  return options.host.includes(':') ? `[${options.host}]:${options.port}` : `${options.host}:${options.port}`;
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

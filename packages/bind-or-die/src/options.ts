import type { Server } from 'node:net';
import {
  checkEmitter,
  checkFunction,
  checkInteger,
  checkMs,
  checkObject,
  checkSignal,
  checkString,
  show,
} from '@spawnguard/internal';
import type { Emitter } from 'mitt';
import mitt from 'mitt';

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

export interface ValidatedOptions {
  onLost: ((info: LostInfo) => unknown) | undefined;
  verifyWinner: BindOrDieOptions['verifyWinner'];
  verifyTimeoutMs: number;
  exitCode: number;
  signal: AbortSignal | undefined;
  events: Emitter<BindOrDieEvents> | undefined;
}

export type ListenOptions = { port: number; host: string; exclusive: true } | { path: string; exclusive: true };

export function validateServer(server: unknown): asserts server is Server {
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

export function normaliseTarget(target: unknown): ListenOptions {
  if (typeof target !== 'object' || target === null) {
    throw new TypeError(`target must be { port, host? } or { path }, got ${show(target)}`);
  }
  const t = target as Record<string, unknown>;
  if ('path' in t && 'port' in t) throw new TypeError('target must have either port or path, not both');
  if ('path' in t) return { path: checkString('path', t.path), exclusive: true };
  if (!('port' in t)) throw new TypeError('target must have a port or a path');
  const port = checkInteger('port', t.port, { max: 65535 });
  const host = t.host === undefined ? DEFAULT_HOST : checkString('host', t.host);
  return { port, host, exclusive: true };
}

export function validateOptions(options: unknown): ValidatedOptions {
  const o = checkObject('options', options) as BindOrDieOptions;
  const onLost = o.onLost === undefined ? undefined : checkFunction<ValidatedOptions['onLost']>('onLost', o.onLost);
  const verifyWinner =
    o.verifyWinner === undefined
      ? undefined
      : checkFunction<ValidatedOptions['verifyWinner']>('verifyWinner', o.verifyWinner);
  const verifyTimeoutMs = checkMs('verifyTimeoutMs', o.verifyTimeoutMs, { fallback: DEFAULT_VERIFY_TIMEOUT_MS });
  const exitCode = checkInteger('exitCode', o.exitCode, { fallback: 0, max: 255 });
  const signal = checkSignal('signal', o.signal);
  const events = checkEmitter<Emitter<BindOrDieEvents>>('events', o.events);
  return { onLost, verifyWinner, verifyTimeoutMs, exitCode, signal, events };
}

/** `host:port` (`[::1]:port`) or the socket path, for messages. */
export function formatAddress(options: ListenOptions): string {
  if ('path' in options) return options.path;
  return options.host.includes(':') ? `[${options.host}]:${options.port}` : `${options.host}:${options.port}`;
}

export function isWindowsPipe(path: string): boolean {
  return /^[\\/]{2}[.?][\\/]pipe[\\/]/i.test(path);
}

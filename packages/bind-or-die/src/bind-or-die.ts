import type { AddressInfo, Server } from 'node:net';
import { safeEmit, sleep } from '@spawnguard/internal';
import { LostBindError } from './errors.js';
import {
  type BindOrDieOptions,
  type BindTarget,
  formatAddress,
  isWindowsPipe,
  type ListenOptions,
  type LostInfo,
  normaliseTarget,
  type ValidatedOptions,
  validateOptions,
  validateServer,
} from './options.js';
import { removeIfStale, withRecoveryLock } from './stale-socket.js';

const PACKAGE = '@spawnguard/bind-or-die';

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
      return lose(formatAddress(listenOptions), error, opts);
    }
    const { path } = listenOptions;
    // A unix socket file outlives a crashed owner: if nobody accepts on it, remove it and bind once more.
    const lostTo = await withRecoveryLock(path, opts.signal, async (mayRemove) => {
      const state = await removeIfStale(path, mayRemove);
      if (state === 'live') return error;
      if (state === 'removed') safeEmit(PACKAGE, opts.events, 'staleSocketRemoved', { path });
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
  safeEmit(PACKAGE, opts.events, 'lost', info);
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

function isAddrInUse(error: unknown): error is NodeJS.ErrnoException {
  return (error as NodeJS.ErrnoException | null)?.code === 'EADDRINUSE';
}

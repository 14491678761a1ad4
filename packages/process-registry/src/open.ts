import { hostname } from 'node:os';
import { checkAbsolutePath, checkEmitter, checkFunction, checkOptions, checkSignal } from '@spawnguard/internal';
import { processIdentity } from '@spawnguard/process-table';
import mitt, { type Emitter } from 'mitt';
import type { OpenRegistryOptions, Registry } from './api.js';
import { ProcessRegistry } from './registry.js';
import { IDENTITY_TIMEOUT_MS } from './stop.js';
import type { RegistryEvents } from './types.js';
import { checkOwner, checkTakeover } from './validate.js';
import { bootIdOf } from './verdict.js';

/**
 * Opens (or creates) the registry at `path`. Async because the default owner identity (this
 * process's start token) and the previous owner's liveness are read from the process table. It
 * never waits for another process: with `takeover`, a wait or a leftovers reap goes on in the
 * background (ownership 'waiting' / 'claiming') and spawn() joins it.
 */
export async function openRegistry(path: string, options: OpenRegistryOptions = {}): Promise<Registry> {
  checkAbsolutePath('path', path);
  const opts = checkOptions('options', options);
  const signal = checkSignal('options.signal', opts.signal);
  const now = opts.now === undefined ? Date.now : checkFunction<() => number>('options.now', opts.now);
  const events = checkEmitter<Emitter<RegistryEvents>>('options.events', opts.events) ?? mitt<RegistryEvents>();
  const takeover = checkTakeover(opts.takeover);
  signal?.throwIfAborted();
  const me = await processIdentity(process.pid, { signal, timeoutMs: IDENTITY_TIMEOUT_MS });
  if (!me && opts.owner === undefined) {
    throw new Error(`cannot read this process's own identity (pid ${process.pid}); pass options.owner`);
  }
  const owner =
    opts.owner === undefined
      ? { pid: me!.pid, startToken: me!.startToken, hostname: hostname() }
      : checkOwner(opts.owner);
  // Start tokens carry the boot id on Linux only: elsewhere a hostname is all a file says about its host.
  const bootId = process.platform === 'linux' && me ? bootIdOf(me.startToken) : null;
  const registry = new ProcessRegistry(path, owner, now, events, takeover, bootId);
  await registry.open(signal);
  return registry;
}

import { type ChildProcess, spawn as nodeSpawn, type SpawnOptions } from 'node:child_process';
import { checkObject, checkSignal, checkString, show } from '@spawnguard/internal';
import { processIdentity } from '@spawnguard/process-table';
import type { RegistrySpawnOptions } from './spawn-options.js';
import { IDENTITY_TIMEOUT_MS } from './stop.js';

/** spawn()'s arguments, checked before anything starts. */
export function checkSpawnArgs(
  command: unknown,
  args: unknown,
  options: unknown,
): { session: string; type: string; signal: AbortSignal | undefined; opts: RegistrySpawnOptions } {
  checkString('command', command);
  if (!Array.isArray(args) || !args.every((arg) => typeof arg === 'string')) {
    throw new TypeError(`args must be an array of strings, got ${show(args)}`);
  }
  if (options === undefined) throw new TypeError('options must be an object with session and type, got undefined');
  const opts = checkObject('options', options) as unknown as RegistrySpawnOptions;
  return {
    session: checkString('options.session', opts.session),
    type: checkString('options.type', opts.type),
    signal: checkSignal('options.signal', opts.signal),
    opts,
  };
}

export interface StartedChild {
  readonly child: ChildProcess;
  readonly pid: number;
  /** null when it was already gone when we looked. */
  readonly identity: Awaited<ReturnType<typeof processIdentity>>;
  /** It exited before onExit() was called. */
  readonly exitedEarly: boolean;
  /** Called once when it exits (if it has not yet). */
  onExit(handler: (code: number | null, signal: NodeJS.Signals | null) => void): void;
}

/**
 * Starts the child and reads its identity. A child that fails to start rejects with its spawn error;
 * one whose identity cannot be read is SIGKILLed (it could not be recorded safely) and rejects.
 */
export async function startChild(
  command: string,
  args: readonly string[],
  planned: SpawnOptions,
  signal: AbortSignal | undefined,
): Promise<StartedChild> {
  const child = nodeSpawn(command, args, planned);
  let exitedEarly = false;
  let handler: ((code: number | null, signal: NodeJS.Signals | null) => void) | null = null;
  child.once('exit', (code, sig) => {
    if (handler) handler(code, sig);
    else exitedEarly = true;
  });
  await new Promise<void>((resolve, reject) => {
    const onSpawn = () => {
      child.off('error', onError);
      resolve();
    };
    const onError = (error: Error) => {
      child.off('spawn', onSpawn);
      reject(error);
    };
    child.once('spawn', onSpawn);
    child.once('error', onError);
  });
  const pid = child.pid!;
  let identity: StartedChild['identity'];
  try {
    identity = await processIdentity(pid, { signal, timeoutMs: IDENTITY_TIMEOUT_MS });
  } catch (error) {
    child.kill('SIGKILL'); // a child we cannot identify cannot be recorded safely
    throw error;
  }
  return {
    child,
    pid,
    identity,
    get exitedEarly() {
      return exitedEarly;
    },
    onExit(h) {
      handler = h;
    },
  };
}

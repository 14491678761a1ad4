/**
 * `hook <event>`: deliver one event, starting the worker if needed, and never block the host.
 *
 * Fast path (a worker is running): one GET /health?challenge (the worker proves it holds this
 * home's token) and one POST /events with the token, over node:http. This file imports only node
 * built-ins, config, home paths and the proof check; the lock and the breaker are loaded with
 * import() on the slow path only, and the MCP SDK never.
 *
 * Fails open: whatever happens, the hook exits 0 within its budget, with one short line on stderr
 * when the event could not be delivered.
 */
import type { Config } from '../config/config.js';
import { WORKER_NAME } from '../config/config.js';
import { homePaths } from '../config/home.js';
import { type CallResult, call } from './daemon-call.js';
import { probeWorker, unprovenMessage, type WorkerProbe } from './identity.js';

export interface HookOutcome {
  delivered: boolean;
  /** How the worker was found: 'running' (fast path), or spawn-mutex's outcome on the slow path. */
  via: string;
  message?: string;
}

function say(message: string): void {
  process.stderr.write(`spawnguard-worker hook: ${message}\n`);
}

/** Reads --payload: JSON text, or "-" for stdin (bounded to 64 KiB and by the budget). */
async function readPayload(raw: string | undefined, signal: AbortSignal): Promise<unknown> {
  if (raw === undefined) return null;
  let text = raw;
  if (raw === '-') {
    text = await new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = () => resolve(Buffer.concat(chunks).toString('utf8'));
      process.stdin.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= 64 * 1024) chunks.push(chunk);
        else process.stdin.destroy();
      });
      process.stdin.on('end', finish);
      process.stdin.on('close', finish);
      process.stdin.on('error', finish);
      signal.addEventListener('abort', finish, { once: true });
    });
  }
  try {
    return JSON.parse(text);
  } catch {
    say('--payload is not valid JSON; sending it as a string');
    return { raw: text.slice(0, 4096) };
  }
}

export function isWorkerAnswer(result: CallResult): boolean {
  return result.status === 202 && (result.json as { name?: unknown } | undefined)?.name === WORKER_NAME;
}

/** POST /events with the token, to a worker that has just proven it holds that token. */
export async function deliver(
  config: Config,
  body: string,
  token: string,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<CallResult> {
  return call(config.port, '/events', { method: 'POST', body, token, signal, timeoutMs });
}

/**
 * The budget counts from this process's start (performance.now() is ms since then), not from here:
 * on a loaded machine Node's own startup can take a second or more, and the host waits for all of it.
 */
export function remainingBudgetMs(config: Config): number {
  return Math.max(250, config.hookBudgetMs - Math.round(performance.now()));
}

/** Proves the worker, then delivers; null when the worker did not prove itself (nothing was sent). */
async function proveAndDeliver(
  config: Config,
  body: string,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<{ probe: WorkerProbe; result: CallResult | null }> {
  const proven = await probeWorker(config, homePaths(config.home).token, { timeoutMs, signal, sameVersion: false });
  if (proven.probe.kind !== 'ours' || proven.token === null) return { probe: proven, result: null };
  return { probe: proven, result: await deliver(config, body, proven.token, signal, timeoutMs) };
}

export async function hook(config: Config, event: string, rawPayload: string | undefined): Promise<HookOutcome> {
  const budgetMs = remainingBudgetMs(config);
  const signal = AbortSignal.timeout(budgetMs);
  const payload = await readPayload(rawPayload, signal);
  const body = JSON.stringify({ event, payload });

  // Fast path: the worker is up and proves it holds this home's token; then one POST. A worker
  // answers in milliseconds; a port that accepts but stays silent must not eat the whole budget
  // before the slow path can look.
  let problem = '';
  try {
    const { probe, result } = await proveAndDeliver(config, body, signal, Math.max(50, Math.min(1500, budgetMs * 0.4)));
    if (result && isWorkerAnswer(result)) return { delivered: true, via: 'running' };
    if (result?.status === 400 && typeof (result.json as { error?: unknown } | undefined)?.error === 'string') {
      return { delivered: false, via: 'running', message: `the worker refused the event: ${result.text.trim()}` };
    }
    // Someone answers as our worker without proving it: nothing is sent, and nothing is spawned
    // (a new worker would only lose the bind to it).
    if (probe.probe.kind === 'unproven')
      return { delivered: false, via: 'unproven', message: unprovenMessage(config, probe.probe) };
    if (result) problem = `127.0.0.1:${config.port} answered ${result.status}`;
    else if (probe.probe.kind === 'unreachable' && /did not answer within/.test(probe.probe.reason)) {
      problem = `127.0.0.1:${config.port} accepted the connection but did not answer`;
    }
  } catch (error) {
    if (signal.aborted) return budgetSpent(config, problem);
    const code = (error as { code?: string }).code;
    problem = code === 'ETIMEDOUT' ? `127.0.0.1:${config.port} accepted the connection but did not answer` : '';
  }

  // Slow path: find out who is on the port, start the worker if nobody is, deliver again.
  try {
    const { ensureWorker } = await import('./launcher.js');
    const started = await ensureWorker(config, { signal, budgetMs: remainingBudgetMs(config) });
    if (!started.ok) {
      const identified = ['foreign', 'silent', 'busy', 'other-version', 'home', 'unproven'].includes(started.via);
      return {
        delivered: false,
        via: started.via,
        message: `${started.message}${problem && !identified ? ` (${problem})` : ''}`,
      };
    }
    const { probe, result } = await proveAndDeliver(config, body, signal, remainingBudgetMs(config));
    if (result && isWorkerAnswer(result)) return { delivered: true, via: started.via };
    if (!result) return { delivered: false, via: started.via, message: `${probe.probe.reason}; event dropped` };
    return {
      delivered: false,
      via: started.via,
      message: `the worker on 127.0.0.1:${config.port} answered ${result.status}; event dropped`,
    };
  } catch (error) {
    if (signal.aborted) return budgetSpent(config, problem);
    return { delivered: false, via: 'error', message: `${(error as Error).message}; event dropped` };
  }
}

function budgetSpent(config: Config, problem = ''): HookOutcome {
  return {
    delivered: false,
    via: 'budget',
    message: `worker on 127.0.0.1:${config.port} not reached within the ${config.hookBudgetMs} ms budget${problem ? ` (${problem})` : ''}; event dropped`,
  };
}

/** CLI entry: always resolves 0. A hard timer ends the process if anything outlives the budget. */
export async function runHook(config: Config, event: string, rawPayload: string | undefined): Promise<number> {
  const hard = setTimeout(() => {
    say(budgetSpent(config).message!);
    process.exit(0);
  }, remainingBudgetMs(config) + 250);
  hard.unref();
  try {
    const outcome = await hook(config, event, rawPayload);
    if (!outcome.delivered && outcome.message) say(outcome.message);
  } catch (error) {
    say(`${(error as Error).message}; event dropped`);
  }
  clearTimeout(hard);
  return 0;
}

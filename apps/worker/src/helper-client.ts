import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { type ConnectionBreaker, type ConnectionMemo, memoizeConnection } from '@spawnguard/connection-memo';
import { killTree } from '@spawnguard/orphan-reaper';
import type { Registry } from '@spawnguard/process-registry';
import { ChildProcessTransport } from './child-transport.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { SearchHit } from './vector-store.js';
import { VERSION } from './version.js';

/**
 * The daemon's side of the helper: one MCP stdio child, reached through
 *   connection-memo   — 200 concurrent searches make one connect, so one helper;
 *   circuit-breaker   — a helper that keeps crashing is not restarted more than `threshold` times per cooldown;
 *   process-registry  — the helper is recorded (pid, start token, process group) so its tree dies with
 *                       the daemon, or at the next boot if the daemon was SIGKILLed;
 *   orphan-reaper     — closing a connection kills the helper's whole tree, grandchildren included.
 * In naive mode none of that: a new helper per search, spawned plainly, never recorded.
 */
export interface HelperConnection {
  client: Client;
  child: ChildProcess;
  pid: number;
  startToken: string;
}

export interface SearchResult {
  query: string;
  hits: SearchHit[];
  helperPid: number;
}

export interface HelperClientOptions {
  config: Config;
  /** A getter: SIGHUP replaces the registry. Null in naive mode. */
  registry: () => Registry | null;
  breaker: ConnectionBreaker | null;
  /**
   * Resolves when a helper may be spawned: SIGHUP holds it while the registry is replaced, and a
   * daemon that booted during its predecessor's drain holds it until the registry is taken over.
   * Awaited before the connect starts, so that wait never counts against the connect timeout (nor,
   * through it, against the helper breaker).
   */
  whenReady?: () => Promise<void>;
  log: Logger;
  onSpawn?: (pid: number) => void;
  onConnect?: (ok: boolean) => void;
}

export interface HelperClient {
  search(query: string, signal?: AbortSignal): Promise<SearchResult>;
  /** Starts the helper in the background (the daemon does this at boot, like the field's workers). */
  warm(): void;
  /** Closes the current helper (its whole tree) before the next search connects again. */
  reset(): Promise<void>;
  /** Final. */
  close(): Promise<void>;
  readonly state: string;
  readonly pid: number | undefined;
}

const HELPER_PATH = fileURLToPath(new URL('./helper-server.js', import.meta.url));
const CONNECT_TIMEOUT_MS = 10_000;
const CALL_TIMEOUT_MS = 10_000;

export function helperArgs(config: Config): string[] {
  return [
    HELPER_PATH,
    '--spawnguard-helper',
    '--home',
    config.home,
    ...(config.helperGrandchild ? ['--with-grandchild'] : []),
    ...(config.helperLinger ? ['--linger'] : []),
  ];
}

export function createHelperClient(options: HelperClientOptions): HelperClient {
  const { config, log } = options;
  const naive = config.naive;

  async function spawnHelper(signal: AbortSignal): Promise<{ child: ChildProcess; startToken: string }> {
    const registry = options.registry();
    if (naive || !registry) {
      const child = spawn(process.execPath, helperArgs(config), { stdio: ['pipe', 'pipe', 'pipe'], cwd: config.home });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      return { child, startToken: '' };
    }
    const { child, entry } = await registry.spawn(process.execPath, helperArgs(config), {
      session: 'helpers',
      type: 'mcp-helper',
      stdio: ['pipe', 'pipe', 'pipe'],
      // The home folder, not wherever the hook that started the daemon happened to run.
      cwd: config.home,
      signal,
    });
    return { child, startToken: entry.startToken };
  }

  async function connect({ signal }: { signal: AbortSignal }): Promise<HelperConnection> {
    await options.whenReady?.();
    signal.throwIfAborted();
    const { child, startToken } = await spawnHelper(signal);
    const pid = child.pid!;
    options.onSpawn?.(pid);
    log.log('helper.spawned', { helperPid: pid, recorded: startToken !== '' });
    child.stderr?.on('data', (chunk: Buffer) => {
      log.warn('helper.stderr', { helperPid: pid, text: chunk.toString('utf8').slice(0, 500) });
    });
    child.once('exit', (code, sig) => log.log('helper.exited', { helperPid: pid, code, signal: sig }));
    const client = new Client({ name: 'spawnguard-worker', version: VERSION });
    const conn: HelperConnection = { client, child, pid, startToken };
    try {
      await client.connect(new ChildProcessTransport(child), { signal, timeout: CONNECT_TIMEOUT_MS });
    } catch (error) {
      options.onConnect?.(false);
      log.warn('helper.connect_failed', { helperPid: pid, error });
      await stopTree(conn); // a helper we could not talk to is not left behind
      throw error;
    }
    options.onConnect?.(true);
    log.log('helper.connected', { helperPid: pid });
    return conn;
  }

  async function stopTree(conn: HelperConnection): Promise<void> {
    if (naive) {
      // Field behaviour: close stdin and hope. The helper exits; anything it started is orphaned.
      await conn.client.close().catch(() => {});
      return;
    }
    // Kill the tree first, while the helper is alive to be walked: closing stdin first would let the
    // helper exit and orphan its grandchildren out of reach.
    if (conn.child.exitCode === null && conn.child.signalCode === null) {
      try {
        const result = await killTree(conn.pid, {
          graceMs: config.killGraceMs,
          ...(conn.startToken ? { startToken: conn.startToken } : {}),
        });
        log.log('helper.tree_killed', { helperPid: conn.pid, ...result });
      } catch (error) {
        log.error('helper.kill_failed', { helperPid: conn.pid, error });
        conn.child.kill('SIGKILL');
      }
    }
    await conn.client.close().catch(() => {});
  }

  const memo: ConnectionMemo<HelperConnection> | null = naive
    ? null
    : memoizeConnection<HelperConnection>({
        connect,
        close: stopTree,
        breaker: options.breaker ?? undefined,
        connectTimeoutMs: CONNECT_TIMEOUT_MS + 2000,
      });

  memo?.events.on('connected', ({ connection }) => {
    // A helper that dies (crash, kill by hand) is dropped at once; the next search reconnects.
    // invalidate() touches only this generation: a late exit of an old helper never drops a new one.
    const drop = () => {
      void memo.invalidate(connection);
    };
    if (connection.child.exitCode !== null || connection.child.signalCode !== null) drop();
    else connection.child.once('exit', drop);
  });

  async function call(conn: HelperConnection, query: string, signal?: AbortSignal): Promise<SearchResult> {
    const result = await conn.client.callTool({ name: 'search', arguments: { query } }, undefined, {
      timeout: CALL_TIMEOUT_MS,
      ...(signal ? { signal } : {}),
    });
    const first = (result.content as Array<{ type: string; text?: string }> | undefined)?.[0];
    if (result.isError || first?.type !== 'text' || typeof first.text !== 'string') {
      throw new Error(`helper search failed: ${first?.text ?? 'no content'}`);
    }
    return JSON.parse(first.text) as SearchResult;
  }

  // The boot-time warm-up is cancellable: after a reset (SIGHUP) the helper comes back only on demand.
  let warming: AbortController | null = null;

  return {
    async search(query, signal) {
      if (!memo) {
        const conn = await connect({ signal: signal ?? new AbortController().signal });
        try {
          return await call(conn, query, signal);
        } finally {
          void stopTree(conn);
        }
      }
      await abortable(options.whenReady?.(), signal);
      const conn = await memo.get(signal ? { signal } : {});
      return call(conn, query, signal);
    },
    warm() {
      if (memo) {
        warming = new AbortController();
        const { signal } = warming;
        abortable(options.whenReady?.(), signal)
          .then(() => memo.get({ signal }))
          .catch((error: unknown) => {
            if (!signal.aborted) log.warn('helper.warm_failed', { error });
          })
          .finally(() => {
            if (warming?.signal === signal) warming = null;
          });
        return;
      }
      // Naive: the helper started at boot stays until the daemon ends, like the field's workers did.
      connect({ signal: new AbortController().signal }).catch((error: unknown) =>
        log.warn('helper.warm_failed', { error }),
      );
    },
    async reset() {
      warming?.abort(new Error('helper reset'));
      await memo?.reset();
    },
    async close() {
      await memo?.close();
    },
    get state() {
      return memo?.state ?? 'naive';
    },
    get pid() {
      return memo?.current?.pid;
    },
  };
}

/** Waits for `promise` (if any) unless `signal` aborts first. */
function abortable(promise: Promise<void> | undefined, signal: AbortSignal | undefined): Promise<void> {
  if (!promise) return Promise.resolve();
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

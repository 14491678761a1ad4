/* biome-ignore-all lint/suspicious/noExplicitAny: test helpers parse arbitrary JSON answers */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..');
export const CLI = join(ROOT, 'dist', 'cli.js');
export const HELPER = join(ROOT, 'dist', 'helper-server.js');

/**
 * A fresh home per test: its path is unique (mkdtemp), and every process the test starts carries
 * it in its argv (`--home <dir>`), so the tests count and kill only their own processes.
 */
export function makeHome(): string {
  return mkdtempSync(join(tmpdir(), 'spawnguard-test-'));
}

export { freePort } from '../../../test-kit/net.ts';

export interface Proc {
  pid: number;
  ppid: number;
  argv: string[];
}

/** Processes whose argv contains `marker` as one whole element (never a substring match on other people's argv). */
export function processesWith(marker: string): Proc[] {
  const found: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (!argv.includes(marker)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue; // a zombie has exited; its parent just has not reaped it yet
      found.push({ pid, ppid: Number(fields[1]), argv });
    } catch {}
  }
  return found;
}

/**
 * Did any launcher of this home ever spawn a daemon? A launcher opens <home>/daemon.out (the daemon's
 * stdout and stderr) just before it spawns one, so once the launchers have exited, its absence proves
 * that none did, however short-lived that daemon would have been (one that loses the bind exits at
 * once): no sleep-then-look at the process table.
 */
export const daemonSpawned = (home: string) => existsSync(join(home, 'daemon.out'));

export const isDaemon = (p: Proc) => p.argv.includes('daemon');
export const isHelper = (p: Proc) => p.argv.includes('--spawnguard-helper');
export const isGrandchild = (p: Proc) => p.argv.includes('spawnguard-grandchild');

/** SIGKILL every process carrying this test's unique home marker, then remove the folder. */
export async function cleanup(home: string): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const left = processesWith(home);
    if (left.length === 0) break;
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {}
    }
    await sleep(50);
  }
  rmSync(home, { recursive: true, force: true });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

const started = new Set<ChildProcess>();

/** Runs the built CLI; kills it (by pid) if it outlives `timeoutMs`. */
export function runCli(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number; input?: string; cwd?: string } = {},
): Promise<RunResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    started.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.stdin!.end(options.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      started.delete(child);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

export function killStarted(): void {
  for (const child of started) child.kill('SIGKILL');
  started.clear();
}

export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** The bearer token the worker of `home` wrote (every route but /health and /ready needs it). */
export function tokenOf(home: string): string {
  return readFileSync(join(home, 'token'), 'utf8').trim();
}

/**
 * One raw HTTP request to 127.0.0.1:<port>, with full control over Host, Origin and the body.
 * `home`: send that home's token as `Authorization: Bearer` (read at call time).
 */
export function http(
  port: number,
  path: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    timeoutMs?: number;
    home?: string;
  } = {},
): Promise<HttpResult> {
  const headers = { ...(options.home ? { authorization: `Bearer ${tokenOf(options.home)}` } : {}), ...options.headers };
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    // A server that answers 413 and stops reading makes our own write fail: the answer is what counts.
    req.on('error', reject);
    req.setTimeout(options.timeoutMs ?? 15_000, () => req.destroy(new Error('request timed out')));
    req.end(options.body);
  });
}

export const workerArgs = (home: string, port: number) => ['--home', home, '--port', String(port)];

/** Requests the daemon is serving right now: its /metrics gauge, less the scrape that reads it. */
export async function requestsInFlight(port: number, home: string): Promise<number> {
  const { text } = await http(port, '/metrics', { home });
  return Number(/^spawnguard_http_connections (\d+)$/m.exec(text)?.[1] ?? 0) - 1;
}

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { listProcesses, type ProcessInfo, processIdentity } from '@spawnguard/process-table';

export const marker = (): string => `spawnguard-test-${randomBytes(6).toString('hex')}`;

const dirs: string[] = [];
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spawnguard-registry-'));
  dirs.push(dir);
  return dir;
}

/** Processes whose argv carries the marker (zombies and unreadable ones have no argv and do not count). */
export async function marked(mark: string): Promise<ProcessInfo[]> {
  return (await listProcesses()).filter((p) => p.cmdline.includes(mark));
}

export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (let i = 0; ; i++) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, Math.min(20 * (i + 1), 200)));
  }
}

const started = new Set<ChildProcess>();

/** An unrelated long-running process the test owns (outside any registry), marked. */
export async function sleeper(
  mark: string,
  role = 'unrelated',
  uid?: number,
): Promise<{ child: ChildProcess; pid: number; startToken: string }> {
  const asUser = uid === undefined ? {} : { uid, gid: uid };
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', mark, role], {
    stdio: 'ignore',
    ...asUser,
  });
  started.add(child);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const info = await processIdentity(child.pid!);
  if (!info) throw new Error('sleeper vanished');
  return { child, pid: child.pid!, startToken: info.startToken };
}

/** Kills what the tests started: tracked children by handle, then anything still carrying a marker, by pid. */
export async function cleanup(...marks: string[]): Promise<void> {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  started.clear();
  for (const mark of marks) {
    for (const p of await marked(mark)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {}
    }
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); it is dead for our purposes.
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Process group of a pid, from /proc/<pid>/stat (field 5). */
export function pgidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

const pkgDir = join(import.meta.dirname, '..');
/** The fixtures run the built package: rebuild when a source file is newer than dist. */
export function ensureBuilt(): void {
  const dist = join(pkgDir, 'dist', 'index.js');
  let builtAt = 0;
  try {
    builtAt = statSync(dist).mtimeMs;
  } catch {}
  const sources = execFileSync(
    'find',
    [join(pkgDir, 'src'), '-type', 'f', '-newermt', `@${Math.floor(builtAt / 1000)}`],
    {
      encoding: 'utf8',
    },
  ).trim();
  if (builtAt === 0 || sources.length > 0) execFileSync('pnpm', ['build'], { cwd: pkgDir, stdio: 'ignore' });
}

/** Makes a tree readable (and its folders enterable) by every user. */
function openToAll(path: string): void {
  if (statSync(path).isDirectory()) {
    chmodSync(path, 0o755);
    for (const name of readdirSync(path)) openToAll(join(path, name));
  } else chmodSync(path, 0o644);
}

/** The folder of an installed package `name` as seen from `from` (node's lookup: each parent's node_modules). */
function packageDir(from: string, name: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(dir) === dir) throw new Error(`cannot find ${name} from ${from}`);
  }
}

/**
 * A copy of the built package and its runtime dependencies (their package.json and published
 * files) in a fresh folder every user can read, plus a script there: for a child that runs as
 * another user, who may not be able to enter the checkout (a clone under /root or in a 0700
 * folder). Returns the script's path.
 */
export function portableScript(source: string): string {
  const root = mkdtempSync(join(tmpdir(), 'spawnguard-registry-portable-'));
  dirs.push(root);
  const copyPackage = (from: string, name: string) => {
    const to = join(root, 'node_modules', name);
    if (existsSync(to)) return;
    const manifest = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8'));
    mkdirSync(to, { recursive: true });
    cpSync(join(from, 'package.json'), join(to, 'package.json'));
    for (const entry of manifest.files ?? ['dist']) {
      if (existsSync(join(from, entry))) cpSync(join(from, entry), join(to, entry), { recursive: true });
    }
    for (const dep of Object.keys(manifest.dependencies ?? {})) copyPackage(packageDir(from, dep), dep);
  };
  copyPackage(pkgDir, '@spawnguard/process-registry');
  const script = join(root, 'probe.mjs');
  writeFileSync(script, source);
  openToAll(root);
  return script;
}

export const fixture = (name: string): string => join(import.meta.dirname, 'fixtures', name);

/** Node code for a child that starts one grandchild (same argv marker) and prints "gc <pid>". */
export const PARENT_CODE = `
const { spawn } = require('node:child_process');
const gc = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', process.argv[1], 'grandchild'], { stdio: 'ignore' });
gc.on('spawn', () => process.stdout.write('gc ' + gc.pid + '\\n'));
setInterval(() => {}, 1e6);
`;

/** Resolves with the grandchild pid a PARENT_CODE child prints. */
export function grandchildOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (chunk) => {
      buffered += chunk;
      const match = /gc (\d+)\n/.exec(buffered);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', () => reject(new Error('child exited before its grandchild started')));
  });
}

/** Node code for a child that ignores SIGTERM, then prints "ready". */
export const STUBBORN_CODE =
  "process.on('SIGTERM', () => {}); process.stdout.write('ready\\n'); setInterval(() => {}, 1e6)";

/** Resolves when the child printed "ready" on stdout. */
export function readyLine(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (chunk) => {
      buffered += chunk;
      if (buffered.includes('ready\n')) resolve();
    });
    child.once('exit', () => reject(new Error('child exited before it was ready')));
  });
}

export interface DaemonReady {
  pid: number;
  children: Array<{ pid: number; startToken: string; grandchild: number }>;
}

/** Starts the fixture daemon (fixtures/daemon.mjs) and waits for its "ready" line. */
export async function startDaemon(
  path: string,
  mark: string,
  count = 3,
  env: Record<string, string> = {},
): Promise<{ daemon: ChildProcess; ready: DaemonReady; lines: AsyncIterator<string> }> {
  const { createInterface } = await import('node:readline');
  const daemon = spawn(process.execPath, [fixture('daemon.mjs'), path, mark, String(count)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  started.add(daemon);
  const lines = createInterface({ input: daemon.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done || !first.value.startsWith('ready ')) throw new Error(`daemon did not get ready: ${first.value}`);
  return { daemon, ready: JSON.parse(first.value.slice('ready '.length)), lines };
}

/** The pids of a fixture daemon's children and grandchildren. */
export const familyOf = (ready: DaemonReady): number[] => ready.children.flatMap((c) => [c.pid, c.grandchild]);

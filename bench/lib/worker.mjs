// A real apps/worker daemon on a temp home and a free port, for benchmarks; stopped by pid.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const require = createRequire(import.meta.url);
export const workerCli = join(dirname(require.resolve('@spawnguard/worker/package.json')), 'dist', 'cli.js');
const run = promisify(execFile);

export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A temp home and port; `start()` runs `spawnguard-worker start`, `stop()` stops it and removes the home. */
export async function workerHome() {
  const home = mkdtempSync(join(tmpdir(), 'spawnguard-bench-worker-'));
  const port = String(await freePort());
  const args = ['--home', home, '--port', port];
  return {
    home,
    port,
    args,
    url: `http://127.0.0.1:${port}`,
    start: () => run(process.execPath, [workerCli, 'start', ...args]),
    pid: () => JSON.parse(readFileSync(join(home, 'worker.json'), 'utf8')).pid,
    async stop() {
      await run(process.execPath, [workerCli, 'stop', ...args]).catch(() => {});
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Starts `count` copies of `node ...args` at once; resolves with the ms until the last exited. */
export async function burst(count, args) {
  const t = performance.now();
  const exits = [];
  for (let i = 0; i < count; i++) {
    const child = spawn(process.execPath, args, { stdio: 'ignore' });
    exits.push(new Promise((resolve) => child.on('close', resolve)));
  }
  const codes = await Promise.all(exits);
  const failed = codes.filter((c) => c !== 0).length;
  if (failed) throw new Error(`bench: ${failed} of ${count} processes failed`);
  return performance.now() - t;
}

/** One process, start to exit, in ms. */
export async function once(args) {
  return burst(1, args);
}

export function rssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  return kb / 1024;
}

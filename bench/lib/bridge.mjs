// The worker's stdio bridge (issue 11: `spawnguard-worker mcp <name>`) for the MCP bench: a real
// apps/worker daemon on a temp home whose servers.json holds the bench's servers, and bridge
// processes started by SDK clients over stdio. Until `cli.js --help` lists `mcp`, every bridge
// case fails its setup with EBENCHUNAVAILABLE, so it is reported as not measured (never faked).
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isBackend, serverConfig, stdioClient } from './mcp.mjs';
import { descendants, own, snapshotOwned, stopOwned } from './proc.mjs';
import { workerCli, workerHome } from './worker.mjs';

const run = promisify(execFile);

export class BenchUnavailableError extends Error {
  code = 'EBENCHUNAVAILABLE';
}

/** Throws BenchUnavailableError unless the worker CLI has an `mcp` command. */
export async function requireBridge() {
  // apps/worker/dist is rebuilt while people work (tsup empties it first): give a build in
  // progress up to 60 s to put cli.js back before calling the bridge missing.
  for (let waited = 0; !existsSync(workerCli) && waited < 60_000; waited += 500) {
    await new Promise((r) => setTimeout(r, 500));
  }
  let help = '';
  try {
    help = (await run(process.execPath, [workerCli, '--help'], { timeout: 30_000 })).stdout;
  } catch (error) {
    throw new BenchUnavailableError(
      `waiting for the stdio bridge: \`node ${workerCli} --help\` failed (${error.message})`,
    );
  }
  if (!/^\s+mcp\b/m.test(help)) {
    throw new BenchUnavailableError(
      'waiting for the stdio bridge (issue 11): `spawnguard-worker --help` lists no `mcp <name>` command',
    );
  }
}

/**
 * A running worker whose `<home>/servers.json` configures `names` (same commands as every other
 * case), and `bridge(name)`: an SDK client over stdio to `cli.js mcp <name> --home --port`.
 */
export async function startWorkerHost(names = ['everything']) {
  await requireBridge();
  const w = await workerHome();
  const mcpServers = Object.fromEntries(names.map((n) => [n, serverConfig(n)]));
  writeFileSync(join(w.home, 'servers.json'), `${JSON.stringify({ mcpServers }, null, 2)}\n`, { mode: 0o600 });
  await w.start();
  const pid = w.pid();
  own(pid); // the daemon is detached from us: owned by pid, with its tree, so it dies with this case
  return {
    home: w.home,
    port: w.port,
    pid,
    bridge: (name = 'everything') =>
      stdioClient({ command: process.execPath, args: [workerCli, 'mcp', name, '--home', w.home, '--port', w.port] }),
    backends: () => descendants(pid).filter(isBackend),
    processCount: () => 1 + descendants(pid).length,
    treePids: () => [pid, ...descendants(pid).map((d) => d.pid)],
    async stop() {
      snapshotOwned();
      await w.stop();
      await stopOwned(pid, { graceMs: 3000 });
    },
  };
}

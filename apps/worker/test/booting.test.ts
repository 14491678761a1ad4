// A worker that another launcher is starting has bound its port a moment before it writes its pid
// file (only the winner of the bind may write it). A launcher that arrives in that moment finds a
// port that accepts connections, does not answer yet, and no pid file: it must wait for the worker,
// not call it "another program" and give up (on a loaded machine the moment lasts long enough for
// an editor's MCP server to fail its start: the demo's guarded run lost a tool call this way).
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { acquireSpawnLock } from '@spawnguard/spawn-mutex';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cleanup,
  freePort,
  http,
  isDaemon,
  killStarted,
  makeHome,
  processesWith,
  runCli,
  waitFor,
  workerArgs,
} from './helpers.js';

let home = '';
afterEach(async () => {
  killStarted();
  if (home) await cleanup(home);
  home = '';
});

/** Linux: connections waiting in the accept queue of the socket listening on 127.0.0.1:<port>. */
function acceptQueue(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[3] === '0A') return Number.parseInt(f[4]!.split(':')[1]!, 16); // LISTEN: rx_queue
  }
  return 0;
}

describe('a worker bound but not yet recorded', () => {
  it('while a launcher holds the spawn lock, a hook waits for the worker instead of calling the port another program', async () => {
    home = makeHome();
    const port = await freePort();
    const start = await runCli(['start', ...workerArgs(home, port)]);
    expect(start.code, start.stderr).toBe(0);
    const { pid } = (await http(port, '/health')).json as { pid: number };
    // The moment between bind and pid file, held open: the daemon is bound but answers nothing
    // (stopped), its pid file is not there yet, and the launcher that spawned it holds the lock.
    process.kill(pid, 'SIGSTOP');
    const release = await acquireSpawnLock(join(home, 'spawn'));
    try {
      expect(release).toBeTypeOf('function');
      rmSync(join(home, 'worker.json'));
      let exited = false;
      const hook = runCli(['hook', 'x', ...workerArgs(home, port)], { env: { SPAWNGUARD_HOOK_BUDGET_MS: '20000' } });
      void hook.then(() => (exited = true));
      // The stopped daemon accepts nothing: each of the hook's connections waits in its accept queue.
      // Past the fast path, the identity probe and the TCP check, the 4th is the hook waiting for health.
      await waitFor('the hook to wait for health (or give up)', () => exited || acceptQueue(port) >= 4, 30_000);
      process.kill(pid, 'SIGCONT');
      const result = await hook;
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
    } finally {
      process.kill(pid, 'SIGCONT');
      await release?.();
    }
    const status = JSON.parse((await runCli(['status', '--json', ...workerArgs(home, port)])).stdout);
    expect(status.events.total).toBe(1);
    expect(
      processesWith(home)
        .filter(isDaemon)
        .map((p) => p.pid),
    ).toEqual([pid]);
  }, 60_000);
});

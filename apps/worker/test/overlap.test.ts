import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cleanup,
  freePort,
  http,
  isAlive,
  isDaemon,
  isGrandchild,
  isHelper,
  killStarted,
  makeHome,
  processesWith,
  requestsInFlight,
  runCli,
  tokenOf,
  waitFor,
  workerArgs,
} from './helpers.js';

let home = '';
const sockets: Socket[] = [];
afterEach(async () => {
  killStarted();
  for (const s of sockets.splice(0)) s.destroy();
  if (home) await cleanup(home);
  home = '';
});

/** A POST /events whose body never finishes: it keeps a draining daemon busy until the drain bound. */
async function stalledRequest(port: number): Promise<void> {
  const socket = await new Promise<Socket>((resolve) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
  });
  socket.on('error', () => {});
  sockets.push(socket);
  const body = '{"event":"stalled"}';
  socket.write(
    `POST /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${tokenOf(home)}\r\n` +
      `Content-Length: ${body.length}\r\n\r\n${body.slice(0, 4)}`,
  );
  await waitFor('the stalled request in flight at the daemon', async () => (await requestsInFlight(port, home)) >= 1);
}

const logEvents = () =>
  readFileSync(join(home, 'worker.log'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { event: string; [k: string]: unknown });

async function startWorker(port: number, env: Record<string, string>) {
  const start = await runCli(['start', ...workerArgs(home, port)], { env });
  expect(start.code, start.stderr).toBe(0);
  return (await http(port, '/health')).json as { pid: number };
}

describe('a daemon that boots while the previous one drains', () => {
  it('waits for it to exit, takes the registry over, and serves searches with its own helper', async () => {
    home = makeHome();
    const port = await freePort();
    const env = { SPAWNGUARD_DRAIN_MS: '3000' };
    const old = await startWorker(port, env);
    expect((await http(port, '/search?q=first', { home })).status).toBe(200);
    const oldHelper = processesWith(home).find(isHelper)!.pid;

    await stalledRequest(port);
    process.kill(old.pid, 'SIGTERM');
    // The old daemon closes its listener at once and drains for up to 3 s: hooks now find no worker.
    await waitFor(
      'listener closed',
      () =>
        http(port, '/health', { timeoutMs: 500 }).then(
          () => false,
          (error: Error) => /ECONNREFUSED/.test(error.message),
        ),
      2000,
      25,
    );
    const hooks = await Promise.all(
      [1, 2, 3].map((i) =>
        runCli(['hook', `overlap.${i}`, ...workerArgs(home, port), '--budget-ms', '10000'], { env }),
      ),
    );
    expect(hooks.map((h) => h.code)).toEqual([0, 0, 0]);
    const fresh = (await http(port, '/health')).json.pid as number;
    expect(fresh).not.toBe(old.pid);

    // While the old owner lives, the new registry waits for it (it is not stuck "not-owned").
    const during = JSON.parse((await runCli(['status', '--json', ...workerArgs(home, port)])).stdout);
    const oldAlive = isAlive(old.pid);

    await waitFor('old daemon gone', () => !isAlive(old.pid), 15_000);
    const search = await http(port, '/search?q=after%20the%20overlap', { home, timeoutMs: 30_000 });
    expect(search.status, search.text).toBe(200);
    if (oldAlive) expect(during.registry?.ownership?.state).toMatch(/waiting|claiming/);
    const status = JSON.parse((await runCli(['status', '--json', ...workerArgs(home, port)])).stdout);
    expect(status.registry.ownership).toMatchObject({ state: 'owned' });
    expect(status.registry.ownership.previousOwner?.pid).toBe(old.pid);
    expect(status.pid).toBe(fresh);
    const now = processesWith(home);
    expect(now.filter(isDaemon).map((p) => p.pid)).toEqual([fresh]);
    expect(now.filter(isHelper).map((p) => p.pid)).toEqual([search.json.helperPid]);
    expect(search.json.helperPid).not.toBe(oldHelper);
    const metrics = (await http(port, '/metrics', { home })).text;
    expect(metrics).toMatch(/^spawnguard_registry_ownership\{state="owned"\} 1$/m);
    expect(metrics).toMatch(/^spawnguard_registry_ownership\{state="not-owned"\} 0$/m);
  }, 90_000);
});

describe('a second SIGINT or SIGTERM', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    'after a first SIGTERM: kills helper trees with SIGKILL and exits at once (%s)',
    async (second) => {
      home = makeHome();
      const port = await freePort();
      const env = {
        SPAWNGUARD_DRAIN_MS: '20000',
        SPAWNGUARD_KILL_GRACE_MS: '20000',
        SPAWNGUARD_HELPER_GRANDCHILD: '1',
      };
      const { pid } = await startWorker(port, env);
      expect((await http(port, '/search?q=tree', { home })).status).toBe(200);
      await waitFor('helper tree', () => processesWith(home).some(isGrandchild));
      await stalledRequest(port);

      process.kill(pid, 'SIGTERM');
      // Draining: the orderly shutdown has begun with the stalled request in flight, which holds it for up to 20 s.
      const begun = await waitFor('the drain to begin', () => logEvents().find((e) => e.event === 'shutdown.begin'));
      expect(begun?.active).toBeGreaterThanOrEqual(1);
      expect(logEvents().filter((e) => /^shutdown\.(drain_timeout|done)$/.test(e.event))).toEqual([]);
      expect(isAlive(pid)).toBe(true);
      const t0 = Date.now();
      process.kill(pid, second);
      await waitFor('daemon gone', () => !isAlive(pid), 5000, 20);
      const gone = Date.now() - t0;
      await waitFor('no helper left', () => processesWith(home).length === 0, 3000, 20);
      expect(gone).toBeLessThan(3000); // about a second; the bound only guards against the 20 s drain
    },
    60_000,
  );
});

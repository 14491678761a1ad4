import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cleanup,
  daemonSpawned,
  freePort,
  http,
  isDaemon,
  killStarted,
  makeHome,
  processesWith,
  runCli,
  tokenOf,
  waitFor,
  workerArgs,
} from './helpers.js';

/**
 * Issue: the hook, `start`, `status` and the daemon's own bind-or-die trusted whoever answered
 * /health with the worker's name and version. A squatter on the port (any local user; uids 1000
 * and 1100 share the default port) received hook payloads and the bearer token.
 */
let homes: string[] = [];
let server: Server | null = null;
afterEach(async () => {
  killStarted();
  server?.closeAllConnections();
  server?.close();
  server = null;
  for (const home of homes) {
    await runCli(['stop', '--home', home, '--port', '1']).catch(() => null);
    await cleanup(home);
  }
  homes = [];
});

function newHome(): string {
  const home = makeHome();
  homes.push(home);
  return home;
}

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

/** A squatter: copies the identity a real worker's /health shows and accepts everything with 202. */
async function squatter(port: number): Promise<Seen[]> {
  const seen: Seen[] = [];
  server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
      const path = (req.url ?? '/').split('?')[0];
      res.writeHead(path === '/health' ? 200 : 202, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          name: 'spawnguard-worker',
          version: '0.0.0',
          pid: 4242,
          startToken: 'x:1',
          instanceId: 'copied',
          naive: false,
          accepted: true,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
  return seen;
}

describe('a squatter that copies the worker identity', () => {
  it('gets no hook payload and no token; the hook says who holds the port and exits 0 within its budget', async () => {
    const home = newHome();
    const port = await freePort();
    const seen = await squatter(port);
    for (const tokenFile of [false, true]) {
      // With and without a token left in the home by an earlier worker.
      if (tokenFile) writeFileSync(join(home, 'token'), `${'d'.repeat(64)}\n`, { mode: 0o600 });
      const hook = await runCli([
        'hook',
        'UserPromptSubmit',
        ...workerArgs(home, port),
        '--budget-ms',
        '3000',
        '--payload',
        '{"prompt":"secret plans"}',
      ]);
      expect(hook.code).toBe(0);
      expect(hook.ms).toBeLessThan(3000 + 5000); // sanity bound only: the budget is 3 s
      const lines = hook.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/cannot prove it is the worker of/);
      expect(lines[0]).toMatch(/--port/);
    }
    expect(seen.filter((s) => s.method !== 'GET')).toEqual([]);
    expect(seen.map((s) => s.body).join('')).not.toContain('secret plans');
    expect(seen.filter((s) => s.authorization !== undefined)).toEqual([]);
    // Both hooks have exited: nothing was spawned to lose the bind.
    expect(daemonSpawned(home)).toBe(false);
    expect(processesWith(home).filter(isDaemon)).toEqual([]);
  });

  it('status never sends it an Authorization header and exits 1 with the same line; start exits 1', async () => {
    const home = newHome();
    const port = await freePort();
    writeFileSync(join(home, 'token'), `${'e'.repeat(64)}\n`, { mode: 0o600 });
    const seen = await squatter(port);
    for (const args of [['status'], ['status', '--json']]) {
      const status = await runCli([...args, ...workerArgs(home, port)]);
      expect(status.code).toBe(1);
      expect(status.stderr).toMatch(/cannot prove it is the worker of/);
    }
    const json = JSON.parse((await runCli(['status', '--json', ...workerArgs(home, port)])).stdout);
    expect(json).toMatchObject({ running: false, unproven: true });
    const start = await runCli(['start', ...workerArgs(home, port)]);
    expect(start.code).toBe(1);
    expect(start.stderr).toMatch(/cannot prove it is the worker of/);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((s) => s.authorization !== undefined)).toEqual([]);
    expect(seen.every((s) => /^\/health\?challenge=[0-9a-f]{64}$/.test(s.url))).toBe(true);
  });

  it('a daemon started in front of it exits 1 with the message, not 0 as if it had lost to our own worker', async () => {
    const home = newHome();
    const port = await freePort();
    await squatter(port);
    const daemon = await runCli(['daemon', ...workerArgs(home, port)], { timeoutMs: 15_000 });
    expect(daemon.code).toBe(1);
    expect(daemon.stderr).toMatch(/cannot prove it is the worker of/);
  });
});

describe('two homes sharing one port', () => {
  it("home B's hooks and status never reach home A's worker, which keeps serving A", async () => {
    const a = newHome();
    const b = newHome();
    const port = await freePort();
    expect((await runCli(['start', ...workerArgs(a, port)])).code).toBe(0);
    const before = (await http(port, '/status', { home: a })).json.events.total as number;

    const hook = await runCli(['hook', 'from-b', ...workerArgs(b, port), '--budget-ms', '3000']);
    expect(hook.code).toBe(0);
    expect(hook.stderr).toMatch(/cannot prove it is the worker of .*spawnguard-test-/);
    const status = await runCli(['status', ...workerArgs(b, port)]);
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(/cannot prove it is the worker of/);

    // A's worker got nothing from B, still answers A, and B spawned no daemon of its own.
    expect((await http(port, '/status', { home: a })).json.events.total).toBe(before);
    const fromA = await runCli(['hook', 'from-a', ...workerArgs(a, port)]);
    expect(fromA.stderr).toBe('');
    await waitFor('A counted its own event', async () => {
      return (await http(port, '/status', { home: a })).json.events.total === before + 1;
    });
    expect(processesWith(b).filter(isDaemon)).toEqual([]);
    expect(tokenOf(a)).toMatch(/^[0-9a-f]{64}$/);
  });
});

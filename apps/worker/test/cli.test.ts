import { chmodSync, chownSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { createHealthProof } from '@spawnguard/bind-or-die';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cleanup,
  daemonSpawned,
  freePort,
  killStarted,
  makeHome,
  processesWith,
  runCli,
  workerArgs,
} from './helpers.js';

let home = '';
let server: Server | null = null;
afterEach(async () => {
  killStarted();
  server?.close();
  server?.closeAllConnections();
  server = null;
  if (home) await cleanup(home);
  home = '';
});

function listen(port: number, handler: Parameters<typeof createServer>[1]): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer(handler);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

describe('usage errors exit 2 with the usage text', () => {
  it.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [[], /missing command/],
    [['start', '--bogus'], /Unknown option '--bogus'/],
    [['stop', '--payload', '{}'], /option --payload is not valid for stop/],
    [['status', 'extra'], /unexpected argument "extra"/],
    [['hook'], /hook takes exactly one <event> name/],
    [['hook', 'a', 'b'], /hook takes exactly one <event> name/],
    [['start', '--port', 'http'], /--port must be an integer from 1 to 65535, got "http"/],
    [['hook', 'x', '--budget-ms', '0'], /--budget-ms must be an integer from 1 to 600000, got "0"/],
    [['hook', 'x', '--budget-ms=-5'], /--budget-ms must be an integer/],
  ])('%j', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain('Usage: spawnguard-worker <command> [options]');
    expect(result.stdout).toBe('');
  });

  it('prints help and version on stdout with status 0', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--naive');
    expect(help.stdout).toContain('UNSAFE DEMO MODE');
    const version = await runCli(['-v']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('the home folder must be private', () => {
  it.each([
    [
      'group/world-accessible (0755)',
      (dir: string) => chmodSync(dir, 0o755),
      /accessible by group or others \(mode 0755\).*chmod 700/,
    ],
    ['owned by another user', (dir: string) => chownSync(dir, 65534, 65534), /owned by uid 65534, not by you/],
  ])('refuses a home %s in start, daemon, status and hook', async (_what, spoil, message) => {
    home = makeHome();
    spoil(home);
    const port = await freePort();
    for (const command of ['start', 'daemon', 'status', 'stop']) {
      const result = await runCli([command, ...workerArgs(home, port)]);
      expect(result.code, command).toBe(1);
      expect(result.stderr, command).toMatch(message);
    }
    const hook = await runCli(['hook', 'ping', ...workerArgs(home, port)]);
    expect(hook.code).toBe(0); // a hook fails open...
    expect(hook.stderr).toMatch(message); // ...but says why, in one line
    expect(hook.stderr.trim().split('\n')).toHaveLength(1);
    expect(processesWith(home)).toEqual([]);
  });
});

describe('hook against a port someone else holds', () => {
  it('returns within its budget with one clear line and never spawns a worker', async () => {
    home = makeHome();
    const port = await freePort();
    let hits = 0;
    server = await listen(port, (_req, res) => {
      hits++;
      res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>some other app</h1>');
    });
    for (let i = 0; i < 5; i++) {
      const result = await runCli(['hook', 'ping', ...workerArgs(home, port), '--budget-ms', '3000']);
      expect(result.code).toBe(0);
      expect(result.ms).toBeLessThan(3000 + 10_000); // sanity bound only
      expect(result.stderr).toMatch(/held by another program/);
      expect(result.stderr).not.toMatch(/in use/);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
    // Every hook has exited: none spawned a daemon (not even one that lost the bind at once).
    expect(daemonSpawned(home)).toBe(false);
    expect(processesWith(home)).toEqual([]);
    expect(hits).toBeGreaterThanOrEqual(5);
  });

  it('a holder slower than the first 1 s probe is still identified, not called silent (a loaded machine)', async () => {
    home = makeHome();
    const port = await freePort();
    server = await listen(port, (_req, res) => {
      // Answers, but only after the launcher's first probe gave up: its second, longer probe hears it.
      setTimeout(() => res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>slow app</h1>'), 1500).unref();
    });
    const result = await runCli(['hook', 'ping', ...workerArgs(home, port), '--budget-ms', '6000']);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/held by another program/);
    expect(result.stderr).not.toMatch(/does not answer HTTP/);
    expect(daemonSpawned(home)).toBe(false);
  });

  it("recognises a spawnguard-worker of another version, once it proves it holds this home's token", async () => {
    home = makeHome();
    const port = await freePort();
    const token = 'c'.repeat(64);
    writeFileSync(join(home, 'token'), `${token}\n`, { mode: 0o600 });
    server = await listen(port, (req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname === '/health') {
        const challenge = url.searchParams.get('challenge');
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            name: 'spawnguard-worker',
            version: '9.9.9',
            pid: 4242,
            ...(challenge ? { proof: createHealthProof({ secret: token, challenge, port }) } : {}),
          }),
        );
      } else res.writeHead(404).end();
    });
    const start = await runCli(['start', ...workerArgs(home, port)]);
    expect(start.code).toBe(1);
    expect(start.stderr).toMatch(
      /a spawnguard-worker of version 9\.9\.9 \(pid 4242\) holds 127\.0\.0\.1:\d+; this is version/,
    );
    const hook = await runCli(['hook', 'ping', ...workerArgs(home, port)]);
    expect(hook.code).toBe(0);
    const status = await runCli(['status', '--json', ...workerArgs(home, port)]);
    expect(JSON.parse(status.stdout)).toMatchObject({ running: true, version: '9.9.9', authorized: false });
    // start, hook and status have exited: none spawned a daemon.
    expect(daemonSpawned(home)).toBe(false);
    expect(processesWith(home)).toEqual([]);
  });
});

describe('stop and status with nothing running', () => {
  it('say so without failing', async () => {
    home = makeHome();
    const port = await freePort();
    const stop = await runCli(['stop', ...workerArgs(home, port)]);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toMatch(/not running/);
    const status = await runCli(['status', ...workerArgs(home, port)]);
    expect(status.code).toBe(3);
    expect(status.stdout).toMatch(/not running/);
  });
});

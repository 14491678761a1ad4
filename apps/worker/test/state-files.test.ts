import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cleanup,
  freePort,
  http,
  isDaemon,
  isHelper,
  killStarted,
  makeHome,
  processesWith,
  runCli,
  waitFor,
  workerArgs,
} from './helpers.js';

let home = '';
const extra: string[] = [];
afterEach(async () => {
  killStarted();
  if (home) {
    await runCli(['stop', '--home', home, '--port', '1']).catch(() => null);
    await cleanup(home);
  }
  home = '';
  for (const dir of extra.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('state files planted as FIFOs or links never hang or redirect the worker', () => {
  it('a hook delivers within its budget with FIFOs at the token, pid file, log and daemon.out', async () => {
    home = makeHome();
    const port = await freePort();
    const victim = join(mkdtempSync(join(tmpdir(), 'spawnguard-victim-')), 'victim');
    extra.push(join(victim, '..'));
    writeFileSync(victim, 'keep me\n');
    for (const name of ['token', 'worker.json', 'worker.log', 'daemon.out']) execFileSync('mkfifo', [join(home, name)]);
    symlinkSync(victim, join(home, 'worker.log.1'));

    const hook = await runCli(['hook', 'fifo', ...workerArgs(home, port), '--budget-ms', '8000'], {
      timeoutMs: 30_000,
    });
    expect(hook.code).toBe(0);
    expect(hook.stderr).toBe('');
    expect(hook.ms).toBeLessThan(8000 + 5000); // sanity bound: it would hang forever before
    // The daemon replaced the token and pid file (rename over the FIFO), and its status works.
    expect(statSync(join(home, 'token')).isFile()).toBe(true);
    expect(statSync(join(home, 'worker.json')).isFile()).toBe(true);
    const status = await runCli(['status', '--json', ...workerArgs(home, port)]);
    expect(JSON.parse(status.stdout)).toMatchObject({ running: true, authorized: true });
    expect(JSON.parse(status.stdout).events.total).toBe(1);
    // A log or daemon.out FIFO is refused, never written through or followed.
    expect(statSync(join(home, 'worker.log')).isFIFO()).toBe(true);
    expect(readFileSync(victim, 'utf8')).toBe('keep me\n');
    expect((await runCli(['stop', ...workerArgs(home, port)])).code).toBe(0);
  });
});

describe('the spawn breaker, registry and lock paths', () => {
  it('FIFOs at spawn-breaker.json and registry.json: the hook still delivers within its budget', async () => {
    home = makeHome();
    const port = await freePort();
    for (const name of ['spawn-breaker.json', 'registry.json']) execFileSync('mkfifo', [join(home, name)]);
    const hook = await runCli(['hook', 'fifo', ...workerArgs(home, port), '--budget-ms', '6000'], {
      timeoutMs: 30_000,
    });
    expect(hook.code).toBe(0);
    expect(hook.stderr).toBe('');
    expect(hook.ms).toBeLessThan(6000 + 5000); // it hung past every budget before
    expect((await http(port, '/search?q=fifo', { home })).status).toBe(200);
    const status = JSON.parse((await runCli(['status', '--json', ...workerArgs(home, port)])).stdout);
    expect(status.registry.ownership.state).toBe('owned');
  });

  it('a FIFO where the spawn lock folder belongs: one clear line, exit 0, no hang', async () => {
    home = makeHome();
    const port = await freePort();
    execFileSync('mkfifo', [join(home, 'spawn.lock')]);
    const hook = await runCli(['hook', 'fifo', ...workerArgs(home, port), '--budget-ms', '4000'], {
      timeoutMs: 30_000,
    });
    expect(hook.code).toBe(0);
    expect(hook.ms).toBeLessThan(4000 + 5000);
    expect(hook.stderr.trim().split('\n')).toHaveLength(1);
    expect(hook.stderr).toMatch(/spawn\.lock/);
  });
});

describe('the daemon runs in the home folder, its helper in the empty private backend-cwd inside it', () => {
  it("not in the hook's working directory; daemon.out is rotated once it is over the log size", async () => {
    home = makeHome();
    const port = await freePort();
    const project = mkdtempSync(join(tmpdir(), 'spawnguard-project-'));
    extra.push(project);
    writeFileSync(join(home, 'daemon.out'), 'x'.repeat(4096), { mode: 0o600 });

    const start = await runCli(['start', ...workerArgs(home, port)], {
      cwd: project,
      env: { SPAWNGUARD_LOG_MAX_BYTES: '2048' },
    });
    expect(start.code, start.stderr).toBe(0);
    expect((await http(port, '/search?q=cwd', { home })).status).toBe(200);
    const daemon = await waitFor('daemon', () => processesWith(home).find(isDaemon));
    const helper = await waitFor('helper', () => processesWith(home).find(isHelper));
    expect(readlinkSync(`/proc/${daemon!.pid}/cwd`)).toBe(home);
    // The helper is a hosted MCP server: never in the folder that holds the token (issue 20, defect 13).
    expect(readlinkSync(`/proc/${helper!.pid}/cwd`)).toBe(join(home, 'backend-cwd'));
    expect(readFileSync(join(home, 'daemon.out.1'), 'utf8')).toBe('x'.repeat(4096));
    expect(statSync(join(home, 'daemon.out')).size).toBeLessThan(4096);
  });
});

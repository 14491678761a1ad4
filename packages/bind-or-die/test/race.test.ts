import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Child, freePort, killChildren, removeTempDirs, startChild, tempDir, waitUntil } from './helpers.js';

beforeAll(() => {
  if (!existsSync(join(import.meta.dirname, '..', 'dist', 'index.js'))) {
    throw new Error('child fixtures import dist/: run `pnpm build` first');
  }
});

afterEach(async () => {
  await killChildren();
  removeTempDirs();
});

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Start n racers, release them together, wait until all but one have exited. */
async function race(n: number, kind: 'port' | 'path', value: string, dir: string) {
  const goFile = join(dir, 'go');
  const racers: Child[] = [];
  for (let i = 0; i < n; i++) racers.push(startChild('race-child.mjs', [dir, goFile, kind, value]));
  await Promise.all(racers.map((r) => r.waitFor('ready', 60_000)));
  writeFileSync(goFile, '');
  await waitUntil(() => racers.filter((r) => r.exit).length >= n - 1, 60_000, `${n - 1} losers to exit`);
  // The one left has bound; once its init is written, every racer has done all it will (a loser
  // that ran its init wrote it before it exited): the count is final.
  const alive = racers.filter((r) => !r.exit);
  await waitUntil(() => alive.every((r) => existsSync(join(dir, `init-${r.pid}`))), 60_000, 'the winner to init');
  const exited = racers.filter((r) => r.exit);
  const inits = readdirSync(dir).filter((f) => f.startsWith('init-'));
  return { racers, alive, exited, inits };
}

describe('racing workers', () => {
  it('20 processes race for one TCP port: exactly one listens, 19 exit 0 before any background init', async () => {
    const dir = tempDir();
    const port = await freePort();
    const { alive, exited, inits } = await race(20, 'port', String(port), dir);

    expect(alive).toHaveLength(1);
    expect(exited).toHaveLength(19);
    for (const loser of exited) {
      expect(loser.exit, `pid ${loser.pid} stderr: ${loser.stderr()}`).toEqual({ code: 0, signal: null });
      expect(loser.stdout()).toBe('ready\n'); // quiet: nothing printed on losing
      expect(loser.stderr()).toBe('');
    }
    const winner = alive[0]!;
    expect(inits).toEqual([`init-${winner.pid}`]);
    expect(await get(port)).toBe(String(winner.pid));
  }, 120_000);

  it('10 processes race for one stale unix socket: exactly one recovers it and listens', async () => {
    const dir = tempDir();
    const path = join(dir, 'w.sock');
    const holder = startChild('socket-holder.mjs', [path]);
    await holder.waitFor('ready');
    holder.proc.kill('SIGKILL');
    await holder.exited;
    expect(existsSync(path)).toBe(true);

    const { alive, exited, inits } = await race(10, 'path', path, dir);
    expect(alive).toHaveLength(1);
    for (const loser of exited) expect(loser.exit).toEqual({ code: 0, signal: null });
    expect(inits).toEqual([`init-${alive[0]!.pid}`]);
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ socketPath: path, path: '/', agent: false }, (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    expect(body).toBe(String(alive[0]!.pid));
    // No leftover ".xxxx" aside files from the rename-then-check removal.
    expect(readdirSync(dir).filter((f) => f.startsWith('w.sock'))).toEqual(['w.sock']);
  }, 120_000);
});

describe('default onLost', () => {
  it('exits 0 quietly when the port is taken', async () => {
    const port = await freePort();
    const holder = startChild('race-child.mjs', [tempDir(), '/', 'port', String(port)]);
    await holder.waitFor('ready');
    await waitForListening(port);
    const loser = startChild('lose-child.mjs', [String(port), 'default']);
    expect(await loser.exited).toEqual({ code: 0, signal: null });
    expect(loser.stdout()).toBe('');
    expect(loser.stderr()).toBe('');
  });

  it('exits 1 with one line on stderr when verifyWinner never confirms the holder', async () => {
    const port = await freePort();
    const holder = startChild('race-child.mjs', [tempDir(), '/', 'port', String(port)]);
    await holder.waitFor('ready');
    await waitForListening(port);
    const loser = startChild('lose-child.mjs', [String(port), 'verify-fail']);
    expect(await loser.exited).toEqual({ code: 1, signal: null });
    expect(loser.stdout()).toBe('');
    expect(loser.stderr()).toContain(`127.0.0.1:${port} is taken by a process that did not answer as our worker`);
  });
});

async function waitForListening(port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await get(port);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

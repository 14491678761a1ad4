import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { processIdentity } from '@spawnguard/process-table';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  alive,
  type Child,
  cleanup,
  DIST,
  freePort,
  killCarrying,
  killPid,
  MARKER,
  markerPids,
  startNode,
  tempDir,
  waitUntil,
} from './helpers.js';

beforeAll(() => {
  if (!existsSync(DIST)) throw new Error('child fixtures import dist/: run `pnpm build` first');
});
afterEach(cleanup);

type Line = Record<string, unknown>;
const resultOf = (c: Child) => c.lines().find((l) => 'result' in l || 'error' in l) as Line | undefined;
const eventOf = (c: Child, name: string) => c.lines().find((l) => l.event === name) as Line | undefined;

describe('a lock holder that dies', () => {
  for (const dieAfter of ['lockAcquired', 'spawned'] as const) {
    it(`SIGKILLed right after ${dieAfter}: the next launchers take over within 1 s (staleMs 30 s), never two daemons; 20 trials`, async () => {
      for (let trial = 0; trial < 20; trial++) {
        // A port and a folder per trial: a duplicate a launcher spawned late in one trial must not
        // answer the next trial's victim (which would then find a daemon running and never spawn).
        const port = await freePort();
        const dir = tempDir();
        const base = { port, dir, lockPath: join(dir, 'daemon'), staleMs: 30_000, waitTimeoutMs: 20_000 };
        const victim = startNode('launcher.mjs', [JSON.stringify({ ...base, dieAfter })]);
        expect(await victim.exited, `trial ${trial}: ${JSON.stringify(victim.lines())}`).toEqual({
          code: null,
          signal: 'SIGKILL',
        });
        expect(readdirSync(join(dir, 'daemon.lock')), 'the dead holder left its lock').toEqual([
          expect.stringMatching(/^owner-[0-9a-f]+\.json$/),
        ]);

        const next = [0, 1, 2].map(() => startNode('launcher.mjs', [JSON.stringify(base)]));
        await Promise.all(next.map((c) => c.exited));
        const results = next.map(resultOf);
        expect(
          results.every((r) => r && 'result' in r),
          JSON.stringify(next.map((c) => c.lines())),
        ).toBe(true);
        const outcomes = results.map((r) => (r!.result as { outcome: string }).outcome);

        if (dieAfter === 'lockAcquired') {
          // Nobody spawned before: exactly one of the next launchers must, after a takeover.
          expect(
            outcomes.filter((o) => o === 'spawned'),
            `trial ${trial}`,
          ).toHaveLength(1);
        }
        const takeovers = next.map((c) => eventOf(c, 'takeover')).filter(Boolean);
        if (outcomes.includes('spawned') || dieAfter === 'lockAcquired') {
          expect(takeovers, `trial ${trial}: exactly one takeover`).toHaveLength(1);
          expect(takeovers[0]!.reason).toBe('dead-owner');
          // The first lock acquisition after the takeover (whoever won the mkdir). A sanity bound
          // far below staleMs (30 s): only the identity check explains it.
          const acquired = next.map((c) => eventOf(c, 'lockAcquired')?.elapsedMs as number | undefined);
          expect(Math.min(...acquired.filter((ms) => ms !== undefined))).toBeLessThan(1000);
        }
        await waitUntil(() => markerPids(dir, 'daemon-').length >= 1, 10_000, 'a daemon');
        // Duplicates (if a launcher spawned while the first daemon was still booting) exit on EADDRINUSE.
        await waitUntil(() => markerPids(dir, 'spawn-').filter(alive).length <= 1, 10_000, 'duplicates to exit');
        const daemons = markerPids(dir, 'daemon-');
        expect(daemons, `trial ${trial}: listening daemons`).toHaveLength(1);
        expect(markerPids(dir, 'spawn-').filter(alive)).toEqual(daemons);
        await killPid(daemons[0]!);
        await killCarrying(dir); // and any duplicate still starting, before the next trial
      }
    }, 600_000);
  }
});

describe('takeover race', () => {
  it('20 waiters facing one dead owner: exactly one gets the lock; 5 rounds', async () => {
    for (let round = 0; round < 5; round++) {
      const dir = tempDir();
      const lockPath = join(dir, 'daemon');
      // A real process that then dies: its record is provably stale (same host, start token gone).
      const doomed = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', MARKER], { stdio: 'ignore' });
      const identity = await processIdentity(doomed.pid!);
      expect(identity).not.toBeNull();
      doomed.kill('SIGKILL');
      await new Promise((resolve) => doomed.once('exit', resolve));
      mkdirSync(`${lockPath}.lock`);
      const nonce = `dead${round}0000000000`;
      writeFileSync(
        join(`${lockPath}.lock`, `owner-${nonce}.json`),
        JSON.stringify({
          format: '@spawnguard/spawn-mutex',
          version: 1,
          pid: doomed.pid,
          startToken: identity!.startToken,
          hostname: hostname(),
          createdAt: Date.now(),
          nonce,
        }),
      );
      const now = new Date();
      utimesSync(`${lockPath}.lock`, now, now); // fresh: staleMs (30 s) cannot be the reason

      const goFile = join(dir, 'go');
      const releaseFile = join(dir, 'release');
      const waiters = Array.from({ length: 20 }, () => startNode('acquire.mjs', [lockPath, goFile, releaseFile]));
      await Promise.all(waiters.map((w) => w.waitForLine((l) => l.ready === true)));
      writeFileSync(goFile, '');
      await Promise.all(waiters.map((w) => w.waitForLine((l) => 'got' in l)));
      const answers = waiters.map((w) => w.lines().find((l) => 'got' in l)!);
      expect(
        answers.filter((a) => a.got === true),
        `round ${round}`,
      ).toHaveLength(1);
      expect(
        answers.reduce((n, a) => n + (a.takeovers as number), 0),
        `round ${round}: takeovers`,
      ).toBe(1);
      // The claimed record was removed, nothing else left beside the lock.
      expect(readdirSync(dir).filter((f) => f.startsWith('daemon.lock.'))).toEqual([]);

      writeFileSync(releaseFile, '');
      const exits = await Promise.all(waiters.map((w) => w.exited));
      expect(exits.every((e) => e.code === 0)).toBe(true);
      expect(existsSync(`${lockPath}.lock`)).toBe(false);
    }
  }, 300_000);
});

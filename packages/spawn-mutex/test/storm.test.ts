import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  alive,
  type Child,
  cleanup,
  DIST,
  freePort,
  killPid,
  markerPids,
  startNode,
  tempDir,
  waitUntil,
} from './helpers.js';

beforeAll(() => {
  if (!existsSync(DIST)) throw new Error('child fixtures import dist/: run `pnpm build` first');
});
afterEach(cleanup);

const LAUNCHERS = 100;
const ROUNDS = 10;

describe('a storm of launchers', () => {
  it(`${LAUNCHERS} launcher processes at once, ${ROUNDS} rounds: exactly one daemon each round`, async () => {
    const port = await freePort();
    for (let round = 0; round < ROUNDS; round++) {
      const dir = tempDir();
      const goFile = join(dir, 'go');
      const config = { port, dir, lockPath: join(dir, 'daemon'), goFile, waitTimeoutMs: 120_000, staleMs: 10_000 };
      const launchers: Child[] = [];
      for (let i = 0; i < LAUNCHERS; i++) launchers.push(startNode('launcher.mjs', [JSON.stringify(config)]));
      await Promise.all(launchers.map((l) => l.waitForLine((line) => line.ready === true, 120_000)));
      writeFileSync(goFile, '');
      await Promise.all(launchers.map((l) => l.exited));

      const results = launchers.map((l) => l.lines().find((line) => 'result' in line || 'error' in line));
      const problems = launchers.filter((l, i) => l.exit?.code !== 0 || !results[i] || 'error' in results[i]!);
      expect(
        problems.map((l) => ({ pid: l.pid, exit: l.exit, lines: l.lines().slice(-3), stderr: l.stderr() })),
        `round ${round}`,
      ).toEqual([]);
      const outcomes = results.map((r) => (r!.result as { outcome: string }).outcome);
      expect(
        outcomes.filter((o) => o === 'spawned'),
        `round ${round}`,
      ).toHaveLength(1);
      expect(outcomes.every((o) => o === 'spawned' || o === 'waited' || o === 'already-running')).toBe(true);

      const spawns = markerPids(dir, 'spawn-');
      const daemons = markerPids(dir, 'daemon-');
      expect(spawns, `round ${round}: daemon starts`).toHaveLength(1);
      expect(daemons, `round ${round}: listening daemons`).toEqual(spawns);
      expect(alive(daemons[0]!)).toBe(true);
      // The lock was released: no lock folder, no graves (nobody died holding it).
      expect(existsSync(join(dir, 'daemon.lock')), `round ${round}: lock left behind`).toBe(false);

      await killPid(daemons[0]!);
      await waitUntil(() => !alive(daemons[0]!), 10_000, 'daemon to exit');
    }
  }, 900_000);
});

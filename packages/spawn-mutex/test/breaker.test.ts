import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Child, cleanup, DIST, freePort, markerPids, startNode, tempDir } from './helpers.js';

// The real file-backed breaker from this monorepo, by path (not a dependency of spawn-mutex).
const BREAKER = join(import.meta.dirname, '..', '..', 'circuit-breaker', 'dist', 'index.js');

beforeAll(() => {
  if (!existsSync(DIST)) throw new Error('child fixtures import dist/: run `pnpm build` first');
  if (!existsSync(BREAKER)) throw new Error(`build packages/circuit-breaker first (${BREAKER})`);
});
afterEach(cleanup);

type Line = Record<string, unknown>;
const errorOf = (c: Child) => c.lines().find((l) => 'error' in l && !('event' in l))?.error as Line | undefined;

describe('a daemon that dies at boot, behind a file-backed breaker', () => {
  it('50 launchers over the cooldown cause at most 3 spawns; the rest fail fast with retryAfterMs', async () => {
    const dir = tempDir();
    const port = await freePort();
    const config = {
      port,
      dir,
      lockPath: join(dir, 'daemon'),
      daemonMode: 'crash',
      spawnTimeoutMs: 1000,
      waitTimeoutMs: 60_000,
      staleMs: 10_000,
      breakerFile: join(dir, 'breaker.json'),
      breakerModule: pathToFileURL(BREAKER).href,
    };

    // Wave 1: 30 at once. The breaker opens after 3 failed spawns.
    const goFile = join(dir, 'go');
    const wave1 = Array.from({ length: 30 }, () => startNode('launcher.mjs', [JSON.stringify({ ...config, goFile })]));
    await Promise.all(wave1.map((c) => c.waitForLine((l) => l.ready === true, 120_000)));
    writeFileSync(goFile, '');
    await Promise.all(wave1.map((c) => c.exited));
    // Wave 2: 20 more, one after another, still within the 60 s cooldown.
    const wave2: Child[] = [];
    for (let i = 0; i < 20; i++) {
      const c = startNode('launcher.mjs', [JSON.stringify(config)]);
      wave2.push(c);
      await c.exited;
    }

    const all = [...wave1, ...wave2];
    const errors = all.map(errorOf);
    expect(errors.every(Boolean), JSON.stringify(all.filter((c) => !errorOf(c)).map((c) => c.lines()))).toBe(true);
    const timeouts = errors.filter((e) => e!.code === 'ESPAWNTIMEOUT');
    const broken = errors.filter((e) => e!.code === 'EBROKENCIRCUIT');
    expect(markerPids(dir, 'spawn-').length).toBeLessThanOrEqual(3);
    expect(markerPids(dir, 'spawn-').length).toBe(timeouts.length);
    expect(
      timeouts.length + broken.length,
      JSON.stringify(errors.filter((e) => e!.code !== 'ESPAWNTIMEOUT' && e!.code !== 'EBROKENCIRCUIT')),
    ).toBe(50);
    for (const e of broken) expect(e!.retryAfterMs).toBeGreaterThan(0);
    // Wave 2 came after the breaker opened: none of them spawned or waited out a timeout.
    for (const c of wave2) {
      expect(errorOf(c)!.code).toBe('EBROKENCIRCUIT');
      expect(c.lines().some((l) => l.event === 'spawned')).toBe(false);
    }
  }, 300_000);
});

// A daemon slower to boot than the spawning launcher's wait (a loaded machine): without a hand-off,
// the launcher releases the lock, the next launcher sees no health, and spawns a second daemon.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { alive, cleanup, DIST, freePort, markerPids, startNode, tempDir, waitUntil } from './helpers.js';

beforeAll(() => {
  if (!existsSync(DIST)) throw new Error('child fixtures import dist/: run `pnpm build` first');
});
afterEach(cleanup);

type Line = Record<string, unknown>;
function outcomeOf(lines: Line[]): Line {
  const found = lines.find((l) => 'result' in l || 'error' in l);
  if (!found) throw new Error(`launcher printed no result: ${JSON.stringify(lines.slice(-3))}`);
  return found;
}

async function launch(config: Record<string, unknown>): Promise<Line[]> {
  const child = startNode('launcher.mjs', [JSON.stringify(config)]);
  await child.exited;
  return child.lines();
}

async function scenario(returnPid: boolean, daemonMode: string) {
  const dir = tempDir();
  const port = await freePort();
  const base = { port, dir, lockPath: join(dir, 'daemon'), staleMs: 30_000, daemonMode, returnPid };
  const first = await launch({ ...base, waitTimeoutMs: 400 });
  // A second wave while the first daemon is still booting.
  const wave = await Promise.all(Array.from({ length: 5 }, () => launch({ ...base, waitTimeoutMs: 400 })));
  return { dir, port, base, first, wave };
}

describe('hand-off to a daemon that is still booting', () => {
  it('the lock passes to the spawned daemon: launchers arriving while it boots spawn nothing', async () => {
    const { dir, base, first, wave } = await scenario(true, 'slow:4000');
    const firstError = outcomeOf(first).error as { code: string; handedOffTo: number };
    expect(firstError.code).toBe('ESPAWNTIMEOUT');
    const spawned = markerPids(dir, 'spawn-');
    expect(spawned).toHaveLength(1);
    expect(firstError.handedOffTo).toBe(spawned[0]);
    expect(first.some((l) => l.event === 'handOff' && l.pid === spawned[0])).toBe(true);
    for (const lines of wave) {
      expect(lines.some((l) => l.event === 'spawned')).toBe(false);
      expect(lines.some((l) => l.event === 'lockBusy')).toBe(true);
    }
    // Once it listens, launchers find it; still one daemon ever.
    const later = await launch({ ...base, waitTimeoutMs: 15_000 });
    expect((outcomeOf(later).result as { outcome: string }).outcome).toMatch(/already-running|waited/);
    expect(markerPids(dir, 'spawn-')).toHaveLength(1);
    expect(markerPids(dir, 'daemon-')).toEqual(spawned);
  }, 60_000);

  it('without the pid there is no hand-off, and the second wave spawns again (the failure this prevents)', async () => {
    const { dir, wave } = await scenario(false, 'slow:4000');
    expect(wave.some((lines) => lines.some((l) => l.event === 'spawned'))).toBe(true);
    expect(markerPids(dir, 'spawn-').length).toBeGreaterThan(1);
  }, 60_000);

  it('a holder SIGKILLed right after spawning leaves the lock to its booting daemon: the next launchers wait, never spawn', async () => {
    const dir = tempDir();
    const port = await freePort();
    const base = {
      port,
      dir,
      lockPath: join(dir, 'daemon'),
      staleMs: 30_000,
      returnPid: true,
      daemonMode: 'slow:3000',
    };
    const victim = startNode('launcher.mjs', [JSON.stringify({ ...base, waitTimeoutMs: 20_000, dieAfter: 'spawned' })]);
    expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const next = await Promise.all([0, 1, 2].map(() => launch({ ...base, waitTimeoutMs: 20_000 })));
    for (const lines of next) {
      expect(lines.some((l) => l.event === 'spawned' || l.event === 'takeover')).toBe(false);
      expect((outcomeOf(lines).result as { outcome: string }).outcome).toBe('waited');
    }
    expect(markerPids(dir, 'spawn-')).toHaveLength(1);
    expect(markerPids(dir, 'daemon-')).toEqual(markerPids(dir, 'spawn-'));
  }, 60_000);

  it('a daemon that dies while holding the handed-off lock frees it at once (identity, not staleMs)', async () => {
    const dir = tempDir();
    const port = await freePort();
    const base = { port, dir, lockPath: join(dir, 'daemon'), staleMs: 30_000, returnPid: true };
    const first = await launch({ ...base, waitTimeoutMs: 300, daemonMode: 'slow-crash:1000' });
    const pid = (outcomeOf(first).error as { handedOffTo: number }).handedOffTo;
    expect(pid).toBeGreaterThan(0);
    await waitUntil(() => !alive(pid), 15_000, 'the handed-off daemon to crash');
    const next = await launch({ ...base, waitTimeoutMs: 15_000, daemonMode: 'ok' });
    expect(next.some((l) => l.event === 'takeover' && l.reason === 'dead-owner')).toBe(true);
    expect((outcomeOf(next).result as { outcome: string }).outcome).toBe('spawned');
  }, 60_000);
});

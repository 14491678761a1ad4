// A daemon slower to boot than the spawning launcher's wait (a loaded machine): without a hand-off,
// the launcher releases the lock, the next launcher sees no health, and spawns a second daemon.
// The daemons here are gated: they boot when the test writes <dir>/boot, not after a fixed delay,
// so the outcome never depends on how long this machine takes to start the launchers.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { alive, cleanup, DIST, freePort, markerPids, startNode, tempDir, waitUntil } from './helpers.js';

const boot = (dir: string) => writeFileSync(join(dir, 'boot'), '');

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
    const { dir, base, first, wave } = await scenario(true, 'gated');
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
    boot(dir);
    const later = await launch({ ...base, waitTimeoutMs: 15_000 });
    expect((outcomeOf(later).result as { outcome: string }).outcome).toMatch(/already-running|waited/);
    expect(markerPids(dir, 'spawn-')).toHaveLength(1);
    expect(markerPids(dir, 'daemon-')).toEqual(spawned);
  }, 60_000);

  it('without the pid there is no hand-off, and the second wave spawns again (the failure this prevents)', async () => {
    const { dir, wave } = await scenario(false, 'gated');
    expect(wave.some((lines) => lines.some((l) => l.event === 'spawned'))).toBe(true);
    // A daemon writes its marker once node has started it: on a loaded machine that can come after
    // its launcher's 400 ms wait has ended.
    await waitUntil(() => markerPids(dir, 'spawn-').length > 1, 20_000, 'a second daemon to start');
    boot(dir); // the duplicates then lose the port and exit; cleanup takes the rest
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
      daemonMode: 'gated',
    };
    const victim = startNode('launcher.mjs', [JSON.stringify({ ...base, waitTimeoutMs: 20_000, dieAfter: 'spawned' })]);
    expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const launchers = [0, 1, 2].map(() =>
      startNode('launcher.mjs', [JSON.stringify({ ...base, waitTimeoutMs: 20_000 })]),
    );
    // All three find the lock held by the booting daemon before it is allowed to listen.
    await Promise.all(launchers.map((c) => c.waitForLine((l) => l.event === 'lockBusy', 20_000)));
    boot(dir);
    await Promise.all(launchers.map((c) => c.exited));
    const next = launchers.map((c) => c.lines());
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
    const first = await launch({ ...base, waitTimeoutMs: 300, daemonMode: 'gated-crash' });
    const pid = (outcomeOf(first).error as { handedOffTo: number }).handedOffTo;
    expect(pid).toBeGreaterThan(0);
    expect(alive(pid)).toBe(true);
    boot(dir); // now it crashes, still holding the lock
    await waitUntil(() => !alive(pid), 15_000, 'the handed-off daemon to crash');
    const next = await launch({ ...base, waitTimeoutMs: 15_000, daemonMode: 'ok' });
    expect(next.some((l) => l.event === 'takeover' && l.reason === 'dead-owner')).toBe(true);
    expect((outcomeOf(next).result as { outcome: string }).outcome).toBe('spawned');
  }, 60_000);
});

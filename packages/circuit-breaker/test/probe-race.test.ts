/**
 * The cross-process probe lease is exclusive: many real processes sharing one fileStore race for
 * the half-open probe at the same instant, round after round, and exactly one of them probes each
 * time (each probe creates an exclusive marker file, so a second probe would collide on it).
 * The children import the built package (dist/), so run `pnpm build` before these tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newMarker, pidsCarrying } from '../../../test-kit/processes.js';

const root = resolve(import.meta.dirname, '..');
const DIST = join(root, 'dist', 'index.js');
const PROBER = join(root, 'test', 'children', 'prober.mjs');
const RACERS = 12;
const ROUNDS = 24;
const LINE_TIMEOUT_MS = 20_000;

interface RoundResult {
  round: number;
  ran: boolean;
  collided: boolean;
  refusedAs: string | null;
  pid: number;
  message?: string;
}

const marker = newMarker();
const children: ChildProcess[] = [];
let dir: string | undefined;

beforeAll(() => {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`pnpm build\` before the tests`);
  const built = statSync(DIST).mtimeMs;
  const stale = readdirSync(join(root, 'src')).filter((f) => statSync(join(root, 'src', f)).mtimeMs > built);
  if (stale.length > 0) throw new Error(`dist/ is older than src/ (${stale.join(', ')}): run \`pnpm build\``);
});

afterEach(async () => {
  const exits = children.map((c) =>
    c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.once('exit', r)),
  );
  for (const child of children) child.stdin?.end();
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(exits);
  children.length = 0;
  // Nothing carrying this file's marker may survive.
  for (const pid of pidsCarrying(marker)) process.kill(pid, 'SIGKILL');
  expect(pidsCarrying(marker)).toEqual([]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function startRacer(store: string, markerDir: string) {
  const child = spawn(process.execPath, [PROBER, marker, store, markerDir], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  let buffered = '';
  const results = new Map<number, RoundResult>();
  const waiters = new Map<number, (r: RoundResult | undefined) => void>();
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let newline = buffered.indexOf('\n');
    while (newline >= 0) {
      const result = JSON.parse(buffered.slice(0, newline)) as RoundResult;
      buffered = buffered.slice(newline + 1);
      results.set(result.round, result);
      waiters.get(result.round)?.(result);
      newline = buffered.indexOf('\n');
    }
  });
  let exited: Error | undefined;
  child.once('exit', (code, signal) => {
    exited = new Error(`racer ${child.pid} exited (${code ?? signal}); stderr: ${stderr}`);
    for (const waiter of waiters.values()) waiter(undefined);
  });
  const resultOf = (round: number) =>
    new Promise<RoundResult>((resolvePromise, reject) => {
      const ready = results.get(round);
      if (ready) return resolvePromise(ready);
      if (exited) return reject(exited);
      const timer = setTimeout(
        () => reject(new Error(`racer ${child.pid}: no result for round ${round}; stderr: ${stderr}`)),
        LINE_TIMEOUT_MS,
      );
      waiters.set(round, (r) => {
        clearTimeout(timer);
        waiters.delete(round);
        if (r) resolvePromise(r);
        else reject(exited);
      });
    });
  return { child, resultOf };
}

/** Our state file, open since long enough that the cooldown has run out: half-open for everyone. */
function writeHalfOpen(store: string, generation: number) {
  const text = JSON.stringify({
    format: '@spawnguard/circuit-breaker',
    version: 1,
    state: 'open',
    failures: 3,
    openedAt: Date.now() - 120_000,
    cooldownMs: 60_000,
    generation,
    probe: null,
  });
  const temp = `${store}.round.tmp`;
  writeFileSync(temp, text, { mode: 0o600 });
  renameSync(temp, store);
}

describe('half-open probe lease across real processes', () => {
  it(`exactly one of ${RACERS} racing processes probes, in each of ${ROUNDS} rounds`, async () => {
    dir = mkdtempSync(join(tmpdir(), 'spawnguard-cb-race-'));
    const store = join(dir, 'state', 'circuit.json');
    const markers = join(dir, 'markers');
    mkdirSync(join(dir, 'state'));
    mkdirSync(markers);
    const racers = Array.from({ length: RACERS }, () => startRacer(store, markers));

    const perRound: Array<{ round: number; probers: number[]; collided: number[]; refused: string[] }> = [];
    for (let round = 0; round < ROUNDS; round++) {
      writeHalfOpen(store, 1_000 + round * 10);
      // Far enough ahead that every racer has read the line and waits; the first round also
      // covers node's start-up on a loaded machine.
      const startAt = Date.now() + (round === 0 ? 3_000 : 250);
      for (const racer of racers) racer.child.stdin!.write(`${round} ${startAt}\n`);
      const results = await Promise.all(racers.map((r) => r.resultOf(round)));
      perRound.push({
        round,
        probers: results.filter((r) => r.ran).map((r) => r.pid),
        collided: results.filter((r) => r.collided).map((r) => r.pid),
        refused: results.filter((r) => !r.ran).map((r) => String(r.refusedAs)),
      });
    }
    const notExactlyOne = perRound.filter((r) => r.probers.length !== 1 || r.collided.length > 0);
    expect(notExactlyOne, 'rounds where not exactly one process probed').toEqual([]);
    // Everyone else was refused by the circuit (half-open: lease held; open: the probe already failed).
    for (const r of perRound) {
      expect(r.refused).toHaveLength(RACERS - 1);
      for (const refusal of r.refused) expect(['halfOpen', 'open']).toContain(refusal);
    }
    expect(readdirSync(markers)).toHaveLength(ROUNDS);
  });
});

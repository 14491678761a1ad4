// One of many processes racing for the half-open probe of a circuit shared through a fileStore.
// Imports the BUILT package (run `pnpm build` first).
// argv: <marker> <storePath> <markerDir>
// stdin, one line per round: `<round> <startAtEpochMs>`. At startAt (all racers at once), a new
// breaker on the store calls execute(); its fn (which only runs as a probe: the parent made the
// circuit half-open) creates `<markerDir>/probe-<round>` exclusively, so two probes in one round
// collide on that file; it then fails, which opens the circuit again for every latecomer.
// stdout, one JSON line per round: { round, ran, collided, refusedAs, pid }.
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CircuitBreaker, fileStore } from '../../dist/index.js';

const [, , marker, storePath, markerDir] = process.argv;
if (!marker?.startsWith('spawnguard-test-')) throw new Error('prober.mjs: first argument must be the test marker');
const HOLD_MS = 50;

const until = async (epochMs) => {
  const sleepFor = epochMs - Date.now() - 5;
  if (sleepFor > 0) await new Promise((resolve) => setTimeout(resolve, sleepFor));
  while (Date.now() < epochMs) {
    // spin the last few ms, so every racer calls execute() at the same instant
  }
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const [round, startAt] = line.trim().split(' ').map(Number);
  const breaker = new CircuitBreaker({ name: 'race', cooldownMs: 60_000, store: fileStore(storePath) });
  let ran = false;
  let collided = false;
  await until(startAt);
  const outcome = await breaker
    .execute(async () => {
      ran = true;
      try {
        closeSync(openSync(join(markerDir, `probe-${round}`), 'wx'));
      } catch (error) {
        if (error.code !== 'EEXIST') throw error;
        collided = true;
      }
      await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
      throw new Error('probe failed on purpose');
    })
    .then(
      () => ({ refusedAs: null }),
      (error) => ({ refusedAs: error.code === 'EBROKENCIRCUIT' ? error.state : null, message: error.message }),
    );
  process.stdout.write(`${JSON.stringify({ round, ran, collided, pid: process.pid, ...outcome })}\n`);
}

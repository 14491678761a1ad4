import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BrokenCircuitError,
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitSnapshot,
  type CircuitStore,
  CircuitStoreError,
  FILE_FORMAT,
  FILE_VERSION,
  fileStore,
} from '../src/index.js';
import { boom, failTimes, fakeClock, record, T0 } from './helpers.js';

let dir: string;
let path: string;
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'spawnguard-cb-file-'));
  path = join(dir, 'breaker.json');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function breakerOn(file: string, options: CircuitBreakerOptions = {}) {
  const clock = fakeClock();
  const breaker = new CircuitBreaker({ now: clock.now, store: fileStore(file), ...options });
  const events = record(breaker);
  return { breaker, clock, events };
}

const readJson = (file = path) => JSON.parse(fs.readFileSync(file, 'utf8'));
const ofType = (events: ReturnType<typeof record>, type: string) =>
  events.filter(([t]) => t === type).map(([, payload]) => payload);
const ourFile = (fields: Partial<CircuitSnapshot> = {}) =>
  JSON.stringify({
    format: FILE_FORMAT,
    version: FILE_VERSION,
    state: 'closed',
    failures: 0,
    openedAt: null,
    cooldownMs: 60_000,
    generation: 0,
    probe: null,
    ...fields,
  });
const leftoverTemps = () => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

/** Fails `fn` until the breaker opens, checking the caller only ever sees fn's own errors. */
async function failUntilOpen(breaker: CircuitBreaker, n = 3) {
  for (let i = 0; i < n; i++) {
    await expect(breaker.execute(() => boom(`fn failure ${i}`))).rejects.toThrow(`fn failure ${i}`);
  }
  expect(breaker.state).toBe('open');
  await expect(breaker.execute(() => 1)).rejects.toBeInstanceOf(BrokenCircuitError);
}

describe('fileStore: the happy path', () => {
  it('writes our format atomically, mode 0600, with no temp file left behind', async () => {
    const { breaker } = breakerOn(path);
    await failTimes(breaker, 1);
    expect(readJson()).toEqual({
      format: FILE_FORMAT,
      version: FILE_VERSION,
      state: 'closed',
      failures: 1,
      openedAt: null,
      cooldownMs: 60_000,
      generation: 0,
      probe: null,
    });
    expect(fs.statSync(path).mode & 0o777).toBe(0o600);
    await failTimes(breaker, 2);
    expect(readJson()).toMatchObject({ state: 'open', failures: 3, openedAt: T0, generation: 1 });
    expect(leftoverTemps()).toEqual([]);
  });

  it('does not write when nothing changed (a success with no failures)', async () => {
    const { breaker } = breakerOn(path);
    await breaker.execute(() => 1);
    expect(fs.existsSync(path)).toBe(false);
  });

  it('creates a missing parent folder, private (0700)', async () => {
    const nested = join(dir, 'state', 'circuits', 'daemon.json');
    const { breaker } = breakerOn(nested);
    await failTimes(breaker, 1);
    expect(readJson(nested)).toMatchObject({ failures: 1 });
    expect(fs.statSync(join(dir, 'state', 'circuits')).mode & 0o777).toBe(0o700);
  });

  it('reads the file fresh before each decision: another breaker on the same path sees the circuit', async () => {
    const a = breakerOn(path);
    const b = breakerOn(path);
    await failTimes(a.breaker, 3);
    let calls = 0;
    await expect(b.breaker.execute(() => calls++)).rejects.toMatchObject({
      code: 'EBROKENCIRCUIT',
      retryAfterMs: 60_000,
    });
    expect(calls).toBe(0);
    // Deleting the file is a cross-process reset.
    fs.rmSync(path);
    expect(b.breaker.state).toBe('closed');
    expect(ofType(b.events, 'storeReset')).toMatchObject([{ reason: 'missing' }]);
    expect(ofType(b.events, 'stateChange')).toMatchObject([
      { from: 'closed', to: 'open' },
      { from: 'open', to: 'closed' },
    ]);
  });

  it('reset() writes closed for every process', async () => {
    const a = breakerOn(path);
    const b = breakerOn(path);
    await failTimes(a.breaker, 3);
    expect(b.breaker.state).toBe('open');
    a.breaker.reset();
    expect(b.breaker.state).toBe('closed');
    expect(readJson()).toMatchObject({ state: 'closed', failures: 0, generation: 2 });
  });

  it('records the probe lease in the file and clears it with the verdict', async () => {
    const a = breakerOn(path);
    const b = breakerOn(path);
    b.clock.set(T0);
    await failTimes(a.breaker, 3);
    a.clock.advance(60_000);
    b.clock.advance(60_000);
    let finish!: () => void;
    const probe = a.breaker.execute(() => new Promise<void>((resolve) => (finish = resolve)));
    expect(readJson().probe).toMatchObject({ owner: expect.any(String), until: T0 + 120_000 });
    await expect(b.breaker.execute(() => 1)).rejects.toMatchObject({ state: 'halfOpen', retryAfterMs: 60_000 });
    finish();
    await probe;
    expect(readJson()).toMatchObject({ state: 'closed', probe: null });
  });

  it('a far-future openedAt (clock skew, hand edit) admits a probe at once instead of staying open', async () => {
    fs.writeFileSync(path, ourFile({ state: 'open', failures: 3, openedAt: T0 + 86_400_000, generation: 7 }));
    const { breaker } = breakerOn(path);
    expect(breaker.state).toBe('halfOpen');
    await expect(breaker.execute(() => 'probe')).resolves.toBe('probe');
    expect(readJson()).toMatchObject({ state: 'closed', generation: 8 });
  });
});

describe('fileStore: missing, corrupt, truncated and foreign files count as closed and are reported', () => {
  it('missing: closed, reported once (not on every call), then created by the first write', async () => {
    const { breaker, events } = breakerOn(path);
    expect(breaker.state).toBe('closed');
    await breaker.execute(() => 1);
    await breaker.execute(() => 2);
    const resets = ofType(events, 'storeReset');
    expect(resets).toHaveLength(1);
    expect(resets[0]).toMatchObject({ reason: 'missing', error: expect.any(CircuitStoreError) });
    expect((resets[0] as { error: CircuitStoreError }).error).toMatchObject({ code: 'ECIRCUITSTORE', location: path });
    await failUntilOpen(breaker);
    expect(readJson()).toMatchObject({ state: 'open' });
    expect(ofType(events, 'storeError')).toEqual([]);
  });

  it('corrupt JSON that is not ours: closed, reported, never overwritten; decisions continue from memory', async () => {
    fs.writeFileSync(path, '{not json at all');
    const { breaker, events } = breakerOn(path);
    expect(breaker.state).toBe('closed');
    expect(ofType(events, 'storeReset')).toMatchObject([{ reason: 'corrupt' }]);
    await failUntilOpen(breaker);
    expect(fs.readFileSync(path, 'utf8')).toBe('{not json at all');
    expect(ofType(events, 'storeError')).toMatchObject([
      { operation: 'save', error: { code: 'ECIRCUITSTORE', reason: 'foreign' } },
    ]);
    expect((ofType(events, 'storeError')[0] as { error: Error }).error.message).toMatch(/refusing to overwrite/);
  });

  it('truncated file of ours: closed, reported, and healed by the next write', async () => {
    const full = ourFile({ state: 'open', failures: 3, openedAt: T0, generation: 1 });
    fs.writeFileSync(path, full.slice(0, full.length / 2));
    const { breaker, events } = breakerOn(path);
    expect(breaker.state).toBe('closed');
    expect(ofType(events, 'storeReset')).toMatchObject([{ reason: 'corrupt' }]);
    await failTimes(breaker, 1);
    expect(readJson()).toMatchObject({ format: FILE_FORMAT, state: 'closed', failures: 1 });
    expect(ofType(events, 'storeError')).toEqual([]);
  });

  it('empty file (power loss before the data hit the disk): closed, reported, healed', async () => {
    fs.writeFileSync(path, '');
    const { breaker, events } = breakerOn(path);
    await failTimes(breaker, 1);
    expect(ofType(events, 'storeReset')).toMatchObject([{ reason: 'corrupt' }]);
    expect(readJson()).toMatchObject({ failures: 1 });
  });

  it('our format with invalid fields: corrupt, healed', async () => {
    fs.writeFileSync(path, ourFile({ state: 'banana' as never, failures: -1 }));
    const { breaker, events } = breakerOn(path);
    expect(breaker.state).toBe('closed');
    expect(ofType(events, 'storeReset')).toMatchObject([{ reason: 'corrupt' }]);
    await failTimes(breaker, 1);
    expect(readJson()).toMatchObject({ state: 'closed', failures: 1 });
  });

  it.each([
    ['another program’s JSON', JSON.stringify({ name: 'some-other-tool', state: 'open' })],
    ['a JSON array', '[1, 2, 3]'],
    ['a newer version of our format', ourFile().replace(`"version":${FILE_VERSION}`, '"version":2')],
  ])('foreign (%s): closed, reported, never overwritten; the breaker still opens from memory', async (_, text) => {
    fs.writeFileSync(path, text);
    const { breaker, events } = breakerOn(path);
    expect(breaker.state).toBe('closed');
    expect(ofType(events, 'storeReset')).toMatchObject([{ reason: 'foreign' }]);
    await failUntilOpen(breaker);
    expect(fs.readFileSync(path, 'utf8')).toBe(text);
    expect(ofType(events, 'storeError')).toHaveLength(1);
  });

  it('foreign: a directory at the path, or a file too large to be ours, is left alone', async () => {
    fs.mkdirSync(path);
    const onDir = breakerOn(path);
    expect(onDir.breaker.state).toBe('closed');
    expect(ofType(onDir.events, 'storeReset')).toMatchObject([{ reason: 'foreign' }]);
    await failUntilOpen(onDir.breaker);
    expect(fs.statSync(path).isDirectory()).toBe(true);

    const big = join(dir, 'big.json');
    const text = ourFile().replace('}', `,"padding":"${'x'.repeat(70_000)}"}`);
    fs.writeFileSync(big, text);
    const onBig = breakerOn(big);
    expect(onBig.breaker.state).toBe('closed');
    expect((ofType(onBig.events, 'storeReset')[0] as { error: Error }).error.message).toMatch(/too large/);
    await failUntilOpen(onBig.breaker);
    expect(fs.readFileSync(big, 'utf8')).toBe(text);
  });
});

describe('fileStore: an unusable location emits storeError and the breaker keeps deciding from memory', () => {
  it('a path whose parent is a regular file (reads and writes fail with ENOTDIR)', async () => {
    // Tests run as root, where chmod does not stop writes; a file where a folder should be does.
    const notAFolder = join(dir, 'plain-file');
    fs.writeFileSync(notAFolder, 'I am a file');
    const { breaker, events } = breakerOn(join(notAFolder, 'breaker.json'));
    expect(breaker.state).toBe('closed');
    await failUntilOpen(breaker);
    const errors = ofType(events, 'storeError') as Array<{ operation: string; error: NodeJS.ErrnoException }>;
    expect(errors.map((e) => [e.operation, e.error.code])).toEqual([
      ['load', 'ENOTDIR'],
      ['save', 'ENOTDIR'],
    ]);
    expect(fs.readFileSync(notAFolder, 'utf8')).toBe('I am a file');
  });

  it('a rename that fails (as on Windows while another process reads the file): temp removed, memory decides, rejoins later', async () => {
    let failRenames = true;
    const flaky: typeof fs = {
      ...fs,
      renameSync: (from: fs.PathLike, to: fs.PathLike) => {
        if (failRenames) throw Object.assign(new Error('EPERM: operation not permitted, rename'), { code: 'EPERM' });
        fs.renameSync(from, to);
      },
    };
    const clock = fakeClock();
    const breaker = new CircuitBreaker({ now: clock.now, store: fileStore(path, { fs: flaky }) });
    const events = record(breaker);
    await failUntilOpen(breaker);
    expect(ofType(events, 'storeError')).toMatchObject([{ operation: 'save', error: { code: 'EPERM' } }]);
    expect(leftoverTemps()).toEqual([]);
    expect(fs.existsSync(path)).toBe(false);

    failRenames = false;
    clock.advance(60_000);
    await breaker.execute(() => 'probe');
    expect(readJson()).toMatchObject({ state: 'closed' });
    // Back on the store: a change made by someone else is seen again.
    const other = new CircuitBreaker({ now: clock.now, store: fileStore(path) });
    await failTimes(other, 3);
    expect(breaker.state).toBe('open');
  });
});

describe('custom stores', () => {
  it('a store that throws on load and save never reaches the caller', async () => {
    const store: CircuitStore = {
      load() {
        throw new Error('database down');
      },
      save() {
        throw new Error('database down');
      },
    };
    const breaker = new CircuitBreaker({ store, failureThreshold: 2 });
    const events = record(breaker);
    await expect(breaker.execute(() => 'ok')).resolves.toBe('ok');
    await failUntilOpen(breaker, 2);
    expect(ofType(events, 'storeError').map((e) => (e as { operation: string }).operation)).toEqual(['load', 'save']);
  });

  it('a store returning an invalid snapshot is treated as corrupt', async () => {
    const breaker = new CircuitBreaker({ store: { load: () => ({ state: 'open' }) as never, save() {} } });
    const events = record(breaker);
    expect(breaker.state).toBe('closed');
    expect(ofType(events, 'storeReset')).toMatchObject([{ reason: 'corrupt' }]);
  });

  it('a snapshot from the store is adopted, and saves receive plain snapshots', async () => {
    const clock = fakeClock();
    const saved: CircuitSnapshot[] = [];
    let current: CircuitSnapshot = {
      state: 'open',
      failures: 3,
      openedAt: T0,
      cooldownMs: 1_000,
      generation: 4,
      probe: null,
    };
    const store: CircuitStore = {
      load: () => current,
      save: (s) => {
        saved.push(s);
        current = s;
      },
    };
    const breaker = new CircuitBreaker({ now: clock.now, store });
    await expect(breaker.execute(() => 1)).rejects.toMatchObject({ retryAfterMs: 1_000 });
    clock.advance(1_000);
    await breaker.execute(() => 'probe');
    expect(saved.map((s) => [s.state, s.generation, s.probe === null])).toEqual([
      ['open', 4, false],
      ['closed', 5, true],
    ]);
  });
});

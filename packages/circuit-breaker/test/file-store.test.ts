import { execFileSync } from 'node:child_process';
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
import { boom, deferred, failTimes, fakeClock, record, T0 } from './helpers.js';

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
    expect((ofType(onBig.events, 'storeReset')[0] as { error: Error }).error.message).toMatch(
      /big.json is \d+ bytes, over the 65536-byte limit/,
    );
    await failUntilOpen(onBig.breaker);
    expect(fs.readFileSync(big, 'utf8')).toBe(text);
  });
});

describe('fileStore: anything but a regular file of ours is refused without blocking, and never overwritten', () => {
  const isRoot = process.getuid?.() === 0;
  /** What a store and a breaker on `file` do: load refuses it as foreign, naming it; saves are refused. */
  async function expectRefused(file: string, what: RegExp) {
    const store = fileStore(file);
    let thrown: unknown;
    try {
      store.load();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(CircuitStoreError);
    expect(thrown).toMatchObject({ code: 'ECIRCUITSTORE', reason: 'foreign', location: file });
    expect((thrown as Error).message).toMatch(what);
    expect(() => store.save(JSON.parse(ourFile()))).toThrow(/refusing to overwrite/);

    const { breaker, events } = breakerOn(file);
    expect(breaker.state).toBe('closed');
    expect(ofType(events, 'storeReset')).toMatchObject([{ reason: 'foreign', error: { location: file } }]);
    await failUntilOpen(breaker); // decided from memory
    const errors = ofType(events, 'storeError') as Array<{ operation: string; error: Error }>;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ operation: 'save', error: { reason: 'foreign' } });
    expect(errors[0]!.error.message).toContain(`refusing to overwrite ${file}`);
  }

  it('a symlink, even to a valid state file of ours, is not followed', async () => {
    const target = join(dir, 'real.json');
    const text = ourFile({ state: 'open', failures: 3, openedAt: T0, generation: 4 });
    fs.writeFileSync(target, text, { mode: 0o600 });
    fs.symlinkSync(target, path);
    await expectRefused(path, /breaker.json is a symbolic link; refusing to follow it/);
    expect(fs.lstatSync(path).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(target, 'utf8')).toBe(text);
  });

  it('a directory', async () => {
    fs.mkdirSync(path);
    await expectRefused(path, /breaker.json is a directory, not a regular file/);
    expect(fs.statSync(path).isDirectory()).toBe(true);
  });

  it('a character device: /dev/null itself, and one made with mknod where this machine allows it', async () => {
    await expectRefused('/dev/null', /^\/dev\/null is a character device, not a regular file/);
    expect(fs.statSync('/dev/null').isCharacterDevice()).toBe(true);
    try {
      execFileSync('mknod', ['-m', '600', path, 'c', '1', '5'], { stdio: 'ignore' }); // /dev/zero's numbers
    } catch {
      return; // not permitted here (unprivileged, or a container without CAP_MKNOD)
    }
    await expectRefused(path, /breaker.json is a character device/);
    expect(fs.statSync(path).isCharacterDevice()).toBe(true);
  });

  it.runIf(isRoot)('a state file owned by another user (uid 65534)', async () => {
    const text = ourFile({ state: 'open', failures: 3, openedAt: T0, generation: 4 });
    fs.writeFileSync(path, text, { mode: 0o600 });
    fs.chownSync(path, 65534, 65534);
    await expectRefused(path, /breaker.json is owned by uid 65534, not by you \(uid 0\)/);
    expect(fs.readFileSync(path, 'utf8')).toBe(text);
    expect(fs.statSync(path).uid).toBe(65534);
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

describe('fileStore: the probe lease is exclusive across breakers and processes', () => {
  const leaseFiles = () =>
    fs
      .readdirSync(dir)
      .filter((f) => f.startsWith('.breaker.json.probe.'))
      .sort();
  /** Two breakers (as two processes would have) sharing the file, half-open now. */
  async function halfOpenPair(options: CircuitBreakerOptions = {}) {
    const a = breakerOn(path, options);
    const b = breakerOn(path, options);
    await failTimes(a.breaker, 3);
    a.clock.advance(60_000);
    b.clock.advance(60_000);
    return { a, b, generation: readJson().generation as number };
  }

  it('one holder; the other is refused for the rest of the lease, then probes once it has expired', async () => {
    const { a, b, generation } = await halfOpenPair();
    const first = deferred();
    const probeA = a.breaker.execute(() => first.promise);
    expect(leaseFiles()).toEqual([`.breaker.json.probe.${generation}.0`]);
    b.clock.advance(20_000);
    await expect(b.breaker.execute(() => 'b')).rejects.toMatchObject({ state: 'halfOpen', retryAfterMs: 40_000 });
    // a's probe hangs past its lease (a killed prober looks the same): the lease expires with the clock.
    b.clock.advance(40_000);
    const second = deferred();
    const probeB = b.breaker.execute(() => second.promise);
    expect(leaseFiles()).toEqual([`.breaker.json.probe.${generation}.0`, `.breaker.json.probe.${generation}.1`]);
    // b holds it now: a third breaker is refused by b's lease, not a's.
    const c = breakerOn(path);
    c.clock.set(b.clock.now());
    await expect(c.breaker.execute(() => 'c')).rejects.toMatchObject({ state: 'halfOpen', retryAfterMs: 60_000 });
    second.resolve('ok');
    await expect(probeB).resolves.toBe('ok');
    expect(readJson()).toMatchObject({ state: 'closed', generation: generation + 1 });
    first.resolve('late');
    await expect(probeA).resolves.toBe('late'); // a stale generation: counts for nothing
    expect(readJson()).toMatchObject({ state: 'closed', generation: generation + 1 });
  });

  it('a probe that ends without a verdict hands the lease back at once', async () => {
    class NotAFailure extends Error {}
    const { a, b } = await halfOpenPair({ isFailure: (e) => !(e instanceof NotAFailure) });
    await expect(a.breaker.execute(() => Promise.reject(new NotAFailure('404')))).rejects.toThrow('404');
    expect(a.breaker.state).toBe('halfOpen');
    await expect(b.breaker.execute(() => 'b probes')).resolves.toBe('b probes');
    expect(readJson()).toMatchObject({ state: 'closed' });
  });

  it('the first winner of a later open period deletes the lease files of earlier ones', async () => {
    const { a, generation } = await halfOpenPair();
    await expect(a.breaker.execute(() => boom('probe fails'))).rejects.toThrow('probe fails');
    expect(leaseFiles()).toEqual([`.breaker.json.probe.${generation}.0`]);
    a.clock.advance(60_000);
    await a.breaker.execute(() => 'closes');
    expect(leaseFiles()).toEqual([`.breaker.json.probe.${generation + 1}.0`]);
    expect(leftoverTemps()).toEqual([]);
    expect(fs.readdirSync(dir).filter((f) => f.includes('probe-tmp'))).toEqual([]);
  });

  it('junk at a lease path (a FIFO, a link, another program’s file) neither hangs nor blocks the probe', async () => {
    const { a, generation } = await halfOpenPair();
    const slot = (n: number) => join(dir, `.breaker.json.probe.${generation}.${n}`);
    execFileSync('mkfifo', [slot(0)]);
    fs.symlinkSync(path, slot(1));
    fs.writeFileSync(slot(2), '{"some":"thing"}');
    await expect(a.breaker.execute(() => 'probed')).resolves.toBe('probed');
    expect(fs.lstatSync(slot(0)).isFIFO()).toBe(true);
    expect(fs.lstatSync(slot(1)).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(slot(2), 'utf8')).toBe('{"some":"thing"}');
    expect(fs.existsSync(slot(3))).toBe(true);
  });

  it('claimProbe refuses a period the file no longer shows, and a lease ending more than a cooldown ahead has expired', async () => {
    const { generation } = await halfOpenPair();
    const store = fileStore(path);
    const { openedAt } = readJson();
    const claim = (owner: string, now: number, g = generation) =>
      store.claimProbe!({ owner, generation: g, openedAt, cooldownMs: 60_000, now: () => now });
    expect(claim('stale', T0 + 60_000, generation - 1)).toEqual({ owner: '', until: T0 + 60_000 });
    expect(leaseFiles()).toEqual([]);
    expect(claim('x', T0 + 60_000)).toEqual({ owner: 'x', until: T0 + 120_000 });
    expect(claim('y', T0 + 61_000)).toEqual({ owner: 'x', until: T0 + 120_000 });
    // y's clock is 2 s behind x's lease start: x's lease ends more than one cooldown ahead of it.
    expect(claim('y', T0 + 58_000)).toEqual({ owner: 'y', until: T0 + 118_000 });
  });

  it('a lease file that cannot be created: storeError, and the probe is decided from memory', async () => {
    const noLinks: Partial<typeof fs> = {
      linkSync: () => {
        throw Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' });
      },
    };
    const clock = fakeClock();
    const breaker = new CircuitBreaker({ now: clock.now, store: fileStore(path, { fs: noLinks }) });
    const events = record(breaker);
    await failTimes(breaker, 3);
    clock.advance(60_000);
    await expect(breaker.execute(() => 'probed from memory')).resolves.toBe('probed from memory');
    expect(ofType(events, 'storeError')).toMatchObject([{ operation: 'save', error: { code: 'EPERM' } }]);
    expect(readJson()).toMatchObject({ state: 'closed' }); // the verdict's save rejoined the file
  });
});

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FORMAT, openRegistry, type RegistryEvents, RegistryFileError } from '../src/index.js';
import { cleanup, ensureBuilt, exited, marker, portableScript, tempDir } from './helpers.js';

const marks: string[] = [];
const newMark = (): string => {
  const mark = marker();
  marks.push(mark);
  return mark;
};
afterEach(() => cleanup(...marks.splice(0)));

/** Wakes any reader stuck in a blocking open of the FIFO (old code), so a failed test does not hang the run. */
function unblockFifoReaders(fifo: string): void {
  for (let i = 0; i < 50; i++) {
    try {
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      return; // ENXIO: no reader left
    }
  }
}

const ownerRecord = { pid: 999_999, startToken: 'dead-owner', hostname: hostname() };
const validFile = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ format: FORMAT, version: 1, owner: ownerRecord, updatedAt: 1, entries: [], ...extra });

describe('an untrusted registry file is moved aside and reported, never trusted, never a crash', () => {
  const cases: Array<[string, string, string]> = [
    ['empty', '', 'empty'],
    ['whitespace only', '  \n', 'empty'],
    ['truncated', validFile().slice(0, 40), 'not-json'],
    ['not JSON', 'pid=123\n', 'not-json'],
    ['foreign JSON (array)', '[1,2,3]', 'foreign-format'],
    ['foreign JSON (object)', '{"hello":"world"}', 'foreign-format'],
    ['wrong version', validFile({ version: 2 }), 'wrong-version'],
    ['owner missing', validFile({ owner: undefined }), 'wrong-shape'],
    ['entries not an array', validFile({ entries: {} }), 'wrong-shape'],
    [
      'an entry with a bad pid',
      validFile({
        entries: [{ pid: -4, startToken: 't', pgid: null, session: 's', type: 't', spawnedAt: 1, command: 'x' }],
      }),
      'wrong-shape',
    ],
    [
      'an entry without a start token',
      validFile({
        entries: [{ pid: 4, startToken: '', pgid: 4, session: 's', type: 't', spawnedAt: 1, command: 'x' }],
      }),
      'wrong-shape',
    ],
  ];

  it.each(cases)('%s', async (_name, content, reason) => {
    const dir = tempDir();
    const path = join(dir, 'registry.json');
    writeFileSync(path, content);
    const seen: RegistryEvents['corruptFile'][] = [];
    const events = (await import('mitt')).default<RegistryEvents>();
    events.on('corruptFile', (e) => seen.push(e));
    const registry = await openRegistry(path, { now: () => 1_700_000_000_000, events });
    expect(seen).toEqual([{ path, movedTo: `${path}.corrupt-1700000000000`, reason, detail: expect.any(String) }]);
    expect(readFileSync(`${path}.corrupt-1700000000000`, 'utf8')).toBe(content); // the evidence is kept as it was
    expect(registry.state).toBe('owned');
    expect(registry.entries()).toEqual([]);
    const fresh = JSON.parse(readFileSync(path, 'utf8'));
    expect(fresh).toMatchObject({ format: FORMAT, version: 1, owner: registry.owner, entries: [] });
  });

  it('never overwrites an earlier .corrupt file with the same timestamp', async () => {
    const dir = tempDir();
    const path = join(dir, 'registry.json');
    for (const content of ['first', 'second']) {
      writeFileSync(path, content);
      await openRegistry(path, { now: () => 5 });
    }
    expect(readFileSync(`${path}.corrupt-5`, 'utf8')).toBe('first');
    expect(readFileSync(`${path}.corrupt-5-1`, 'utf8')).toBe('second');
  });

  it('a symlink at the path is moved aside (the link, not its target)', async () => {
    const dir = tempDir();
    const target = join(dir, 'elsewhere.json');
    writeFileSync(target, validFile());
    const path = join(dir, 'registry.json');
    symlinkSync(target, path);
    const seen: RegistryEvents['corruptFile'][] = [];
    const { default: mitt } = await import('mitt');
    const events = mitt<RegistryEvents>();
    events.on('corruptFile', (e) => seen.push(e));
    await openRegistry(path, { events, now: () => 7 });
    expect(seen[0]).toMatchObject({ reason: 'not-a-regular-file', movedTo: `${path}.corrupt-7` });
    expect(readFileSync(target, 'utf8')).toBe(validFile());
    expect(statSync(path).isFile()).toBe(true);
  });

  it('a FIFO planted at the path is moved aside without ever blocking on it', async () => {
    const dir = tempDir();
    const path = join(dir, 'registry.json');
    execFileSync('mkfifo', ['-m', '600', path]);
    const seen: RegistryEvents['corruptFile'][] = [];
    const { default: mitt } = await import('mitt');
    const events = mitt<RegistryEvents>();
    events.on('corruptFile', (e) => seen.push(e));
    const outcome = await Promise.race([
      openRegistry(path, { events, now: () => 11 }),
      new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5000)),
    ]);
    expect(outcome).not.toBe('hung');
    expect(seen).toEqual([
      { path, movedTo: `${path}.corrupt-11`, reason: 'not-a-regular-file', detail: expect.stringContaining('FIFO') },
    ]);
    expect(lstatSync(`${path}.corrupt-11`).isFIFO()).toBe(true); // the evidence, as it was
    expect(statSync(path).isFile()).toBe(true);
  });

  it('a FIFO swapped in between any check and the open never hangs openRegistry (200 rounds against a swapper)', async () => {
    const dir = tempDir();
    const path = join(dir, 'registry.json');
    const fifo = join(dir, 'pristine.fifo');
    const regular = join(dir, 'pristine.json');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    writeFileSync(regular, validFile(), { mode: 0o600 });
    writeFileSync(path, validFile(), { mode: 0o600 });
    // Another process flips the path between the regular file and the FIFO (atomic renames of hard
    // links) as fast as it can, for at most 60 s: any check-then-open sequence meets the FIFO.
    const mark = newMark();
    const swapCode = `
      const { linkSync, renameSync } = require('node:fs');
      const [dir, path, fifo, regular] = process.argv.slice(1);
      const until = Date.now() + 60000;
      for (let i = 0; Date.now() < until; i++) {
        const temp = dir + '/.swap-' + i;
        linkSync(i % 2 ? fifo : regular, temp);
        renameSync(temp, path);
        if (i === 100) process.stdout.write('swapping\\n');
      }`;
    const swapper = spawn(process.execPath, ['-e', swapCode, dir, path, fifo, regular, mark], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const outcomes = new Map<string, number>();
    try {
      await new Promise((resolve, reject) => {
        swapper.stdout!.once('data', resolve);
        swapper.once('exit', () => reject(new Error('the swapper exited')));
      });
      for (let round = 0; round < 200; round++) {
        const outcome = await Promise.race([
          openRegistry(path, { now: () => round }).then(
            (r) => r.state,
            (e: Error) => e.message,
          ),
          new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5000)),
        ]);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        expect(outcome).not.toBe('hung');
      }
      // Each open either read the regular file or refused the FIFO (moved aside): both end owned.
      expect([...outcomes.keys()]).toEqual(['owned']);
      expect(readdirSync(dir).some((name) => name.includes('.corrupt-'))).toBe(true); // it did meet the FIFO
    } finally {
      swapper.kill('SIGKILL');
      await exited(swapper);
      unblockFifoReaders(fifo);
    }
  });

  it('a directory at the path is a RegistryFileError naming the path', async () => {
    const path = join(tempDir(), 'registry.json');
    mkdirSync(path);
    const error = await openRegistry(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryFileError);
    expect(error).toMatchObject({ code: 'EREGISTRYFILE', path });
    expect((error as Error).message).toContain(path);
  });

  it("another user's file is moved aside when we can (here: root), reported as foreign-uid", async () => {
    const path = join(tempDir(), 'registry.json');
    writeFileSync(path, validFile());
    chownSync(path, 65534, 65534);
    const { default: mitt } = await import('mitt');
    const events = mitt<RegistryEvents>();
    const seen: RegistryEvents['corruptFile'][] = [];
    events.on('corruptFile', (e) => seen.push(e));
    const registry = await openRegistry(path, { events, now: () => 9 });
    expect(seen).toEqual([
      {
        path,
        movedTo: `${path}.corrupt-9`,
        reason: 'foreign-uid',
        detail: 'owned by uid 65534, this process runs as uid 0',
      },
    ]);
    expect(statSync(`${path}.corrupt-9`).uid).toBe(65534);
    expect(statSync(path).uid).toBe(0);
    expect(registry.state).toBe('owned');
  });

  it("another user's file that cannot be moved (sticky folder, unprivileged caller) is a clear error, not a crash", async () => {
    ensureBuilt();
    const dir = tempDir();
    chmodSync(dir, 0o1777); // like /tmp: only a file's owner may rename it
    const path = join(dir, 'registry.json');
    writeFileSync(path, validFile());
    // The child runs as nobody, who may not be able to enter the checkout (a clone under /root, or
    // in a 0700 folder): it runs a copy of the built package placed where every user can read it.
    const script = portableScript(`
      import { openRegistry } from '@spawnguard/process-registry';
      import mitt from 'mitt';
      let corrupt = null;
      const events = mitt();
      events.on('corruptFile', (e) => { corrupt = e; });
      try { await openRegistry(process.argv[2], { events }); console.log('opened'); }
      catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, fileUid: e.fileUid, message: e.message, corrupt })); }
    `);
    const run = spawnSync(process.execPath, [script, path, marker()], {
      uid: 65534,
      gid: 65534,
      cwd: dirname(script),
      encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    const out = JSON.parse(run.stdout);
    expect(out).toMatchObject({ name: 'RegistryFileError', code: 'EREGISTRYFILE', fileUid: 0 });
    expect(out.message).toContain(path);
    expect(out.message).toContain('belongs to uid 0');
    expect(out.corrupt).toMatchObject({ reason: 'foreign-uid', movedTo: null });
    expect(readFileSync(path, 'utf8')).toBe(validFile()); // untouched
  });
});

describe('atomic writes', () => {
  it('creates a missing folder 0700 and the file 0600, leaves no temp files', async () => {
    const dir = join(tempDir(), 'nested', 'state');
    const path = join(dir, 'registry.json');
    const registry = await openRegistry(path);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['registry.json']);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ format: FORMAT, version: 1, owner: registry.owner });
  });

  it('an existing folder keeps its mode', async () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    await openRegistry(join(dir, 'registry.json'));
    expect(statSync(dir).mode & 0o777).toBe(0o755);
  });

  it('a failed write is a writeError event; the registry keeps working in memory', async () => {
    const dir = join(tempDir(), 'state');
    const path = join(dir, 'registry.json');
    const registry = await openRegistry(path);
    const errors: RegistryEvents['writeError'][] = [];
    registry.events.on('writeError', (e) => errors.push(e));
    rmSync(dir, { recursive: true });
    writeFileSync(dir, 'not a folder'); // every write into "state/" now fails with ENOTDIR
    const mark = newMark();
    const { child, entry } = await registry.spawn(process.execPath, ['-e', 'setTimeout(() => {}, 200)', mark], {
      session: 's',
      type: 't',
    });
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatchObject({ path, error: { code: 'ENOTDIR' } });
    expect(registry.entries()).toEqual([entry]);
    await exited(child);
    expect(existsSync(path)).toBe(false);
  });

  it('an unwritable location at open is a RegistryFileError', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), '');
    const path = join(dir, 'file', 'registry.json');
    const error = await openRegistry(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryFileError);
    expect((error as Error).message).toContain(path);
  });

  it('concurrent spawns are all recorded (writes are serialized)', async () => {
    const path = join(tempDir(), 'registry.json');
    const registry = await openRegistry(path);
    const mark = newMark();
    const spawned = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        registry.spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', mark, String(i)], {
          session: 's',
          type: 't',
        }),
      ),
    );
    const onDisk = JSON.parse(readFileSync(path, 'utf8'))
      .entries.map((e: { pid: number }) => e.pid)
      .sort();
    expect(onDisk).toEqual(spawned.map((s) => s.entry.pid).sort());
    await registry.shutdown({ graceMs: 1000 });
    expect(JSON.parse(readFileSync(path, 'utf8')).entries).toEqual([]);
  });
});

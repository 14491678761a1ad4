/* biome-ignore-all lint/suspicious/noExplicitAny: status and log lines are arbitrary JSON */
import { mkdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig, UsageError } from '../src/config/config.js';
import { ConfigWatcher, type FolderWatch, type WatchFolder } from '../src/daemon/config-watch.js';
import type { Logger } from '../src/shared/log.js';
import {
  cleanup,
  freePort,
  HELPER,
  http,
  isAlive,
  isHelper,
  killStarted,
  makeHome,
  processesWith,
  runCli,
  sleep,
  tokenOf,
  waitFor,
  workerArgs,
} from './helpers.js';

let home = '';
afterEach(async () => {
  killStarted();
  if (home) await cleanup(home);
  home = '';
});

const helper = (...extra: string[]) => ({
  command: process.execPath,
  args: [HELPER, '--spawnguard-helper', '--home', home, ...extra],
});
const serversText = (servers: Record<string, unknown>) => JSON.stringify({ mcpServers: servers });
/** As editors and `import` save: a temp file beside it, then a rename over it (a new inode). */
function writeRenamed(path: string, text: string): void {
  const temp = join(join(path, '..'), `.${Math.random().toString(16).slice(2)}.tmp`);
  writeFileSync(temp, text, { mode: 0o600 });
  renameSync(temp, path);
}
/** As `echo > file` does: truncate and write the same inode. */
const writeInPlace = (path: string, text: string) => writeFileSync(path, text, { mode: 0o600 });

const logEvents = () =>
  readFileSync(join(home, 'worker.log'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { event: string; [k: string]: any });
const count = (event: string) => logEvents().filter((e) => e.event === event).length;

async function startWorker(port: number, env: Record<string, string> = {}, extra: string[] = []) {
  const start = await runCli(['start', ...workerArgs(home, port), ...extra], { env });
  expect(start.code, start.stderr).toBe(0);
  const { pid } = (await http(port, '/health')).json as { pid: number };
  await waitFor('the watch to be up', async () => (await status(port)).config.watch.state === 'watching');
  return pid;
}

const status = async (port: number) => (await http(port, '/status', { home })).json as any;

/**
 * The positive signal that a change has gone through: no event waits for its quiet time, no reload
 * runs, and at least `reloads` reloads have been applied.
 */
const settled = (port: number, reloads: number) =>
  waitFor(
    `${reloads} reload(s), settled`,
    async () => {
      const s = await status(port);
      return s.phase === 'ready' && !s.config.watch.pending && s.reloads >= reloads ? s : null;
    },
    20_000,
    50,
  );

/** Calls the `search` tool of hosted server `name`, as an editor would. */
async function callSearch(port: number, name: string): Promise<void> {
  const client = new Client({ name: 'watch-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp/${name}`), {
    requestInit: { headers: { authorization: `Bearer ${tokenOf(home)}` } },
  });
  await client.connect(transport);
  try {
    const result = (await client.callTool({ name: 'search', arguments: { query: 'storm' } })) as {
      content: Array<{ text: string }>;
    };
    expect(JSON.parse(result.content[0]!.text).hits.length).toBeGreaterThan(0);
  } finally {
    await client.close();
  }
}

async function stopWorker(port: number): Promise<void> {
  const stop = await runCli(['stop', ...workerArgs(home, port)]);
  expect(stop.code, stop.stderr).toBe(0);
  await waitFor('nothing left', () => processesWith(home).length === 0, 20_000);
}

describe('live reload (real daemons)', () => {
  it('a config written through a temp file and a rename is reloaded exactly once; an in-place write and a new env file are reloaded too', async () => {
    home = makeHome();
    const port = await freePort();
    const file = join(home, 'servers.json');
    writeInPlace(file, serversText({ demo: helper() }));
    await startWorker(port);
    // The host loads on first use: with it running, reload.done says what changed.
    const demoPid = (await http(port, '/search?q=one', { home })).json.helperPid as number;

    writeRenamed(file, serversText({ demo: helper(), added: helper('--added') }));
    await waitFor('"added" in force', async () =>
      (await status(port)).servers.some((s: { name: string }) => s.name === 'added'),
    );
    await callSearch(port, 'added');
    const first = await settled(port, 1);
    expect(first.reloads).toBe(1);
    expect(count('reload.begin')).toBe(1);
    expect(logEvents().find((e) => e.event === 'reload.begin')).toMatchObject({ trigger: 'watch' });
    expect(logEvents().find((e) => e.event === 'reload.done')).toMatchObject({
      added: ['added'],
      unchanged: ['demo'],
    });
    expect((await http(port, '/search?q=two', { home })).json.helperPid).toBe(demoPid);

    writeInPlace(file, serversText({ demo: helper(), added: helper('--added'), third: helper('--third') }));
    const second = await settled(port, 2);
    expect(second.reloads).toBe(2);
    expect(second.servers.map((s: { name: string }) => s.name)).toEqual(['demo', 'added', 'third']);
    await callSearch(port, 'third');

    // <home>/env did not exist: its appearance is a change (what ${VAR}s resolve to may differ).
    writeRenamed(join(home, 'env'), 'TOKEN=1\n');
    const third = await settled(port, 3);
    expect(third.reloads).toBe(3);
    expect(logEvents().filter((e) => e.event === 'watch.change')[2]).toMatchObject({ files: [join(home, 'env')] });
    expect(count('reload.begin')).toBe(3);
    await stopWorker(port);
  }, 60_000);

  it('an invalid edit is kept out (the old servers still serve; status, status --json and /metrics say so) until a valid edit clears it', async () => {
    home = makeHome();
    const port = await freePort();
    const file = join(home, 'servers.json');
    writeInPlace(file, serversText({ demo: helper() }));
    await startWorker(port);
    const demoPid = (await http(port, '/search?q=one', { home })).json.helperPid as number;
    expect((await http(port, '/metrics', { home })).text).toMatch(/^spawnguard_config_valid 1$/m);

    writeRenamed(file, '{"mcpServers": {"demo": {"command": 5}}}');
    const refused = await waitFor('the edit refused', async () => {
      const s = await status(port);
      return s.config.valid === false ? s : null;
    });
    expect(refused.config.error.message).toMatch(/server "demo": "command" must be a non-empty string/);
    expect(refused).toMatchObject({ reloads: 0, config: { reloadFailures: 1, error: { trigger: 'watch' } } });
    expect(logEvents().filter((e) => e.event === 'reload.failed')).toHaveLength(1);
    // The running config stays: same server, same backend.
    const still = await http(port, '/search?q=still', { home });
    expect(still.status).toBe(200);
    expect(still.json.helperPid).toBe(demoPid);
    const metrics = (await http(port, '/metrics', { home })).text;
    expect(metrics).toMatch(/^spawnguard_config_valid 0$/m);
    expect(metrics).toMatch(/^spawnguard_config_reloads_total\{result="refused"\} 1$/m);
    const text = await runCli(['status', ...workerArgs(home, port)]);
    expect(text.stdout).toMatch(/CONFIG ERROR .*"command" must be a non-empty string/);
    const json = JSON.parse((await runCli(['status', '--json', ...workerArgs(home, port)])).stdout);
    expect(json.config).toMatchObject({ valid: false, error: { message: expect.stringContaining('"command"') } });
    // Kept until fixed: another scrape, another status, same answer.
    expect((await status(port)).config.valid).toBe(false);

    writeRenamed(file, serversText({ demo: helper(), added: helper('--added') }));
    const fixed = await settled(port, 1);
    expect(fixed).toMatchObject({ reloads: 1, config: { valid: true, error: null, reloadFailures: 1 } });
    expect(count('config.fixed')).toBe(1);
    await callSearch(port, 'added');
    expect((await http(port, '/metrics', { home })).text).toMatch(/^spawnguard_config_valid 1$/m);
    expect((await runCli(['status', ...workerArgs(home, port)])).stdout).not.toMatch(/CONFIG ERROR/);
    expect(isAlive(demoPid)).toBe(true);
    await stopWorker(port);
  }, 60_000);

  it('a burst of 5 quick writes is folded into one reload (two at most), and the last one is in force', async () => {
    home = makeHome();
    const port = await freePort();
    const file = join(home, 'servers.json');
    writeInPlace(file, serversText({ demo: helper() }));
    await startWorker(port, { SPAWNGUARD_WATCH_DEBOUNCE_MS: '1500' });

    // 100 ms apart: each write reaches the daemon on its own (a tight loop would be read in one batch
    // and fold without any debounce), well within the quiet time.
    for (let i = 1; i <= 5; i++) {
      if (i > 1) await sleep(100);
      writeRenamed(file, serversText({ demo: helper(), burst: helper(`--v${i}`) }));
    }
    const changes = () => logEvents().filter((e) => e.event === 'watch.change');
    // Each rename is one event (its own inotify cookie, never merged): all 5 have been seen and
    // settled (a settle that finds what a reload has read already says watch.unchanged).
    const settles = () => logEvents().filter((e) => e.event === 'watch.change' || e.event === 'watch.unchanged');
    await waitFor('the 5 events settled', () => settles().reduce((n, e) => n + e.events, 0) >= 5, 20_000);
    const s = await settled(port, 1);
    // One reload, unless the daemon's timer came due between two of the writes (the writer or the
    // daemon stalled for the whole quiet time): then the first writes are applied and the rest follow in
    // a second reload. What must never happen is one reload per write: the events were folded.
    expect(s.reloads).toBeGreaterThanOrEqual(1);
    expect(s.reloads).toBeLessThanOrEqual(2);
    expect(count('reload.begin')).toBe(s.reloads);
    expect(changes().length).toBe(s.reloads);
    expect(Math.max(...settles().map((e) => e.events))).toBeGreaterThanOrEqual(3);
    await callSearch(port, 'burst');
    const backend = processesWith(home).filter(isHelper);
    expect(backend.some((p) => p.argv.includes('--v5'))).toBe(true);
    expect(backend.some((p) => ['--v1', '--v2', '--v3', '--v4'].some((v) => p.argv.includes(v)))).toBe(false);
    await stopWorker(port);
  }, 60_000);

  it('a config file that appears is a change; a deleted one keeps the running config until it is back (same bytes: nothing to reload)', async () => {
    home = makeHome();
    const port = await freePort();
    const file = join(home, 'servers.json');
    await startWorker(port);
    expect((await status(port)).config.source).toBe('built-in');

    const text = serversText({ demo: helper(), added: helper('--added') });
    writeRenamed(file, text);
    const appeared = await settled(port, 1);
    expect(appeared.config.source).toBe(file);
    await callSearch(port, 'added');

    unlinkSync(file);
    const waiting = await waitFor('the watcher to wait for the file', async () => {
      const s = await status(port);
      return s.config.watch.waitingFor === file && !s.config.watch.pending ? s : null;
    });
    expect(waiting.reloads).toBe(1);
    expect(waiting.servers.map((s: { name: string }) => s.name)).toEqual(['demo', 'added']);
    expect(count('watch.missing')).toBe(1);
    expect((await runCli(['status', ...workerArgs(home, port)])).stdout).toMatch(
      `${file} is missing: the running config stays until it is back`,
    );
    await callSearch(port, 'added');

    // Back with the bytes in force: not a change.
    writeRenamed(file, text);
    const back = await waitFor('the file back', async () => {
      const s = await status(port);
      return s.config.watch.waitingFor === null && !s.config.watch.pending ? s : null;
    });
    expect(back.reloads).toBe(1);
    expect(count('reload.begin')).toBe(1);

    writeRenamed(file, serversText({ demo: helper() }));
    const removed = await settled(port, 2);
    expect(removed.servers.map((s: { name: string }) => s.name)).toEqual(['demo']);
    await stopWorker(port);
  }, 60_000);

  it('stop with a change waiting for its quiet time: the watch is closed first, nothing is reloaded, the daemon exits', async () => {
    home = makeHome();
    const port = await freePort();
    const file = join(home, 'servers.json');
    writeInPlace(file, serversText({ demo: helper() }));
    const pid = await startWorker(port, { SPAWNGUARD_WATCH_DEBOUNCE_MS: '20000' });
    writeRenamed(file, serversText({ demo: helper(), added: helper('--added') }));
    await waitFor('the change to be pending', async () => (await status(port)).config.watch.pending === true);
    await stopWorker(port);
    expect(isAlive(pid)).toBe(false);
    const events = logEvents().map((e) => e.event);
    expect(events).not.toContain('reload.begin');
    // Closed as the shutdown begins, before anything else stops.
    expect(events.indexOf('watch.closed')).toBeGreaterThan(-1);
    expect(events.indexOf('watch.closed')).toBeLessThan(events.indexOf('shutdown.begin'));
  }, 60_000);

  it('a config folder that cannot be watched any more is said once (status, log, /metrics) and SIGHUP still reloads', async () => {
    home = makeHome();
    const port = await freePort();
    const folder = join(home, 'conf');
    const file = join(folder, 'servers.json');
    mkdirSync(folder);
    writeInPlace(file, serversText({ demo: helper() }));
    const config = ['--config', file];
    const pid = await startWorker(port, {}, config);
    expect((await http(port, '/metrics', { home })).text).toMatch(/^spawnguard_config_watching 1$/m);

    rmSync(folder, { recursive: true });
    const lost = await waitFor('the watch lost', async () => {
      const s = await status(port);
      return s.config.watch.state === 'failed' && !s.config.watch.pending ? s : null;
    });
    expect(lost.config.watch.error).toMatch(`${folder}: the folder was removed or replaced`);
    expect(count('watch.lost')).toBe(1);
    expect((await http(port, '/metrics', { home })).text).toMatch(/^spawnguard_config_watching 0$/m);
    const text = await runCli(['status', ...workerArgs(home, port)]);
    expect(text.stdout, text.stderr).toMatch(/live reload {2}NOT WATCHING: .*SIGHUP still reloads/);

    mkdirSync(folder);
    writeInPlace(file, serversText({ demo: helper(), added: helper('--added') }));
    process.kill(pid, 'SIGHUP');
    const reloaded = await settled(port, 1);
    expect(reloaded.servers.map((s: { name: string }) => s.name)).toEqual(['demo', 'added']);
    expect(logEvents().find((e) => e.event === 'reload.begin')).toMatchObject({ trigger: 'signal' });
    expect(count('watch.lost')).toBe(1);
    await stopWorker(port);
  }, 60_000);
});

describe('ConfigWatcher', () => {
  const lines: Array<{ level: string; event: string; fields: Record<string, unknown> }> = [];
  const log: Logger = {
    log: (event, fields = {}) => lines.push({ level: 'info', event, fields }),
    warn: (event, fields = {}) => lines.push({ level: 'warn', event, fields }),
    error: (event, fields = {}) => lines.push({ level: 'error', event, fields }),
  };
  const watchers: ConfigWatcher[] = [];
  const make = (options: Partial<ConstructorParameters<typeof ConfigWatcher>[0]> & { dir: string }) => {
    const watcher = new ConfigWatcher({
      files: [
        { path: join(options.dir, 'servers.json'), whenMissing: 'wait' },
        { path: join(options.dir, 'env'), whenMissing: 'change' },
      ],
      log,
      ...options,
    });
    watchers.push(watcher);
    return watcher;
  };
  afterEach(() => {
    for (const w of watchers.splice(0)) w.close();
    lines.length = 0;
  });

  it('is on by default; SPAWNGUARD_WATCH=0 turns it off, SPAWNGUARD_WATCH_DEBOUNCE_MS sets the quiet time', () => {
    expect(resolveConfig({}, {})).toMatchObject({ watchConfig: true, watchDebounceMs: 300 });
    for (const off of ['0', 'false', 'no'])
      expect(resolveConfig({}, { SPAWNGUARD_WATCH: off }).watchConfig).toBe(false);
    expect(resolveConfig({}, { SPAWNGUARD_WATCH_DEBOUNCE_MS: '0' }).watchDebounceMs).toBe(0);
    expect(() => resolveConfig({}, { SPAWNGUARD_WATCH: 'maybe' })).toThrow(UsageError);
    expect(() => resolveConfig({}, { SPAWNGUARD_WATCH: 'maybe' })).toThrow(/SPAWNGUARD_WATCH must be .*"maybe"/);
    expect(() => resolveConfig({}, { SPAWNGUARD_WATCH_DEBOUNCE_MS: '60001' })).toThrow(
      /SPAWNGUARD_WATCH_DEBOUNCE_MS must be an integer from 0 to 60000, got "60001"/,
    );
  });

  it('checks its options at construction', () => {
    home = makeHome();
    expect(() => make({ dir: home, debounceMs: -1 })).toThrow(RangeError);
    expect(() => make({ dir: home, debounceMs: -1 })).toThrow(/debounceMs must be .*got -1/);
    expect(() => make({ dir: home, debounceMs: '300' as never })).toThrow(TypeError);
    expect(() => new ConfigWatcher({ files: [], log })).toThrow(/files must be a non-empty list/);
    expect(() => new ConfigWatcher({ files: [{ path: 'servers.json', whenMissing: 'wait' }], log })).toThrow(
      /files\[\]\.path must be an absolute path, got "servers.json"/,
    );
    expect(() => new ConfigWatcher({ files: [{ path: join(home, 'a'), whenMissing: 'skip' as never }], log })).toThrow(
      /whenMissing must be "change" or "wait", got "skip"/,
    );
    expect(make({ dir: home }).status()).toMatchObject({ state: 'idle', debounceMs: 300, pending: false });
  });

  it('counts only the watched names (the daemon writes its log and state files beside them) and keeps nothing alive', async () => {
    home = makeHome();
    const watcher = make({ dir: home, debounceMs: 200 });
    watcher.snapshot();
    const changes: Array<{ files: string[]; events: number }> = [];
    // What keeps the event loop alive: ref'd handles (a watch) and ref'd timers (a debounce).
    const alive = (kind: string) => process.getActiveResourcesInfo().filter((k) => k === kind).length;
    const watchesBefore = alive('FSEventWrap');
    watcher.start((change) => changes.push(change));
    // The daemon's own writes: its log, its pid record written atomically (temp file + rename).
    writeInPlace(join(home, 'worker.log'), 'line\n');
    writeRenamed(join(home, 'worker.json'), '{}');
    writeRenamed(join(home, 'servers.json'), '{"mcpServers": {}}');
    await waitFor('the change', () => changes.length === 1, 10_000, 20);
    expect(changes[0]).toEqual({ files: [join(home, 'servers.json')], events: 1 });
    writeInPlace(join(home, 'servers.json'), '{"mcpServers": {"x": {"command": "y"}}}');
    await waitFor('pending again', () => watcher.status().pending);
    // The watch and the pending change hold no ref'd handle or timer: the process may exit with them.
    expect(alive('FSEventWrap')).toBe(watchesBefore);
    const timersWhilePending = alive('Timeout');
    watcher.close(); // clears the debounce timer at once: were it ref'd, one Timeout would go
    expect(alive('Timeout')).toBe(timersWhilePending);
    expect(watcher.status()).toMatchObject({ state: 'closed', pending: false, changes: 1 });
    expect(lines.filter((l) => l.event === 'watch.closed')).toHaveLength(1);
  });

  it('a folder that cannot be watched is said once, the others are still watched, and start never throws', async () => {
    home = makeHome();
    const other = join(home, 'conf');
    mkdirSync(other);
    let fail: ((error: Error) => void) | null = null;
    let event: ((event: string, filename: string | null) => void) | null = null;
    const watch: WatchFolder = (folder, listener) => {
      if (folder === other) {
        throw Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' });
      }
      const handle: FolderWatch = {
        close() {},
        on(_event, onError) {
          fail = onError;
          return handle;
        },
      };
      event = listener;
      return handle;
    };
    const watcher = new ConfigWatcher({
      files: [
        { path: join(other, 'servers.json'), whenMissing: 'wait' },
        { path: join(home, 'env'), whenMissing: 'change' },
      ],
      debounceMs: 0,
      log,
      watch,
    });
    watchers.push(watcher);
    watcher.snapshot();
    const changes: string[][] = [];
    expect(() => watcher.start((change) => changes.push(change.files))).not.toThrow();
    expect(watcher.status()).toMatchObject({ state: 'failed', error: expect.stringContaining(`${other}: ENOSPC`) });
    writeInPlace(join(home, 'env'), 'A=1\n');
    event!('rename', 'env');
    await waitFor('the home folder still watched', () => changes.length === 1);
    expect(changes[0]).toEqual([join(home, 'env')]);
    fail!(new Error('EPERM'));
    fail!(new Error('EPERM again'));
    const warned = lines.filter((l) => l.level === 'warn').map((l) => [l.event, l.fields.folder]);
    expect(warned).toEqual([
      ['watch.unavailable', other],
      ['watch.lost', home],
    ]);
  });
});

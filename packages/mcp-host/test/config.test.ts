import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pidsCarrying, waitFor } from '../../../test-kit/processes.js';
import { backendEnv, createMcpHost, DEFAULT_ENV_KEYS, type McpHostOptions } from '../src/index.js';
import { everything, recorded, recorder, textOf } from './helpers.js';
import { useWorld } from './setup.js';

const world = useWorld();
const dir = '/tmp/mcp-host-validation';
const ok = { command: 'node' };

describe('options are validated at construction, naming the option and the value', () => {
  const cases: Array<[string, unknown, RegExp, 'TypeError' | 'RangeError']> = [
    ['no options', undefined, /options must be an object, got undefined/, 'TypeError'],
    [
      'relative stateDir',
      { stateDir: 'state', servers: {} },
      /options\.stateDir must be an absolute path, got "state"/,
      'TypeError',
    ],
    ['missing servers', { stateDir: dir }, /options\.servers must be an object/, 'TypeError'],
    ['unknown option', { stateDir: dir, servers: {}, idle: 1 }, /options\.idle is not an option/, 'TypeError'],
    ['bad server name', { stateDir: dir, servers: { 'a/b': ok } }, /"a\/b" is not a valid server name/, 'TypeError'],
    [
      'missing command',
      { stateDir: dir, servers: { mem: {} } },
      /servers\.mem\.command must be a non-empty string, got undefined/,
      'TypeError',
    ],
    [
      'args not strings',
      { stateDir: dir, servers: { mem: { ...ok, args: [1] } } },
      /servers\.mem\.args must be an array of strings, got an array/,
      'TypeError',
    ],
    [
      'env value',
      { stateDir: dir, servers: { mem: { ...ok, env: { A: 1 } } } },
      /servers\.mem\.env\.A must be a string, got 1/,
      'TypeError',
    ],
    [
      'env name',
      { stateDir: dir, servers: { mem: { ...ok, env: { 'A=B': 'x' } } } },
      /servers\.mem\.env has an invalid variable name "A=B"/,
      'TypeError',
    ],
    [
      'relative cwd',
      { stateDir: dir, servers: { mem: { ...ok, cwd: 'x' } } },
      /servers\.mem\.cwd must be an absolute path, got "x"/,
      'TypeError',
    ],
    [
      'share',
      { stateDir: dir, servers: { mem: { ...ok, share: 'all' } } },
      /servers\.mem\.share must be "shared" or "per-session", got "all"/,
      'TypeError',
    ],
    [
      'maxInstances 0',
      { stateDir: dir, servers: { mem: { ...ok, maxInstances: 0 } } },
      /servers\.mem\.maxInstances must be a positive integer, got 0/,
      'RangeError',
    ],
    [
      'maxInstances 1.5',
      { stateDir: dir, servers: { mem: { ...ok, maxInstances: 1.5 } } },
      /servers\.mem\.maxInstances must be a positive integer, got 1\.5/,
      'RangeError',
    ],
    [
      'idleMs negative',
      { stateDir: dir, servers: { mem: { ...ok, idleMs: -1 } } },
      /servers\.mem\.idleMs must be a finite number of milliseconds >= 0.*got -1/,
      'RangeError',
    ],
    [
      'idleMs string',
      { stateDir: dir, servers: { mem: { ...ok, idleMs: '10' } } },
      /servers\.mem\.idleMs must be a finite number of milliseconds >= 0.*got "10"/,
      'TypeError',
    ],
    [
      'idleMs Infinity',
      { stateDir: dir, servers: { mem: { ...ok, idleMs: Number.POSITIVE_INFINITY } } },
      /servers\.mem\.idleMs .* got Infinity/,
      'RangeError',
    ],
    [
      'serialize',
      { stateDir: dir, servers: { mem: { ...ok, serialize: 'yes' } } },
      /servers\.mem\.serialize must be a boolean, got "yes"/,
      'TypeError',
    ],
    [
      'unknown server field',
      { stateDir: dir, servers: { mem: { ...ok, disabled: true } } },
      /servers\.mem\.disabled is not an option/,
      'TypeError',
    ],
    [
      'startTimeoutMs 0',
      { stateDir: dir, servers: {}, startTimeoutMs: 0 },
      /options\.startTimeoutMs must be a finite number of milliseconds > 0/,
      'RangeError',
    ],
    [
      'breaker threshold',
      { stateDir: dir, servers: {}, breaker: { failureThreshold: 0 } },
      /options\.breaker\.failureThreshold must be a positive integer, got 0/,
      'RangeError',
    ],
    [
      'breaker unknown',
      { stateDir: dir, servers: {}, breaker: { threshold: 3 } },
      /options\.breaker\.threshold is not an option/,
      'TypeError',
    ],
    [
      'registry shape',
      { stateDir: dir, servers: {}, registry: {} },
      /options\.registry must have a spawn/,
      'TypeError',
    ],
    [
      'clock shape',
      { stateDir: dir, servers: {}, clock: { now: () => 1 } },
      /options\.clock must have now\(\), setTimeout/,
      'TypeError',
    ],
    ['events shape', { stateDir: dir, servers: {}, events: {} }, /options\.events must be a mitt emitter/, 'TypeError'],
    [
      'maxBodyBytes',
      { stateDir: dir, servers: {}, maxBodyBytes: 0 },
      /options\.maxBodyBytes must be a positive integer, got 0/,
      'RangeError',
    ],
    [
      'crashWindowMs negative',
      { stateDir: dir, servers: {}, crashWindowMs: -1 },
      /options\.crashWindowMs must be a finite number of milliseconds >= 0.*got -1/,
      'RangeError',
    ],
    [
      'crashWindowMs string',
      { stateDir: dir, servers: {}, crashWindowMs: '10' },
      /options\.crashWindowMs must be a finite number of milliseconds >= 0.*got "10"/,
      'TypeError',
    ],
    [
      'maxBackendQueueBytes 0',
      { stateDir: dir, servers: {}, maxBackendQueueBytes: 0 },
      /options\.maxBackendQueueBytes must be a positive integer, got 0/,
      'RangeError',
    ],
    [
      'clientInfo',
      { stateDir: dir, servers: {}, clientInfo: { name: 'x' } },
      /options\.clientInfo\.version must be a non-empty string/,
      'TypeError',
    ],
  ];
  for (const [what, options, message, kind] of cases) {
    it(what, () => {
      let error: unknown;
      try {
        createMcpHost(options as McpHostOptions);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(kind === 'TypeError' ? TypeError : RangeError);
      expect((error as Error).message).toMatch(message);
    });
  }

  it('reconfigure validates before changing anything', async () => {
    const host = createMcpHost({ stateDir: dir, servers: { a: ok } });
    await expect(host.reconfigure({ a: ok, b: { command: '' } })).rejects.toThrow(/servers\.b\.command/);
    expect(host.servers()).toEqual(['a']);
    await host.close();
  });
});

describe('environment and working folder', () => {
  it('backendEnv keeps only the default keys (POSIX), then adds the configured env', () => {
    const env = backendEnv(
      'linux',
      { PATH: '/bin', HOME: '/home/u', AWS_SECRET_ACCESS_KEY: 's', GITHUB_TOKEN: 't' },
      { X: '1' },
    );
    expect(env).toEqual({ PATH: '/bin', HOME: '/home/u', X: '1' });
  });

  it('backendEnv on Windows matches names without case and keeps the system variables', () => {
    // Recorded from `Get-ChildItem env:` on a Windows 11 machine (values shortened).
    const recorded = {
      ALLUSERSPROFILE: 'C:\\ProgramData',
      APPDATA: 'C:\\Users\\u\\AppData\\Roaming',
      ComSpec: 'C:\\WINDOWS\\system32\\cmd.exe',
      LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local',
      OPENAI_API_KEY: 'sk-secret',
      Path: 'C:\\WINDOWS\\system32;C:\\Program Files\\nodejs\\',
      PATHEXT: '.COM;.EXE;.BAT;.CMD',
      SystemRoot: 'C:\\WINDOWS',
      TEMP: 'C:\\Users\\u\\AppData\\Local\\Temp',
      USERPROFILE: 'C:\\Users\\u',
      windir: 'C:\\WINDOWS',
    };
    const env = backendEnv('win32', recorded, { PATH: 'C:\\tools', API: 'x' });
    expect(env).toEqual({
      APPDATA: recorded.APPDATA,
      ComSpec: recorded.ComSpec,
      LOCALAPPDATA: recorded.LOCALAPPDATA,
      PATHEXT: recorded.PATHEXT,
      SystemRoot: recorded.SystemRoot,
      TEMP: recorded.TEMP,
      USERPROFILE: recorded.USERPROFILE,
      windir: recorded.windir,
      PATH: 'C:\\tools',
      API: 'x',
    });
    expect(DEFAULT_ENV_KEYS.win32).toContain('SYSTEMROOT');
  });

  it("a real backend sees the minimal env plus its own, and runs in the host's empty private folder by default", async () => {
    process.env.SPAWNGUARD_TEST_SECRET = 'do-not-leak';
    try {
      const w = await world.start({
        servers: { everything: everything(world.get().marker, { env: { MY_SETTING: 'on' } }) },
      });
      const client = await w.connect('everything');
      const env = JSON.parse(textOf(await client.client.callTool({ name: 'get-env', arguments: {} })));
      expect(env.MY_SETTING).toBe('on');
      expect(env.PATH).toBe(process.env.PATH);
      expect(env.SPAWNGUARD_TEST_SECRET).toBeUndefined();
      const rec = await world.start({
        servers: {
          rec: recorder(w.marker, join(w.dir, 'r.jsonl')),
          there: recorder(w.marker, join(w.dir, 'r2.jsonl'), [], { cwd: tmpdir() }),
        },
      });
      const a = await rec.connect('rec');
      const b = await rec.connect('there');
      expect(JSON.parse(textOf(await a.client.callTool({ name: 'pid', arguments: {} }))).cwd).toBe(
        join(w.dir, 'backend-cwd'),
      );
      expect(JSON.parse(textOf(await b.client.callTool({ name: 'pid', arguments: {} }))).cwd).toBe(tmpdir());
    } finally {
      delete process.env.SPAWNGUARD_TEST_SECRET;
    }
  });
});

describe('restarts restore what sessions set up; reconfigure; limits', () => {
  it('after a crash the new backend gets the subscriptions and log level back; sessions hear list_changed', async () => {
    const file = join(world.get().dir, 'r.jsonl');
    const w = await world.start({ servers: { rec: recorder(world.get().marker, file) } });
    const a = await w.connect('rec');
    let changed = 0;
    const { ToolListChangedNotificationSchema } = await import('@modelcontextprotocol/sdk/types.js');
    a.client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    await a.client.subscribeResource({ uri: 'rec://a' });
    await a.client.setLoggingLevel('warning');
    const { pid } = JSON.parse(textOf(await a.client.callTool({ name: 'pid', arguments: {} })));
    process.kill(pid, 'SIGKILL');
    await waitFor(() => w.host.stats()[0]!.pid === null, { what: 'backend gone' });
    await a.client.callTool({ name: 'echo', arguments: { text: 'x' } });
    const all = recorded(file);
    const lastInit = all.map((m) => m.method).lastIndexOf('notifications/initialized');
    const after = all.slice(lastInit);
    expect(after.filter((m) => m.method === 'resources/subscribe').map((m) => m.params.uri)).toEqual(['rec://a']);
    expect(after.filter((m) => m.method === 'logging/setLevel').map((m) => m.params.level)).toEqual(['warning']);
    await waitFor(() => changed === 1, { what: 'list_changed after restart' });
  });

  it('reconfigure: unchanged servers keep their backend, changed and removed ones stop, added ones work', async () => {
    const { marker, dir: d } = world.get();
    const keep = recorder(marker, join(d, 'k.jsonl'));
    const w = await world.start({
      servers: { keep, change: recorder(marker, join(d, 'c.jsonl')), gone: recorder(marker, join(d, 'g.jsonl')) },
    });
    const k = await w.connect('keep');
    await w.connect('change');
    await w.connect('gone');
    const keepPid = JSON.parse(textOf(await k.client.callTool({ name: 'pid', arguments: {} }))).pid;
    expect(pidsCarrying(marker)).toHaveLength(3);
    const result = await w.host.reconfigure({
      keep,
      change: recorder(marker, join(d, 'c.jsonl'), [], { idleMs: 1000 }),
      added: recorder(marker, join(d, 'a.jsonl')),
    });
    expect(result).toEqual({ added: ['added'], removed: ['gone'], changed: ['change'], unchanged: ['keep'] });
    expect(pidsCarrying(marker)).toEqual([keepPid]);
    expect(textOf(await k.client.callTool({ name: 'echo', arguments: { text: 'kept' } }))).toBe('kept');
    const added = await w.connect('added');
    expect(textOf(await added.client.callTool({ name: 'echo', arguments: { text: 'new' } }))).toBe('new');
    expect(w.host.servers().sort()).toEqual(['added', 'change', 'keep']);
  });

  it('per-session maxInstances: one session too many gets an error naming the server and the limit', async () => {
    const w = await world.start({
      servers: {
        rec: recorder(world.get().marker, join(world.get().dir, 'r.jsonl'), [], {
          share: 'per-session',
          maxInstances: 2,
        }),
      },
    });
    await w.connect('rec');
    await w.connect('rec');
    await expect(w.connect('rec')).rejects.toThrow(/MCP server "rec" already runs maxInstances=2/);
    expect(pidsCarrying(w.marker)).toHaveLength(2);
  });

  it('an HTTP session with no request or stream for sessionIdleMs expires', async () => {
    let fire: (() => void) | null = null;
    const clock = {
      now: () => Date.now(),
      setTimeout: (fn: () => void) => {
        fire = fn;
        return fn;
      },
      clearTimeout: (h: unknown) => {
        if (h === fire) fire = null;
      },
    };
    const scratch = mkdtempSync(join(tmpdir(), 'mcp-host-expiry-'));
    const w = await world.start({
      clock,
      sessionIdleMs: 60_000,
      servers: { rec: recorder(world.get().marker, join(scratch, 'r.jsonl')) },
    });
    const closed: string[] = [];
    w.host.events.on('sessionClosed', (e) => closed.push(e.reason));
    const res = await fetch(w.front.url('rec'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'r', version: '1' } },
      }),
    });
    await res.text();
    await waitFor(() => fire !== null, { what: 'expiry timer armed' });
    expect(w.host.stats()[0]!.sessions).toBe(1);
    fire!();
    await waitFor(() => closed.length === 1, { what: 'session expired' });
    expect(w.host.stats()[0]!.sessions).toBe(0);
    rmSync(scratch, { recursive: true, force: true });
  });
});

import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultHome, defaultPort, resolveConfig, UsageError } from '../src/config/config.js';
import {
  checkHome,
  ensureHome,
  HomeError,
  readPidRecord,
  readSecureFile,
  writeSecureFile,
} from '../src/config/home.js';
import { createWorkerServer } from '../src/daemon/daemon-server.js';
import { EventStore } from '../src/daemon/events-store.js';
import { checkLingerLimits } from '../src/daemon/lingering-close.js';
import { Metrics } from '../src/daemon/metrics.js';
import { createRequestHandler } from '../src/daemon/routes.js';
import { hasBearer, isAllowedHost, isAllowedOrigin, readJson } from '../src/daemon/security.js';
import { unavailableToHttp } from '../src/daemon/unavailable.js';
import { DOCUMENTS } from '../src/helper/documents.js';
import { cosine, tokenize, VectorStore, vectorize } from '../src/helper/vector-store.js';
import { createLogger, silentLogger } from '../src/shared/log.js';
import { cleanup, makeHome } from './helpers.js';

const homes: string[] = [];
const home = () => {
  const dir = makeHome();
  homes.push(dir);
  return dir;
};
afterEach(async () => {
  for (const dir of homes.splice(0)) await cleanup(dir);
});

describe('config', () => {
  it('derives the port from the uid and the home from XDG_RUNTIME_DIR', () => {
    expect(defaultPort(0)).toBe(37700);
    expect(defaultPort(1042)).toBe(37742);
    expect(defaultPort(undefined)).toBe(37700);
    expect(defaultHome({ XDG_RUNTIME_DIR: '/run/user/1000' })).toBe('/run/user/1000/spawnguard');
    expect(defaultHome({ XDG_RUNTIME_DIR: 'relative' })).toMatch(/\.spawnguard$/);
    expect(defaultHome({})).toMatch(/\.spawnguard$/);
  });

  it('lets flags win over the environment and the environment over defaults', () => {
    const env = { SPAWNGUARD_PORT: '40001', SPAWNGUARD_HOME: '/tmp/a', SPAWNGUARD_HOOK_BUDGET_MS: '700' };
    expect(resolveConfig({}, env)).toMatchObject({ port: 40001, home: '/tmp/a', hookBudgetMs: 700, naive: false });
    expect(resolveConfig({ port: '40002', home: '/tmp/b', 'budget-ms': '900', naive: true }, env)).toMatchObject({
      port: 40002,
      home: '/tmp/b',
      hookBudgetMs: 900,
      naive: true,
    });
    expect(resolveConfig({}, {})).toMatchObject({ hookBudgetMs: 5000, naiveTtlMs: 60_000, breakerThreshold: 3 });
    expect(resolveConfig({}, { SPAWNGUARD_HELPER_CRASH: 'always' }).helperCrash).toBe(true);
    expect(resolveConfig({}, {}).bootDelayMs).toBe(0);
    expect(resolveConfig({}, { SPAWNGUARD_BOOT_DELAY_MS: '2500' }).bootDelayMs).toBe(2500);
    expect(resolveConfig({}, {})).toMatchObject({
      headersTimeoutMs: 10_000,
      lingerMs: 5000,
      lingerBytes: 16 * 1024 * 1024,
    });
  });

  it.each([
    [{ port: 'abc' }, {}, /--port must be an integer from 1 to 65535, got "abc"/],
    [{ port: '0' }, {}, /--port .* got "0"/],
    [{ port: '70000' }, {}, /--port .* got "70000"/],
    [{ port: '1.5' }, {}, /--port .* got "1.5"/],
    [{}, { SPAWNGUARD_PORT: '-1' }, /SPAWNGUARD_PORT .* got "-1"/],
    [{ 'budget-ms': 'Infinity' }, {}, /--budget-ms .* got "Infinity"/],
    [{}, { SPAWNGUARD_HOOK_BUDGET_MS: 'NaN' }, /SPAWNGUARD_HOOK_BUDGET_MS .* got "NaN"/],
    [{}, { SPAWNGUARD_NAIVE_TTL_MS: '5' }, /SPAWNGUARD_NAIVE_TTL_MS .* got "5"/],
    [{}, { SPAWNGUARD_BOOT_DELAY_MS: '-1' }, /SPAWNGUARD_BOOT_DELAY_MS .* got "-1"/],
    [
      {},
      { SPAWNGUARD_HEADERS_TIMEOUT_MS: '50' },
      /SPAWNGUARD_HEADERS_TIMEOUT_MS must be an integer from 100 to 30000, got "50"/,
    ],
    [{}, { SPAWNGUARD_HEADERS_TIMEOUT_MS: '30001' }, /SPAWNGUARD_HEADERS_TIMEOUT_MS .* got "30001"/],
    [{}, { SPAWNGUARD_LINGER_MS: '-1' }, /SPAWNGUARD_LINGER_MS .* got "-1"/],
    [{}, { SPAWNGUARD_LINGER_BYTES: '1.5' }, /SPAWNGUARD_LINGER_BYTES .* got "1.5"/],
    [{ home: '  ' }, {}, /--home must be a folder path/],
  ])('rejects %j %j', (flags, env, message) => {
    expect(() => resolveConfig(flags, env)).toThrow(UsageError);
    expect(() => resolveConfig(flags, env)).toThrow(message);
  });
});

describe('HTTP server options', () => {
  it('are checked at construction, naming the option and the value', () => {
    const handler = () => {};
    expect(() => createWorkerServer(handler, { maxConnections: 0 })).toThrow(
      new RangeError('maxConnections must be a positive integer, got 0'),
    );
    expect(() => createWorkerServer(handler, { headersTimeoutMs: 40_000 })).toThrow(
      /headersTimeoutMs must be an integer from 1 to 30000, got 40000/,
    );
    expect(() => createWorkerServer(handler, { checkIntervalMs: Number.NaN })).toThrow(RangeError);
    expect(() => createWorkerServer(handler, { keepAliveTimeoutMs: '5' as never })).toThrow(TypeError);
    const server = createWorkerServer(handler, { headersTimeoutMs: 2000, maxConnections: 10 });
    expect([server.headersTimeout, server.requestTimeout, server.maxConnections]).toEqual([2000, 30_000, 10]);
    server.close();
    expect(() => checkLingerLimits({ ms: -1 })).toThrow(/lingerMs must be .*, got -1/);
    expect(() => checkLingerLimits({ bytes: 0.5 })).toThrow(RangeError);
    expect(checkLingerLimits()).toEqual({ ms: 5000, bytes: 16 * 1024 * 1024 });
  });
});

describe('home folder', () => {
  it('creates a missing folder 0700 and files 0600', () => {
    const dir = join(home(), 'nested', 'spawnguard');
    const paths = ensureHome(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    writeSecureFile(paths.token, 'a'.repeat(64));
    expect(statSync(paths.token).mode & 0o777).toBe(0o600);
    expect(readSecureFile(paths.token)).toBe('a'.repeat(64));
  });

  it('refuses a folder readable by others, naming the fix', () => {
    const dir = home();
    chmodSync(dir, 0o755);
    expect(() => checkHome(dir)).toThrow(HomeError);
    expect(() => checkHome(dir)).toThrow(
      `accessible by group or others (mode 0755); refusing to use it. Fix it with: chmod 700 ${dir}`,
    );
  });

  it('refuses a folder owned by another user', () => {
    const dir = home();
    chownSync(dir, 65534, 65534);
    expect(() => ensureHome(dir)).toThrow(/is owned by uid 65534, not by you \(uid 0\)/);
  });

  it('refuses a symlink and a file', () => {
    const base = home();
    const real = join(base, 'real');
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, join(base, 'link'));
    expect(() => checkHome(join(base, 'link'))).toThrow(/symbolic link/);
    writeFileSync(join(base, 'file'), 'x');
    expect(() => ensureHome(join(base, 'file'))).toThrow(HomeError);
  });

  it('ignores pid and token files that are loose, foreign or corrupt', () => {
    const dir = home();
    const file = join(dir, 'worker.json');
    writeSecureFile(file, '{not json');
    expect(readPidRecord(file)).toBeNull();
    writeSecureFile(file, JSON.stringify({ pid: 1, startToken: 'x', port: 1, instanceId: 'i' }));
    expect(readPidRecord(file)).toBeNull(); // pid 1 is never ours to signal
    writeSecureFile(file, JSON.stringify({ pid: 1234, startToken: 'x', port: 1, instanceId: 'i' }));
    expect(readPidRecord(file)?.pid).toBe(1234);
    chmodSync(file, 0o644);
    expect(readPidRecord(file)).toBeNull();
  });
});

describe('log', () => {
  it('writes one JSON line per event and rotates once past the cap', () => {
    const dir = home();
    const file = join(dir, 'worker.log');
    const log = createLogger({ file, maxBytes: 2048, base: { pid: 7 } });
    log.log('boot', { port: 1 });
    const first = JSON.parse(readFileSync(file, 'utf8').trim());
    expect(first).toMatchObject({ level: 'info', event: 'boot', pid: 7, port: 1 });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    for (let i = 0; i < 100; i++) log.warn('filler', { i, error: new Error('boom') });
    expect(statSync(file).size).toBeLessThanOrEqual(2048);
    expect(statSync(`${file}.1`).size).toBeLessThanOrEqual(2048);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    for (const line of lines) expect(JSON.parse(line).event).toBe('filler');
    expect(JSON.parse(lines[0]!).error).toMatchObject({ name: 'Error', message: 'boom' });
  });
});

describe('metrics', () => {
  it('renders counters and gauges in the Prometheus text format', () => {
    const metrics = new Metrics();
    const requests = metrics.counter('spawnguard_http_requests_total', 'Requests');
    requests.inc({ route: '/health', status: '200' });
    requests.inc({ route: '/health', status: '200' });
    requests.inc({ route: 'a"b\\c', status: '404' });
    metrics.gauge('spawnguard_up', 'Up', () => 1);
    metrics.gauge('spawnguard_breaker_state', 'State', () => [[{ breaker: 'helper' }, 2]]);
    const text = metrics.render();
    expect(text).toContain('# TYPE spawnguard_http_requests_total counter');
    expect(text).toContain('spawnguard_http_requests_total{route="/health",status="200"} 2');
    expect(text).toContain('spawnguard_http_requests_total{route="a\\"b\\\\c",status="404"} 1');
    expect(text).toContain('spawnguard_up 1');
    expect(text).toContain('spawnguard_breaker_state{breaker="helper"} 2');
    expect(() => metrics.counter('bad name', 'x')).toThrow(TypeError);
  });
});

describe('security', () => {
  it('accepts only the loopback literal or localhost with our port', () => {
    expect(isAllowedHost('127.0.0.1:4000', 4000)).toBe(true);
    expect(isAllowedHost('LOCALHOST:4000', 4000)).toBe(true);
    expect(isAllowedHost('127.0.0.1:4001', 4000)).toBe(false);
    expect(isAllowedHost('127.0.0.1', 4000)).toBe(false);
    expect(isAllowedHost('evil.example:4000', 4000)).toBe(false);
    expect(isAllowedHost(undefined, 4000)).toBe(false);
    expect(isAllowedOrigin(undefined, 4000)).toBe(true);
    expect(isAllowedOrigin('http://127.0.0.1:4000', 4000)).toBe(true);
    expect(isAllowedOrigin('http://evil.example', 4000)).toBe(false);
    expect(isAllowedOrigin('null', 4000)).toBe(false);
  });

  it('compares bearer tokens exactly', () => {
    const token = 'f'.repeat(64);
    expect(hasBearer(`Bearer ${token}`, token)).toBe(true);
    expect(hasBearer(`bearer ${token}`, token)).toBe(true);
    expect(hasBearer(`Bearer ${token}0`, token)).toBe(false);
    expect(hasBearer(undefined, token)).toBe(false);
    expect(hasBearer(`Bearer ${token}`, null)).toBe(false);
    expect(hasBearer('Basic abc', token)).toBe(false);
  });

  it('reads JSON bodies with a limit, without buffering an oversized chunked body', async () => {
    const outcomes: Array<unknown> = [];
    const server = createServer((req, res) => {
      readJson(req, 1024).then(
        (value) => {
          outcomes.push(value);
          res.end('ok');
        },
        (error) => {
          outcomes.push(`${error.status}: ${error.message}`);
          res.writeHead(error.status, { connection: 'close' }).end();
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const send = (body: string | Buffer, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve) => {
        const req = request({ host: '127.0.0.1', port, method: 'POST', headers }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', () => resolve(-1));
        req.end(body);
      });
    try {
      expect(await send('{"a":1}')).toBe(200);
      expect(await send('{"a":')).toBe(400);
      expect(await send('')).toBe(400);
      expect(await send(Buffer.alloc(4096, 'a'), { 'transfer-encoding': 'chunked' })).toBe(413);
      expect(await send(Buffer.alloc(4096, 'a'))).toBe(413);
      expect(outcomes[0]).toEqual({ a: 1 });
      expect(outcomes[1]).toMatch(/^400: request body is not valid JSON/);
      expect(outcomes[2]).toMatch(/^400: request body is empty/);
      expect(outcomes[3]).toMatch(/^413: request body is over the 1024-byte limit/);
      expect(outcomes[4]).toMatch(/^413: request body is 4096 bytes; the limit is 1024/);
    } finally {
      server.close();
      server.closeAllConnections();
    }
  });
});

describe('vector store', () => {
  it('ranks by bag-of-words cosine', () => {
    expect(tokenize('The Helper, and 641 helpers!')).toEqual(['helper', '641', 'helpers']);
    expect(cosine(vectorize('a b c'), vectorize('a b c'))).toBeCloseTo(1);
    expect(cosine(vectorize('kill tree'), vectorize('bind port'))).toBe(0);
    expect(cosine(vectorize(''), vectorize('x'))).toBe(0);
    const store = new VectorStore(DOCUMENTS);
    expect(store.size).toBeGreaterThanOrEqual(24);
    const hits = store.search('circuit breaker cooldown failures', 3);
    expect(hits[0]!.id).toBe('breaker');
    expect(hits.length).toBeLessThanOrEqual(3);
    for (let i = 1; i < hits.length; i++) expect(hits[i - 1]!.score).toBeGreaterThanOrEqual(hits[i]!.score);
    expect(store.search('zzzz qqqq')).toEqual([]);
  });
});

describe('event store', () => {
  it('counts every event and keeps the last N', () => {
    const store = new EventStore(3);
    for (let i = 0; i < 5; i++) store.add(`e${i}`, { i }, i);
    expect(store.total).toBe(5);
    expect(store.recent().map((e) => e.event)).toEqual(['e2', 'e3', 'e4']);
    expect(() => new EventStore(0)).toThrow(RangeError);
  });
});

describe('an open circuit that no route mapped', () => {
  it('is answered by the one breaker → HTTP mapping: 503 with Retry-After (the error’s own, or the cooldown)', async () => {
    let thrown: unknown;
    let handler: ReturnType<typeof createRequestHandler> | null = null;
    const server = createServer((req, res) => handler!(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const metrics = new Metrics();
    handler = createRequestHandler({
      port,
      health: () => ({ name: 'w', version: '0', pid: process.pid, startToken: '', instanceId: 'i', naive: false }),
      token: () => 'secret',
      ready: () => true,
      booted: Promise.resolve(),
      events: new EventStore(1),
      search: async () => {
        throw thrown;
      },
      mcp: { has: () => false, unavailable: () => null, handle: async () => {} },
      breakerCooldownMs: 7000,
      status: async () => ({}),
      shutdown: () => {},
      metrics,
      requests: metrics.counter('t_requests_total', 'requests'),
      linger: checkLingerLimits(),
      log: silentLogger,
    });
    const get = () =>
      new Promise<{ status: number; retryAfter: string | undefined; body: string }>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/search?q=x', headers: { authorization: 'Bearer secret' } },
          (res) => {
            let body = '';
            res.on('data', (chunk) => (body += chunk));
            res.on('end', () =>
              resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string, body }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      });
    try {
      thrown = Object.assign(new Error('circuit spawn is open'), { code: 'EBROKENCIRCUIT', retryAfterMs: 2500 });
      const open = await get();
      expect([open.status, open.retryAfter]).toEqual([503, '3']);
      expect(JSON.parse(open.body).error).toBe(unavailableToHttp(thrown, 7000)!.message);
      thrown = Object.assign(new Error('circuit spawn is open'), { code: 'EBROKENCIRCUIT' });
      expect((await get()).retryAfter).toBe('7');
      thrown = new Error('boom');
      expect((await get()).status).toBe(500);
    } finally {
      server.close();
    }
  });
});

import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { probeIdentity } from '../src/index.js';
import { freePort } from './helpers.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

async function serve(handler: (res: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => {
    if (req.url !== '/health') {
      res.statusCode = 404;
      res.end();
      return;
    }
    handler(res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
}

const json =
  (body: unknown, status = 200) =>
  (res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

const ours = { name: 'spawnguard-worker', version: '1.2.0', pid: 4242, startToken: 'b:1', instanceId: 'i-1' };

describe('probeIdentity', () => {
  it('recognises our worker', async () => {
    const url = await serve(json(ours));
    const result = await probeIdentity(url, { name: 'spawnguard-worker', version: '1.2.0', instanceId: 'i-1' });
    expect(result).toMatchObject({ kind: 'ours', status: 200, identity: ours });
  });

  it('reports an older version of our worker', async () => {
    const url = await serve(json({ ...ours, version: '1.1.0' }));
    const result = await probeIdentity(url, { name: 'spawnguard-worker', version: '1.2.0' });
    expect(result.kind).toBe('other-version');
    expect(result.reason).toContain('spawnguard-worker@1.1.0 (pid 4242), expected version 1.2.0');
  });

  it('reports another instance', async () => {
    const url = await serve(json(ours));
    const result = await probeIdentity(url, { name: 'spawnguard-worker', instanceId: 'i-2' });
    expect(result).toMatchObject({ kind: 'other-instance' });
    expect(result.reason).toContain('(i-1), expected i-2');
  });

  it('reports a foreign HTTP server: other name, non-JSON, JSON without name, 404', async () => {
    const other = await serve(json({ name: 'someone-else', version: '9' }));
    expect(await probeIdentity(other, { name: 'spawnguard-worker' })).toMatchObject({
      kind: 'foreign',
      identity: { name: 'someone-else' },
    });
    const html = await serve((res) => res.end('<html>hello</html>'));
    const r1 = await probeIdentity(html, { name: 'spawnguard-worker' });
    expect(r1).toMatchObject({ kind: 'foreign', status: 200 });
    expect(r1.reason).toContain('not JSON');
    const nameless = await serve(json({ status: 'ok' }));
    expect(await probeIdentity(nameless, { name: 'spawnguard-worker' })).toMatchObject({ kind: 'foreign' });
    const notFound = (await serve(json(ours))).replace('/health', '/elsewhere');
    expect(await probeIdentity(notFound, { name: 'spawnguard-worker' })).toMatchObject({
      kind: 'foreign',
      status: 404,
    });
  });

  it('keeps the status when our worker answers unhealthy', async () => {
    const url = await serve(json(ours, 503));
    expect(await probeIdentity(url, { name: 'spawnguard-worker' })).toMatchObject({ kind: 'ours', status: 503 });
  });

  it('reports a closed port as unreachable', async () => {
    const port = await freePort();
    const result = await probeIdentity(`http://127.0.0.1:${port}/health`, { name: 'x' });
    expect(result).toMatchObject({ kind: 'unreachable' });
    expect(result.reason).toContain('ECONNREFUSED');
  });

  it('a server that never answers is unreachable after timeoutMs', async () => {
    const url = await serve(() => {});
    const started = Date.now();
    const result = await probeIdentity(url, { name: 'x' }, { timeoutMs: 150 });
    expect(result).toMatchObject({ kind: 'unreachable' });
    expect(result.reason).toContain('did not answer within 150 ms');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('an endless body is cut off and called foreign', async () => {
    const url = await serve((res) => {
      res.write('x'.repeat(70 * 1024));
    });
    expect(await probeIdentity(url, { name: 'x' }, { timeoutMs: 5000 })).toMatchObject({ kind: 'foreign' });
  });

  it('rejects with the signal reason when aborted', async () => {
    const url = await serve(() => {});
    const reason = new Error('cancelled');
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 50);
    await expect(probeIdentity(url, { name: 'x' }, { timeoutMs: 10_000, signal: controller.signal })).rejects.toBe(
      reason,
    );
    await expect(probeIdentity(url, { name: 'x' }, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it.each([
    ['a relative url', () => probeIdentity('/health', { name: 'x' }), /absolute http\(s\) URL/],
    ['a file url', () => probeIdentity('file:///etc/passwd', { name: 'x' }), /http: or https:, got file:/],
    ['a number url', () => probeIdentity(42 as never, { name: 'x' }), /url must/],
    ['no expected', () => probeIdentity('http://127.0.0.1:1/', undefined as never), /expected must be/],
    [
      'empty name',
      () => probeIdentity('http://127.0.0.1:1/', { name: '' }),
      /expected.name must be a non-empty string/,
    ],
    [
      'numeric version',
      () => probeIdentity('http://127.0.0.1:1/', { name: 'x', version: 1 as never }),
      /expected.version/,
    ],
    [
      'zero timeout',
      () => probeIdentity('http://127.0.0.1:1/', { name: 'x' }, { timeoutMs: 0 }),
      /timeoutMs must be a finite number of milliseconds > 0, got 0/,
    ],
    ['NaN timeout', () => probeIdentity('http://127.0.0.1:1/', { name: 'x' }, { timeoutMs: Number.NaN }), /got NaN/],
    ['bad signal', () => probeIdentity('http://127.0.0.1:1/', { name: 'x' }, { signal: 'x' as never }), /AbortSignal/],
  ])('bad input: %s', async (_name, call, message) => {
    await expect(call()).rejects.toThrow(message);
  });
});

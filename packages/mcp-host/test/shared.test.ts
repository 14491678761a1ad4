import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newMarker, pidsCarrying } from '../../../test-kit/processes.js';
import { createMcpHost, type McpHost } from '../src/index.js';
import { connectClient, everything, type HttpFront, memory, serveHost, type TestClient, textOf } from './helpers.js';

let dir: string;
let marker: string;
let host: McpHost | null = null;
let front: HttpFront | null = null;
const clients: TestClient[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-host-shared-'));
  marker = newMarker();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await front?.close();
  await host?.close();
  host = null;
  front = null;
  for (const pid of pidsCarrying(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('one shared backend for many sessions', () => {
  it('20 concurrent sessions list and call tools on exactly one backend process', async () => {
    host = createMcpHost({ stateDir: dir, servers: { everything: everything(marker) } });
    front = await serveHost(host);
    const sessions = await Promise.all(
      Array.from({ length: 20 }, (_, i) => connectClient(front!.url('everything'), { name: `client-${i}` })),
    );
    clients.push(...sessions);
    const results = await Promise.all(
      sessions.map(async ({ client }, i) => {
        const tools = await client.listTools();
        const sum = await client.callTool({ name: 'get-sum', arguments: { a: i, b: 1000 } });
        const echo = await client.callTool({ name: 'echo', arguments: { message: `hello ${i}` } });
        return { names: tools.tools.map((t) => t.name), sum: textOf(sum), echo: textOf(echo) };
      }),
    );
    results.forEach((r, i) => {
      expect(r.names).toContain('get-sum');
      expect(r.sum).toContain(String(i + 1000));
      expect(r.echo).toContain(`hello ${i}`);
    });
    expect(pidsCarrying(marker)).toHaveLength(1);
    const [stats] = host.stats();
    expect(stats).toMatchObject({ name: 'everything', state: 'running', starts: 1, restarts: 0, sessions: 20 });
    expect(stats!.pid).toBe(pidsCarrying(marker)[0]);
  });

  it('server-memory: two sessions share one knowledge graph through one process', async () => {
    host = createMcpHost({ stateDir: dir, servers: { memory: memory(marker, join(dir, 'memory.jsonl')) } });
    front = await serveHost(host);
    const [a, b] = await Promise.all([connectClient(front.url('memory')), connectClient(front.url('memory'))]);
    clients.push(a!, b!);
    await a!.client.callTool({
      name: 'create_entities',
      arguments: { entities: [{ name: 'spawnguard', entityType: 'project', observations: ['hosts MCP servers'] }] },
    });
    const found = await b!.client.callTool({ name: 'search_nodes', arguments: { query: 'spawnguard' } });
    expect(textOf(found)).toContain('hosts MCP servers');
    expect(pidsCarrying(marker)).toHaveLength(1);
  });
});

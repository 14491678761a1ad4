// Per-test state for the host tests: a temp folder, a marker, the host, its HTTP front and clients;
// afterEach closes them and SIGKILLs anything that still carries the marker.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { newMarker, pidsCarrying } from '../../../test-kit/processes.js';
import { createMcpHost, type McpHost, type McpHostOptions } from '../src/index.js';
import { connectClient, type HttpFront, serveHost, type TestClient } from './helpers.js';

export interface World {
  dir: string;
  marker: string;
  host: McpHost;
  front: HttpFront;
  clients: TestClient[];
  connect(server: string, options?: Parameters<typeof connectClient>[1]): Promise<TestClient>;
}

export function useWorld(): { get(): World; start(options: Omit<McpHostOptions, 'stateDir'>): Promise<World> } {
  let state: Partial<World> & { dir: string; marker: string; clients: TestClient[] };
  let started: Array<{ host: McpHost; front: HttpFront }> = [];
  beforeEach(() => {
    state = { dir: mkdtempSync(join(tmpdir(), 'mcp-host-test-')), marker: newMarker(), clients: [] };
    started = [];
  });
  afterEach(async () => {
    await Promise.all(state.clients.splice(0).map((c) => c.close()));
    for (const { host, front } of started.splice(0)) {
      await front.close();
      await host.close();
    }
    for (const pid of pidsCarrying(state.marker)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    rmSync(state.dir, { recursive: true, force: true });
  });
  return {
    get: () => state as World,
    async start(options) {
      state.host = createMcpHost({ stateDir: state.dir, ...options });
      state.front = await serveHost(state.host);
      started.push({ host: state.host, front: state.front });
      state.connect = async (server, opts) => {
        const client = await connectClient(state.front!.url(server), opts);
        state.clients.push(client);
        return client;
      };
      return state as World;
    },
  };
}

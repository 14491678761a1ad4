import { spawn } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import { ChildProcessTransport } from '../src/naive/child-transport.js';
import { cleanup, HELPER, isAlive, isGrandchild, makeHome, processesWith, waitFor } from './helpers.js';

let home = '';
afterEach(async () => {
  if (home) await cleanup(home);
  home = '';
});

function startHelper(args: string[] = [], env: Record<string, string> = {}) {
  return spawn(process.execPath, [HELPER, '--spawnguard-helper', '--home', home, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
}

describe('helper-server (a real MCP stdio server)', () => {
  it('answers search over the SDK client through a transport on a child we spawned', async () => {
    home = makeHome();
    const child = startHelper();
    const client = new Client({ name: 'test', version: '0.0.0' });
    await client.connect(new ChildProcessTransport(child));
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toEqual(['search']);
    const results = await Promise.all(
      ['circuit breaker', 'orphaned helpers swap', 'dns rebinding host'].map((query) =>
        client.callTool({ name: 'search', arguments: { query, limit: 2 } }),
      ),
    );
    const parsed = results.map((r) => JSON.parse((r.content as Array<{ text: string }>)[0]!.text));
    expect(parsed[0].hits[0].id).toBe('breaker');
    expect(parsed[1].hits.length).toBeLessThanOrEqual(2);
    expect(parsed[2].hits[0].id).toBe('rebinding');
    expect(new Set(parsed.map((p) => p.helperPid))).toEqual(new Set([child.pid]));
    const bad = await client.callTool({ name: 'search', arguments: { query: '' } });
    expect(bad.isError).toBe(true);
    await client.close();
    // stdin closed: the helper exits by itself.
    await waitFor('helper exit', () => !isAlive(child.pid!), 5000);
  });

  it('crashes at startup on SPAWNGUARD_HELPER_CRASH=always, and connect rejects', async () => {
    home = makeHome();
    const child = startHelper([], { SPAWNGUARD_HELPER_CRASH: 'always' });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const client = new Client({ name: 'test', version: '0.0.0' });
    await expect(client.connect(new ChildProcessTransport(child))).rejects.toThrow();
    await waitFor('exit', () => child.exitCode !== null, 5000);
    expect(child.exitCode).toBe(70);
    expect(stderr).toContain('SPAWNGUARD_HELPER_CRASH=always');
  });

  it('starts a grandchild with --with-grandchild that outlives a helper which only closed stdin', async () => {
    home = makeHome();
    const child = startHelper(['--with-grandchild']);
    const grandchild = (await waitFor('grandchild', () => processesWith(home).find(isGrandchild), 5000))!;
    expect(grandchild.ppid).toBe(child.pid);
    child.stdin!.end();
    await waitFor('helper exit', () => !isAlive(child.pid!), 5000);
    // The helper is gone but its child is not: only a tree kill (the daemon's job) ends it.
    expect(isAlive(grandchild.pid)).toBe(true);
  });
});

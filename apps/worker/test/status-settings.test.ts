/* biome-ignore-all lint/suspicious/noExplicitAny: the test reads arbitrary JSON answers */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, freePort, killStarted, makeHome, runCli, tokenOf, waitFor, workerArgs } from './helpers.js';
import { EVERYTHING } from './mcp-servers.js';

let home = '';
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
  killStarted();
  if (home) await cleanup(home);
  home = '';
});

const status = async (port: number) => {
  const result = await runCli(['status', '--json', ...workerArgs(home, port)]);
  return Object.fromEntries(JSON.parse(result.stdout).servers.map((s: any) => [s.name, s]));
};

describe('status shows per server the filters and timeouts in force', () => {
  it('status and status --json of a daemon with a filtered server with a timeout, before and after its backend starts', async () => {
    home = makeHome();
    const port = await freePort();
    const everything = { command: process.execPath, args: [EVERYTHING, 'stdio', home] };
    writeFileSync(
      join(home, 'servers.json'),
      JSON.stringify({
        mcpServers: {
          filtered: {
            ...everything,
            tools: { allow: ['echo', 'get-*'] },
            prompts: { deny: ['args-prompt'] },
            requestTimeoutMs: 5000,
            maxTimeoutsInARow: 2,
          },
          plain: everything,
        },
      }),
      { mode: 0o600 },
    );
    const started = await runCli(['start', ...workerArgs(home, port)]);
    expect(started.code, started.stderr).toBe(0);

    const expected = {
      filters: { tools: { allow: ['echo', 'get-*'] }, prompts: { deny: ['args-prompt'] } },
      requestTimeoutMs: 5000,
      maxTimeoutsInARow: 2,
    };
    const before = await status(port);
    expect(before.filtered).toMatchObject({ state: 'stopped', ...expected });
    expect(before.plain).toMatchObject({ filters: {}, requestTimeoutMs: 0, maxTimeoutsInARow: null });

    // Through the host once it runs the backend: the same, and the filter is what the editor sees.
    const client = new Client({ name: 'status-test', version: '1.0.0' });
    clients.push(client);
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp/filtered`), {
        requestInit: { headers: { authorization: `Bearer ${tokenOf(home)}` } },
      }),
    );
    const tools = (await client.listTools()).tools.map((t) => t.name);
    expect(tools).toContain('echo');
    expect(tools.every((name) => name === 'echo' || name.startsWith('get-'))).toBe(true);
    await waitFor('filtered running', async () => (await status(port)).filtered.state === 'running');
    expect((await status(port)).filtered).toMatchObject(expected);

    const human = (await runCli(['status', ...workerArgs(home, port)])).stdout;
    expect(human).toMatch(
      /mcp filtered +running .*; tools allow echo, get-\*; prompts deny args-prompt; timeout 5000 ms \(restart after 2 in a row\)/,
    );
    const plain = human.split('\n').find((line) => /mcp plain/.test(line));
    expect(plain).toBeDefined();
    expect(plain).not.toMatch(/allow|deny|timeout/);
  }, 90_000);
});

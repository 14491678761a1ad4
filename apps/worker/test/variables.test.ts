/* biome-ignore-all lint/suspicious/noExplicitAny: the test reads arbitrary JSON answers */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cleanup,
  freePort,
  http,
  killStarted,
  makeHome,
  processesWith,
  runCli,
  tokenOf,
  waitFor,
  workerArgs,
} from './helpers.js';
import { EVERYTHING } from './mcp-servers.js';

let home = '';
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
  killStarted();
  if (home) await cleanup(home);
  home = '';
});

const $ = (body: string) => `$${'{'}${body}}`;
const SECRET = 'sk-test-5f1d2c9a-never-printed';

async function session(port: number, name: string): Promise<Client> {
  const client = new Client({ name: 'variables-test', version: '1.0.0' });
  clients.push(client);
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp/${name}`), {
      requestInit: { headers: { authorization: `Bearer ${tokenOf(home)}` } },
    }),
  );
  return client;
}

const status = async (port: number) =>
  JSON.parse((await runCli(['status', '--json', ...workerArgs(home, port)])).stdout);

describe('variables in a running worker', () => {
  it('the backend gets the values from the env file; a server whose variable is set nowhere is not started, shown in status, answered at /mcp, and starts after the env file is fixed and SIGHUP', async () => {
    home = makeHome();
    const port = await freePort();
    writeFileSync(join(home, 'env'), `# test\nAPI_KEY="${SECRET}"\n`, { mode: 0o600 });
    const everything = (env: Record<string, string>) => ({
      command: process.execPath,
      args: [EVERYTHING, 'stdio', home],
      env,
    });
    writeFileSync(
      join(home, 'servers.json'),
      JSON.stringify({
        mcpServers: {
          keyed: everything({
            API_KEY: $('API_KEY'),
            MODE: $('SPAWNGUARD_TEST_NO_MODE:-fast'),
            FROM_WORKER: $('SPAWNGUARD_TEST_VAR'),
          }),
          broken: everything({ TOKEN: $('MISSING_TOKEN') }),
        },
      }),
      { mode: 0o600 },
    );
    // The worker's own environment is the second source (here: the environment `start` gave it).
    const started = await runCli(['start', ...workerArgs(home, port)], { env: { SPAWNGUARD_TEST_VAR: 'from-env' } });
    expect(started.code, started.stderr).toBe(0);
    const daemon = (await http(port, '/health')).json.pid as number;

    const keyed = await session(port, 'keyed');
    const got = await keyed.callTool({ name: 'get-env', arguments: {} });
    const backendEnv = JSON.parse((got.content as any)[0].text);
    expect(backendEnv).toMatchObject({ API_KEY: SECRET, MODE: 'fast', FROM_WORKER: 'from-env' });

    // The other server does not start, and says why (the variable's name, never a value).
    const before = await status(port);
    const byName = Object.fromEntries(before.servers.map((s: any) => [s.name, s]));
    expect(byName.keyed).toMatchObject({
      state: 'running',
      variables: ['API_KEY', 'SPAWNGUARD_TEST_NO_MODE', 'SPAWNGUARD_TEST_VAR'],
      expansionError: null,
    });
    expect(byName.broken).toMatchObject({ state: 'stopped', starts: 0, variables: ['MISSING_TOKEN'] });
    expect(byName.broken.expansionError).toMatch(
      /^\$\{MISSING_TOKEN\} is not set \(not in .*\/env nor in the worker's environment\)/,
    );
    expect(byName.broken.lastError.message).toMatch(/MCP server "broken" is not started: \$\{MISSING_TOKEN\}/);
    const human = (await runCli(['status', ...workerArgs(home, port)])).stdout;
    expect(human).toMatch(/mcp keyed +running .*; variables API_KEY, SPAWNGUARD_TEST_NO_MODE, SPAWNGUARD_TEST_VAR/);
    expect(human).toMatch(/mcp broken +not started; variables MISSING_TOKEN: \$\{MISSING_TOKEN\} is not set/);
    expect(JSON.stringify(before)).not.toContain(SECRET);
    expect(human).not.toContain(SECRET);

    const refused = await http(port, '/mcp/broken', {
      method: 'POST',
      home,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }),
    });
    expect(refused.status).toBe(503);
    expect(refused.text).toMatch(/MCP server \\?"broken\\?" is not started: \$\{MISSING_TOKEN\} is not set/);
    expect(processesWith(home).filter((p) => p.argv.includes(EVERYTHING))).toHaveLength(1);

    // Fixed in the env file; a reload reads it again and starts the server.
    writeFileSync(join(home, 'env'), `API_KEY="${SECRET}"\nMISSING_TOKEN=now-set\n`, { mode: 0o600 });
    process.kill(daemon, 'SIGHUP');
    await waitFor('broken reloaded', async () => (await status(port)).reloads === 1);
    const fixed = await session(port, 'broken');
    const fixedEnv = JSON.parse(((await fixed.callTool({ name: 'get-env', arguments: {} })).content as any)[0].text);
    expect(fixedEnv.TOKEN).toBe('now-set');
    const after = Object.fromEntries((await status(port)).servers.map((s: any) => [s.name, s]));
    expect(after.broken).toMatchObject({ state: 'running', expansionError: null, variables: ['MISSING_TOKEN'] });
    // Unchanged values: the running server was not restarted by the reload.
    expect(after.keyed).toMatchObject({ state: 'running', starts: 1 });

    // A loosened env file is refused at the next reload: the servers that use it stop, with the fix named.
    chmodSync(join(home, 'env'), 0o644);
    process.kill(daemon, 'SIGHUP');
    await waitFor('reloaded again', async () => (await status(port)).reloads === 2);
    const loose = Object.fromEntries((await status(port)).servers.map((s: any) => [s.name, s]));
    expect(loose.keyed.expansionError).toMatch(
      /env file .*\/env is readable or writable by group or others.*chmod 600/,
    );
    await waitFor('backends stopped', () => processesWith(home).every((p) => !p.argv.includes(EVERYTHING)));
  }, 90_000);
});

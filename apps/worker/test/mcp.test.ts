/* biome-ignore-all lint/suspicious/noExplicitAny: the test reads arbitrary JSON answers */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cleanup,
  freePort,
  HELPER,
  http,
  isAlive,
  isGrandchild,
  killStarted,
  makeHome,
  processesWith,
  runCli,
  tokenOf,
  waitFor,
  workerArgs,
} from './helpers.js';
import { EVERYTHING, MEMORY } from './mcp-servers.js';

let home = '';
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
  killStarted();
  if (home) await cleanup(home);
  home = '';
});

/** Real servers from npm, started by their bin; the home path rides in argv so the test counts only its own. */
function writeServers(servers: Record<string, unknown>): void {
  writeFileSync(join(home, 'servers.json'), JSON.stringify({ mcpServers: servers }), { mode: 0o600 });
}
const everything = () => ({ command: process.execPath, args: [EVERYTHING, 'stdio', home] });
const memory = () => ({
  command: process.execPath,
  args: [MEMORY, home],
  env: { MEMORY_FILE_PATH: join(home, 'memory.jsonl') },
});

async function session(port: number, name: string, token = tokenOf(home)): Promise<Client> {
  const client = new Client({ name: 'mcp-test', version: '1.0.0' });
  clients.push(client);
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp/${name}`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

async function start(port: number, env: Record<string, string> = {}) {
  const result = await runCli(['start', ...workerArgs(home, port)], { env });
  expect(result.code, result.stderr).toBe(0);
  return (await http(port, '/health')).json.pid as number;
}

const backends = (bin: string) => processesWith(home).filter((p) => p.argv.includes(bin));

describe('the worker hosts real MCP servers', () => {
  it('20 concurrent sessions on server-everything: all list and call tools, through exactly 1 backend', async () => {
    home = makeHome();
    const port = await freePort();
    // memory with the host's filter and timeout fields, passed through servers.json
    writeServers({
      everything: everything(),
      memory: { ...memory(), tools: { deny: ['delete_*'] }, requestTimeoutMs: 600_000 },
    });
    await start(port);
    expect(backends(EVERYTHING)).toEqual([]); // started on first use, not at boot

    const sessions = await Promise.all(Array.from({ length: 20 }, () => session(port, 'everything')));
    const results = await Promise.all(
      sessions.map(async (client, i) => {
        const { tools } = await client.listTools();
        const echo = await client.callTool({ name: 'echo', arguments: { message: `session ${i}` } });
        return { names: tools.map((t) => t.name), text: (echo.content as any)[0].text as string };
      }),
    );
    for (const [i, r] of results.entries()) {
      expect(r.names).toContain('echo');
      expect(r.text).toContain(`session ${i}`);
    }
    expect(backends(EVERYTHING)).toHaveLength(1);

    // The second server is its own backend, shared the same way.
    const [a, b] = [await session(port, 'memory'), await session(port, 'memory')];
    await a.callTool({
      name: 'create_entities',
      arguments: { entities: [{ name: 'spawnguard', entityType: 'project', observations: ['one'] }] },
    });
    const graph = await b.callTool({ name: 'read_graph', arguments: {} });
    expect(JSON.stringify(graph.content)).toContain('spawnguard');
    expect(backends(MEMORY)).toHaveLength(1);
    const memoryTools = (await b.listTools()).tools.map((t) => t.name);
    expect(memoryTools).toContain('read_graph');
    expect(memoryTools.filter((name) => name.startsWith('delete_'))).toEqual([]);
    const refused = await b.callTool({ name: 'delete_entities', arguments: { entityNames: ['spawnguard'] } }).then(
      () => null,
      (error: { code?: number; message?: string }) => error,
    );
    expect(refused?.code).toBe(-32602);
    expect(refused?.message).toMatch(/tool "delete_entities" is not available on MCP server "memory"/);

    const status = JSON.parse((await runCli(['status', '--json', ...workerArgs(home, port)])).stdout);
    const byName = Object.fromEntries(status.servers.map((s: any) => [s.name, s]));
    expect(byName.everything).toMatchObject({ state: 'running', starts: 1, restarts: 0, sessions: 20, inFlight: 0 });
    expect(byName.everything.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(byName.memory).toMatchObject({ state: 'running', sessions: 2 });
    expect(status.config.source).toBe(join(home, 'servers.json'));
    const metrics = (await http(port, '/metrics', { home })).text;
    expect(metrics).toMatch(/^spawnguard_mcp_sessions\{server="everything"\} 20$/m);
    expect(metrics).toMatch(/^spawnguard_mcp_backend_starts_total\{server="memory"\} 1$/m);
    const human = (await runCli(['status', ...workerArgs(home, port)])).stdout;
    expect(human).toMatch(/mcp everything running \(pid \d+, [\d.]+ MB\), 20 sessions/);
  }, 120_000);

  it('SIGKILL of the daemon while backends run (one with a grandchild): the next start reaps them all; stop leaves 0', async () => {
    home = makeHome();
    const port = await freePort();
    writeServers({
      everything: everything(),
      tree: {
        command: process.execPath,
        args: [HELPER, '--spawnguard-helper', '--home', home, '--with-grandchild', '--linger'],
      },
    });
    const first = await start(port);
    await (await session(port, 'everything')).callTool({ name: 'echo', arguments: { message: 'x' } });
    await (await session(port, 'tree')).callTool({ name: 'search', arguments: { query: 'tree' } });
    await waitFor('grandchild', () => processesWith(home).some(isGrandchild));
    const old = processesWith(home).filter((p) => p.pid !== first && !p.argv.includes('daemon'));
    expect(old.length).toBeGreaterThanOrEqual(3); // everything, the helper, its grandchild

    process.kill(first, 'SIGKILL');
    await waitFor('daemon gone', () => !isAlive(first));
    // server-everything exits when its stdin closes; a server that lingers (and its grandchild) does not:
    // once server-everything is gone, the SIGKILL has closed every backend's stdin.
    await waitFor('server-everything to exit on its closed stdin', () => backends(EVERYTHING).length === 0);
    const lingering = old.filter((p) => !p.argv.includes(EVERYTHING));
    for (const p of lingering) expect(isAlive(p.pid), `${p.argv.join(' ')} runs on after the SIGKILL`).toBe(true);

    const second = await start(port);
    expect(second).not.toBe(first);
    await waitFor('leftovers reaped', () => old.every((p) => !isAlive(p.pid)), 15_000);
    const status = JSON.parse((await runCli(['status', '--json', ...workerArgs(home, port)])).stdout);
    // The lingering backend was killed with its tree; one that had exited is dropped, never signalled.
    expect(status.leftoversReapedAtBoot.killed.length + status.leftoversReapedAtBoot.dropped.length).toBe(2);
    expect(status.leftoversReapedAtBoot.killed.length).toBeGreaterThanOrEqual(1);

    const stop = await runCli(['stop', ...workerArgs(home, port)]);
    expect(stop.code, stop.stderr).toBe(0);
    await waitFor('no descendant left', () => processesWith(home).length === 0, 10_000);
  }, 90_000);
});

describe('--naive MCP (what editors do, for the demo)', () => {
  it('every session starts its own copy of the server, and closing a session only closes its stdin', async () => {
    home = makeHome();
    const port = await freePort();
    const lingering = { command: process.execPath, args: [HELPER, '--spawnguard-helper', '--home', home, '--linger'] };
    writeServers({ everything: everything(), wedged: lingering });
    const started = await runCli(['start', '--naive', ...workerArgs(home, port)], {
      env: { SPAWNGUARD_NAIVE_TTL_MS: '60000' },
    });
    expect(started.code, started.stderr).toBe(0);
    const sessions = await Promise.all([1, 2, 3].map(() => session(port, 'everything')));
    await Promise.all(sessions.map((c) => c.callTool({ name: 'echo', arguments: { message: 'naive' } })));
    expect(backends(EVERYTHING)).toHaveLength(3); // one copy per session
    const wedged = await session(port, 'wedged');
    await wedged.callTool({ name: 'search', arguments: { query: 'x' } });
    const copy = processesWith(home).find((p) => p.argv.includes('--linger'))!;
    // Client.close() sends nothing: the DELETE is terminateSession().
    const end = async (c: Client) => {
      await (c.transport as StreamableHTTPClientTransport).terminateSession();
      await c.close();
    };
    await end(wedged); // DELETE: the naive host closes its stdin and nothing else
    // A session ended after it shows that the end has taken effect: its copy of server-everything,
    // which exits when its stdin closes, is gone.
    await end(sessions[0]!);
    await waitFor('the closed session of server-everything to exit', () => backends(EVERYTHING).length === 2);
    expect(isAlive(copy.pid)).toBe(true); // a wedged server outlives its session: the field's leak
  }, 60_000);
});

describe('/mcp/<name> refuses bad requests', () => {
  it('no token 401, forged Host or foreign Origin 403, unknown server 404, a 10 MB body 413', async () => {
    home = makeHome();
    const port = await freePort();
    writeServers({ everything: everything() });
    await start(port);
    const init = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const post = (path: string, extra: Record<string, string> = {}, body: string | Buffer = init) =>
      http(port, path, { method: 'POST', headers: { ...headers, ...extra }, body });
    const bearer = { authorization: `Bearer ${tokenOf(home)}` };

    expect((await post('/mcp/everything')).status).toBe(401);
    expect((await post('/mcp/everything', { authorization: `Bearer ${'0'.repeat(64)}` })).status).toBe(401);
    expect((await post('/mcp/everything', { ...bearer, host: 'evil.example' })).status).toBe(403);
    expect((await post('/mcp/everything', { ...bearer, origin: 'https://evil.example' })).status).toBe(403);
    expect((await post('/mcp/everything', { ...bearer, 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    const unknown = await post('/mcp/nope', bearer);
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatch(/no MCP server named "nope"/);
    const big = await post('/mcp/everything', bearer, Buffer.alloc(10 * 1024 * 1024, 'a')).catch((e: Error) => e);
    if (big instanceof Error) expect(big.message).toMatch(/EPIPE|ECONNRESET|socket hang up/);
    else expect(big.status).toBe(413);
    expect((await post('/mcp/everything', bearer, '{"jsonrpc": ')).status).toBe(400);
    expect((await http(port, '/mcp/everything', { method: 'PUT', headers: bearer })).status).toBe(405);
    // And a well-formed one still works.
    const ok = await post('/mcp/everything', bearer);
    expect(ok.status).toBe(200);
    expect(ok.headers['mcp-session-id']).toMatch(/\S/);
    expect(backends(EVERYTHING)).toHaveLength(1);
  }, 60_000);
});

describe('the servers config is validated at start', () => {
  const bad: Array<[string, string, RegExp]> = [
    ['not JSON', '{"mcpServers": ', /servers\.json is not valid JSON/],
    ['no mcpServers', '{"servers": {}}', /"mcpServers" must be an object of servers, got nothing/],
    ['a server that is not an object', '{"mcpServers": {"a": "npx a"}}', /server "a" must be an object/],
    [
      'no command',
      '{"mcpServers": {"a": {"args": []}}}',
      /server "a": "command" must be a non-empty string, got nothing/,
    ],
    [
      'args not a list of strings',
      '{"mcpServers": {"a": {"command": "x", "args": [1]}}}',
      /server "a": "args" must be a list of strings, got \[1\]/,
    ],
    [
      'env not strings',
      '{"mcpServers": {"a": {"command": "x", "env": {"K": 1}}}}',
      /server "a": "env" must be an object of strings/,
    ],
    [
      'a bad share',
      '{"mcpServers": {"a": {"command": "x", "share": "all"}}}',
      /server "a": "share" must be "shared" or "per-session", got "all"/,
    ],
    [
      'a negative idleMs',
      '{"mcpServers": {"a": {"command": "x", "idleMs": -1}}}',
      /server "a": "idleMs" must be an integer from 0/,
    ],
    [
      'maxInstances 0',
      '{"mcpServers": {"a": {"command": "x", "share": "per-session", "maxInstances": 0}}}',
      /server "a": "maxInstances" must be an integer from 1/,
    ],
    [
      'a filter with both allow and deny',
      '{"mcpServers": {"a": {"command": "x", "tools": {"allow": ["x"], "deny": ["y"]}}}}',
      /server "a": "tools" must be \{"allow": \[\.\.\.\]\} or \{"deny": \[\.\.\.\]\}/,
    ],
    [
      'a filter pattern that is not a string',
      '{"mcpServers": {"a": {"command": "x", "resources": {"deny": [1]}}}}',
      /server "a": "resources" must be \{"allow"/,
    ],
    [
      'a negative requestTimeoutMs',
      '{"mcpServers": {"a": {"command": "x", "requestTimeoutMs": -1}}}',
      /server "a": "requestTimeoutMs" must be an integer from 0/,
    ],
    [
      'disabled not boolean',
      '{"mcpServers": {"a": {"command": "x", "disabled": "yes"}}}',
      /server "a": "disabled" must be true or false/,
    ],
    [
      'a remote entry',
      '{"mcpServers": {"a": {"url": "https://x.example/mcp"}}}',
      /server "a": "url" is a remote server/,
    ],
    ['a name that is not a URL segment', '{"mcpServers": {"a b": {"command": "x"}}}', /server name "a b" must be/],
  ];
  it.each(bad)(
    '%s: start and daemon exit 2 naming the server and the field, and nothing runs',
    async (_what, text, message) => {
      home = makeHome();
      const port = await freePort();
      writeFileSync(join(home, 'servers.json'), text, { mode: 0o600 });
      for (const command of ['start', 'daemon']) {
        const result = await runCli([command, ...workerArgs(home, port)], { timeoutMs: 20_000 });
        expect(result.code, `${command}: ${result.stderr}`).toBe(2);
        expect(result.stderr).toMatch(message);
      }
      const hook = await runCli(['hook', 'x', ...workerArgs(home, port)]);
      expect(hook.code).toBe(0); // a hook never fails its host...
      expect(hook.stderr).toMatch(message); // ...but says why nothing was started
      expect(processesWith(home)).toEqual([]);
    },
  );

  it('--config and SPAWNGUARD_CONFIG name the file (which must exist); unknown fields are warnings; disabled entries are not hosted', async () => {
    home = makeHome();
    const port = await freePort();
    const missing = await runCli(['start', ...workerArgs(home, port), '--config', join(home, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the servers config: .*nope\.json does not exist/);
    const file = join(home, 'mine.json');
    writeFileSync(
      file,
      JSON.stringify({
        mcpServers: {
          everything: { ...everything(), autoApprove: ['echo'], colour: 'blue' },
          off: { command: 'x', disabled: true },
        },
      }),
    );
    const started = await runCli(['start', ...workerArgs(home, port)], { env: { SPAWNGUARD_CONFIG: file } });
    expect(started.code, started.stderr).toBe(0);
    const status = JSON.parse((await runCli(['status', '--json', ...workerArgs(home, port)])).stdout);
    expect(status.config.source).toBe(file);
    expect(status.config.disabled).toEqual(['off']);
    expect(status.config.warnings).toEqual([
      `${file}: server "everything": "autoApprove" is a client setting; the host ignores it`,
      `${file}: server "everything": unknown field "colour" ignored`,
    ]);
    expect(status.servers.map((s: any) => s.name)).toEqual(['everything']);
    expect(
      (await http(port, '/mcp/off', { method: 'POST', headers: { authorization: `Bearer ${tokenOf(home)}` } })).status,
    ).toBe(404);
  }, 60_000);
});

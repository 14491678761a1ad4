/* biome-ignore-all lint/suspicious/noExplicitAny: the test reads arbitrary JSON-RPC messages */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { bridgeOptionsFromEnv, resolveBridgeOptions } from '../src/bridge/bridge-options.js';
import { idFromHead, idFromTail, idOfCutLine } from '../src/bridge/line-id.js';
import { UsageError } from '../src/config/config.js';
import {
  CLI,
  cleanup,
  freePort,
  isAlive,
  isDaemon,
  killStarted,
  makeHome,
  processesWith,
  runCli,
  sleep,
  waitFor,
  workerArgs,
} from './helpers.js';
import { EVERYTHING, MEMORY } from './mcp-servers.js';

/** mcp-host's recording fixture: an MCP server that appends every message it receives to RECORD_FILE. */
const RECORDER = join(
  import.meta.dirname,
  '..',
  '..',
  '..',
  'packages',
  'mcp-host',
  'test',
  'fixtures',
  'recorder.mjs',
);

/** This package's fixture: what reached the backend, in order, and whether each slow call was cancelled. */
const PROBE = join(import.meta.dirname, 'fixtures', 'order-probe.mjs');

let home = '';
const clients: Client[] = [];
const raw: ChildProcess[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
  for (const child of raw.splice(0)) child.kill('SIGKILL');
  killStarted();
  if (home) await cleanup(home);
  home = '';
});

function writeServers(extra: Record<string, unknown> = {}): void {
  writeFileSync(
    join(home, 'servers.json'),
    JSON.stringify({
      mcpServers: {
        everything: { command: process.execPath, args: [EVERYTHING, 'stdio', home], ...extra },
        memory: { command: process.execPath, args: [MEMORY, home], env: { MEMORY_FILE_PATH: join(home, 'm.jsonl') } },
        recorder: {
          command: process.execPath,
          args: [RECORDER, home],
          env: { RECORD_FILE: join(home, 'recorded.jsonl') },
        },
        probe: { command: process.execPath, args: [PROBE, home], env: { PROBE_FILE: join(home, 'probe.jsonl') } },
      },
    }),
    { mode: 0o600 },
  );
}

/** A bridge spoken to line by line: what it writes is exactly what a client would receive. */
async function rawSession(port: number, server = 'everything') {
  const child = spawn(process.execPath, [CLI, 'mcp', server, ...workerArgs(home, port)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  raw.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const lines = () =>
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  const call = async (message: any) => {
    child.stdin!.write(`${JSON.stringify(message)}\n`);
    await waitFor(`answer to ${message.id}`, () => lines().some((l) => l.id === message.id && !l.method), 60_000);
    return lines().find((l) => l.id === message.id && !l.method);
  };
  await call({
    jsonrpc: '2.0',
    id: 'init',
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  });
  child.stdin!.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
  return { child, lines, call };
}

/** An editor's session: the SDK client launching the bridge as its stdio server. */
async function editor(port: number, server: string, capabilities: Record<string, unknown> = {}): Promise<Client> {
  const client = new Client({ name: 'editor', version: '1.0.0' }, { capabilities });
  clients.push(client);
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp', server, ...workerArgs(home, port)],
      stderr: 'pipe',
    }),
  );
  return client;
}

const recorded = (): any[] => {
  try {
    return readFileSync(join(home, 'recorded.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  } catch {
    return [];
  }
};

const probed = (): any[] => {
  try {
    return readFileSync(join(home, 'probe.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  } catch {
    return [];
  }
};

/** Open sessions of `server` at the worker, from `status --json` (read with the token). */
async function sessionsOf(port: number, server: string): Promise<number> {
  const status = JSON.parse((await runCli(['status', '--json', ...workerArgs(home, port)])).stdout);
  return status.servers.find((s: any) => s.name === server).sessions;
}

const bridges = () => processesWith(home).filter((p) => p.argv.includes('mcp') && p.argv.includes(CLI));
const backends = (bin: string) => processesWith(home).filter((p) => p.argv.includes(bin));

describe('the stdio bridge', () => {
  it('30 bridges started at once on a cold machine: 1 daemon, 1 backend per server used, every session calls a tool', async () => {
    home = makeHome();
    const port = await freePort();
    writeServers();
    const sessions = await Promise.all(
      Array.from({ length: 30 }, (_, i) => editor(port, i % 2 === 0 ? 'everything' : 'memory')),
    );
    const results = await Promise.all(
      sessions.map((client, i) =>
        i % 2 === 0
          ? client.callTool({ name: 'echo', arguments: { message: `bridge ${i}` } })
          : client.callTool({ name: 'read_graph', arguments: {} }),
      ),
    );
    for (const [i, r] of results.entries()) {
      expect(r.isError, JSON.stringify(r)).toBeFalsy();
      if (i % 2 === 0) expect(JSON.stringify(r.content)).toContain(`bridge ${i}`);
    }
    expect(processesWith(home).filter(isDaemon)).toHaveLength(1);
    expect(backends(EVERYTHING)).toHaveLength(1);
    expect(backends(MEMORY)).toHaveLength(1);
    expect(bridges()).toHaveLength(30);
  }, 180_000);

  it('is transparent: the client answers sampling and elicitation itself, and gets progress for its own calls only (two bridges)', async () => {
    home = makeHome();
    const port = await freePort();
    // Two sessions asking the same shared server for sampling at once: serialize gives each request one owner.
    writeServers({ serialize: true });
    const make = async (who: string) => {
      const client = await editor(port, 'everything', { sampling: {}, elicitation: {} });
      const seen = { sampling: [] as string[], elicitation: 0 };
      client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
        seen.sampling.push(JSON.stringify(request.params.messages));
        return { model: `model-${who}`, role: 'assistant', content: { type: 'text', text: `answer from ${who}` } };
      });
      client.setRequestHandler(ElicitRequestSchema, async () => {
        seen.elicitation++;
        return { action: 'accept', content: { name: who, check: true, email: `${who}@example.com` } } as any;
      });
      return { client, seen };
    };
    const [a, b] = await Promise.all([make('a'), make('b')]);
    const [sa, sb] = await Promise.all(
      [a, b].map(({ client }, i) =>
        client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: `prompt ${i}`, maxTokens: 20 } }),
      ),
    );
    expect(JSON.stringify(sa!.content)).toContain('answer from a');
    expect(JSON.stringify(sb!.content)).toContain('answer from b');
    expect(a.seen.sampling).toHaveLength(1);
    expect(a.seen.sampling[0]).toContain('prompt 0');
    expect(b.seen.sampling[0]).toContain('prompt 1');
    const elicited = await a.client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
    expect(a.seen.elicitation).toBe(1);
    expect(b.seen.elicitation).toBe(0);
    expect(JSON.stringify(elicited.content)).toMatch(/accept/);

    // Progress, read off the bridges' own stdout (the SDK client itself drops a progress that
    // arrives in the same read as its response, directly over stdio too): each bridge carries
    // exactly its own steps, under the token its client chose, although both chose the same one.
    const [ra, rb] = [await rawSession(port), await rawSession(port)];
    await Promise.all(
      [ra, rb].map((r, i) =>
        r.call({
          jsonrpc: '2.0',
          id: 9,
          method: 'tools/call',
          params: {
            name: 'trigger-long-running-operation',
            arguments: { duration: 1, steps: i === 0 ? 3 : 5 },
            _meta: { progressToken: 'same-token' },
          },
        }),
      ),
    );
    const steps = (r: typeof ra) =>
      r
        .lines()
        .filter((l) => l.method === 'notifications/progress')
        .map((l) => [l.params.progressToken, l.params.progress]);
    expect(steps(ra)).toEqual([1, 2, 3].map((n) => ['same-token', n]));
    expect(steps(rb)).toEqual([1, 2, 3, 4, 5].map((n) => ['same-token', n]));
    expect(backends(EVERYTHING)).toHaveLength(1);
  }, 120_000);

  it('stdin closed: the bridge is gone within a second, its session ends, the backend stays', async () => {
    home = makeHome();
    const port = await freePort();
    writeServers();
    const client = await editor(port, 'everything');
    await client.callTool({ name: 'echo', arguments: { message: 'x' } });
    const [bridge] = bridges();
    expect(bridge).toBeDefined();
    const backend = backends(EVERYTHING)[0]!;
    const t0 = Date.now();
    await client.close(); // the SDK closes the child's stdin
    await waitFor('bridge gone', () => !isAlive(bridge!.pid), 3000, 10);
    expect(Date.now() - t0).toBeLessThan(1500); // ~1 s; the bound only guards against a zombie bridge
    const status = JSON.parse((await runCli(['status', '--json', ...workerArgs(home, port)])).stdout);
    expect(status.servers.find((s: any) => s.name === 'everything').sessions).toBe(0);
    expect(isAlive(backend.pid)).toBe(true); // other sessions may come; it stops after its idleMs
  }, 60_000);

  it('daemon SIGKILLed with 30 bridges attached: in-flight requests fail at once, exactly 1 new daemon, every next call succeeds; subscriptions and log level are restored', async () => {
    home = makeHome();
    const port = await freePort();
    writeServers();
    const sessions = await Promise.all(Array.from({ length: 30 }, () => editor(port, 'everything')));
    await Promise.all(sessions.map((c) => c.callTool({ name: 'echo', arguments: { message: 'before' } })));
    // One more session, on a server that records what it receives, sets a log level and
    // subscribes: both must reach the new backend after the restart.
    const watcher = await editor(port, 'recorder');
    await watcher.setLoggingLevel('error');
    const uri = 'test://watched';
    await watcher.subscribeResource({ uri });
    const [daemon] = processesWith(home).filter(isDaemon);

    // A long call in flight when the daemon dies.
    const slow = sessions[1]!.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 20, steps: 2 } },
      undefined,
      { timeout: 60_000 },
    );
    await sleep(500);
    const t0 = Date.now();
    process.kill(daemon!.pid, 'SIGKILL');
    const failed = await slow.then(
      () => null,
      (error: Error) => error,
    );
    expect(failed?.message).toMatch(/went away/);
    expect(Date.now() - t0).toBeLessThan(5000); // at once, not after the call's 20 s

    await waitFor(
      'a new daemon',
      () => processesWith(home).filter(isDaemon).length === 1 && !isAlive(daemon!.pid),
      30_000,
    );
    const results = await Promise.all(
      sessions.map((c, i) =>
        c.callTool({ name: 'echo', arguments: { message: `after ${i}` } }, undefined, { timeout: 60_000 }),
      ),
    );
    for (const [i, r] of results.entries()) expect(JSON.stringify(r.content)).toContain(`after ${i}`);
    const daemons = processesWith(home).filter(isDaemon);
    expect(daemons).toHaveLength(1);
    expect(daemons[0]!.pid).not.toBe(daemon!.pid);
    expect(backends(EVERYTHING)).toHaveLength(1);

    // The new backend got the watcher's setup again: after its initialize, the level and the subscription.
    await watcher.callTool({ name: 'echo', arguments: { text: 'after' } }, undefined, { timeout: 60_000 });
    await waitFor(
      'setup replayed to the new backend',
      () => {
        const seen = recorded();
        const last = seen.map((m) => m.method).lastIndexOf('initialize');
        const after = seen.slice(last + 1);
        return (
          seen.filter((m) => m.method === 'initialize').length >= 2 &&
          after.some((m) => m.method === 'logging/setLevel' && m.params.level === 'error') &&
          after.some((m) => m.method === 'resources/subscribe' && m.params.uri === uri)
        );
      },
      30_000,
    );
  }, 240_000);
});

describe('how a bridge ends', () => {
  it('SIGINT, SIGHUP, SIGTERM, SIGQUIT or its stdout gone: the session is ended at the host, and the exit code is the conventional one', async () => {
    home = makeHome();
    const port = await freePort();
    writeServers();
    const cases = [
      ['SIGINT', 130],
      ['SIGHUP', 129],
      ['SIGTERM', 143],
      ['SIGQUIT', 131],
      ['stdout closed', 0],
    ] as const;
    for (const [how, code] of cases) {
      const { child, call } = await rawSession(port, 'recorder');
      await call({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: how } } });
      await waitFor(
        `${how}: its session open at the host`,
        async () => (await sessionsOf(port, 'recorder')) === 1,
        30_000,
        100,
      );
      if (how === 'stdout closed') {
        // The editor is gone: the next thing the bridge writes meets a closed pipe (EPIPE).
        child.stdout!.destroy();
        child.stdin!.write('{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{}}}\n');
      } else child.kill(how);
      await waitFor(`${how}: the bridge exits`, () => child.exitCode !== null || child.signalCode !== null, 10_000);
      await waitFor(
        `${how}: its session ended at the host`,
        async () => (await sessionsOf(port, 'recorder')) === 0,
        20_000,
        100,
      );
      expect({ how, code: child.exitCode, signal: child.signalCode }).toEqual({ how, code, signal: null });
    }
  }, 240_000);
});

describe('the order of a client\u2019s messages', () => {
  it('a 3 MiB tool call followed at once by its cancellation: the backend cancels it, 5 of 5; subscribe then unsubscribe arrive in that order', async () => {
    home = makeHome();
    const port = await freePort();
    writeServers();
    const { child, call, lines } = await rawSession(port, 'probe');
    // The backend is up: the calls below reach it at once, not through the host's start queue.
    await call({
      jsonrpc: '2.0',
      id: 'warm',
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: 'up' } },
    });
    // Five calls, each followed at once by its cancellation, written in one go (as a busy editor
    // would): a cancellation that reached the host before its call would be dropped there.
    const pad = 'x'.repeat(3 * 1024 * 1024);
    const tags = [0, 1, 2, 3, 4];
    const pair = (i: number) =>
      `${JSON.stringify({ jsonrpc: '2.0', id: `slow-${i}`, method: 'tools/call', params: { name: 'slow', arguments: { tag: i, pad } } })}\n` +
      `${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: `slow-${i}`, reason: 'test' } })}\n`;
    child.stdin!.write(tags.map(pair).join(''));
    // A slow call lasts 30 s unless cancelled: whichever way it ends, the probe writes it down.
    const ended = await waitFor(
      'the 5 calls ended at the backend',
      () => {
        const outcomes = probed().filter((e) => e.outcome);
        return outcomes.length === tags.length ? outcomes : null;
      },
      90_000,
    );
    expect(ended!.map((e) => [e.tag, e.outcome]).sort()).toEqual(tags.map((i) => [i, 'cancelled']));

    // Subscribe then unsubscribe, five URIs at once, each subscribe large: the backend sees each pair in order.
    const uris = tags.map((i) => `probe://watched/${i}`);
    child.stdin!.write(
      uris
        .map(
          (uri, i) =>
            `${JSON.stringify({ jsonrpc: '2.0', id: `sub-${i}`, method: 'resources/subscribe', params: { uri, _meta: { pad } } })}\n` +
            `${JSON.stringify({ jsonrpc: '2.0', id: `unsub-${i}`, method: 'resources/unsubscribe', params: { uri } })}\n`,
        )
        .join(''),
    );
    await waitFor(
      'every subscribe and unsubscribe answered',
      () => tags.every((i) => [`sub-${i}`, `unsub-${i}`].every((id) => lines().some((l) => l.id === id && !l.method))),
      60_000,
    );
    // Each answer came from the backend, or from the host after the backend had written down what it received.
    const seen = (uri: string) =>
      probed()
        .filter((e) => e.uri === uri)
        .map((e) => e.seen);
    expect(uris.map(seen)).toEqual(uris.map(() => ['resources/subscribe', 'resources/unsubscribe']));
    // A cancelled request got no answer, and its end did not make the bridge think the worker went away.
    const after = await call({
      jsonrpc: '2.0',
      id: 'after',
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: 'still here' } },
    });
    expect(JSON.stringify(after.result)).toContain('still here');
    expect(lines().filter((l) => typeof l.id === 'string' && l.id.startsWith('slow-'))).toEqual([]);
  }, 240_000);
});

describe('bad input on the bridge\u2019s stdin', () => {
  function rawBridge(port: number): { child: ChildProcess; lines: () => any[] } {
    const child = spawn(process.execPath, [CLI, 'mcp', 'everything', ...workerArgs(home, port)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    raw.push(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    return {
      child,
      lines: () =>
        out
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l)),
    };
  }

  it('garbage, a huge line, a request before initialize: JSON-RPC errors, no hang, the worker unaffected', async () => {
    home = makeHome();
    const port = await freePort();
    writeServers();
    const { child, lines } = rawBridge(port);
    child.stdin!.write('this is not json\n');
    child.stdin!.write('[1, 2, 3]\n');
    child.stdin!.write('{"jsonrpc":"2.0","id":7,"method":"tools/list"}\n');
    child.stdin!.write(`{"jsonrpc":"2.0","id":8,"method":"x","params":"${'a'.repeat(5 * 1024 * 1024)}"}\n`);
    await waitFor('four answers', () => lines().length >= 4, 10_000);
    const [parse, invalid, early, huge] = lines();
    expect(parse.error.code).toBe(-32700);
    expect(invalid.error.code).toBe(-32600);
    expect(early).toMatchObject({ id: 7, error: { code: -32002 } });
    expect(huge.error).toMatchObject({ code: -32600 });
    expect(huge.error.message).toMatch(/limit is 4194304/);
    // Nothing was started for a client that never initialized...
    expect(processesWith(home).filter(isDaemon)).toEqual([]);
    // ...and the same bridge still works once it does.
    child.stdin!.write(
      `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } })}\n`,
    );
    await waitFor('initialized', () => lines().some((l) => l.id === 1 && l.result), 30_000);
    child.stdin!.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
    child.stdin!.write(
      '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"ok"}}}\n',
    );
    await waitFor('tool result', () => lines().some((l) => l.id === 2 && l.result), 30_000);
    child.stdin!.write('not json again\n');
    await waitFor('parse error again', () => lines().filter((l) => l.error?.code === -32700).length === 2, 5000);
    const status = await runCli(['status', '--json', ...workerArgs(home, port)]);
    expect(JSON.parse(status.stdout).running).toBe(true);
    child.stdin!.end();
    await waitFor('bridge exits', () => child.exitCode !== null, 3000);
    expect(child.exitCode).toBe(0);

    // A server name the worker does not host: initialize gets an error naming it, the bridge lives on.
    const unknown = spawn(process.execPath, [CLI, 'mcp', 'nope', ...workerArgs(home, port)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    raw.push(unknown);
    let out = '';
    unknown.stdout!.on('data', (d) => (out += d));
    unknown.stdin!.write(
      `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } })}\n`,
    );
    await waitFor('an answer', () => out.includes('"id":1'), 30_000);
    expect(JSON.parse(out.trim())).toMatchObject({ id: 1, error: { code: -32000 } });
    expect(out).toMatch(/no MCP server named \\"nope\\"/);
    expect(unknown.exitCode).toBe(null);
  }, 90_000);

  it('an oversized line is answered with its own id when its first or last bytes hold it', async () => {
    home = makeHome();
    const port = await freePort(); // nothing is started: the bridge answers these itself
    const { child, lines } = rawBridge(port);
    const big = 'a'.repeat(5 * 1024 * 1024);
    // The id first, as most clients write it.
    child.stdin!.write(
      `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"t":"${big}"}}}\n`,
    );
    // The id last, as the TypeScript SDK writes it; the "id" inside the arguments is not the request's.
    child.stdin!.write(
      `{"method":"tools/call","params":{"name":"x","arguments":{"id":99,"t":"${big}\\"}"}},"jsonrpc":"2.0","id":"req-8"}\n`,
    );
    // Between two large members, past both ends the bridge keeps: it cannot be read (id null).
    child.stdin!.write(`{"jsonrpc":"2.0","a":"${big}","id":9,"b":"${big}"}\n`);
    await waitFor('three answers', () => lines().length >= 3, 20_000);
    expect(lines().map((l) => [l.id, l.error?.code])).toEqual([
      [7, -32600],
      ['req-8', -32600],
      [null, -32600],
    ]);
    expect(processesWith(home).filter(isDaemon)).toEqual([]);
  }, 60_000);
});

describe('reading the id of an oversized line (line-id.ts)', () => {
  it('finds the top-level id in the head or the tail, never a nested one, never a value the cut may have split', () => {
    expect(idFromHead('{"jsonrpc":"2.0","id":7,"method":"x","params":"aaa')).toBe(7);
    expect(idFromHead(' { "id" : "a\\"b" , "x')).toBe('a"b');
    expect(idFromHead('{"method":"x","params":{"id":3,"t":"aaa')).toBeUndefined(); // cut before the top-level id
    expect(idFromHead('{"id":12')).toBeUndefined(); // 12 may go on after the cut
    expect(idFromHead('{"id":null,"x')).toBeNull();
    expect(idFromHead('{"id":{"no":1},"x')).toBeUndefined();
    expect(idFromHead('[{"id":1}')).toBeUndefined();
    expect(idFromTail('aaa"}},"jsonrpc":"2.0","id":"req-8"}\r')).toBe('req-8');
    expect(idFromTail('x":"aaa","params":{"id":99}}')).toBeUndefined(); // only a nested id
    expect(idFromTail('{"id":4,"b":"q\\",\\"id\\":9"}')).toBe(4); // escaped quotes are inside the string
    expect(idFromTail('\\"},"n":1}')).toBeUndefined(); // is that quote escaped? the cut hides it
    expect(idFromTail('2}')).toBeUndefined();
    expect(idOfCutLine('{"method":"x","params":"aa', 'aa","id":5}')).toBe(5);
    expect(idOfCutLine('not json', 'not json either')).toBeUndefined();
  });

  it('the bridge options: defaults, checked values, and their variables', () => {
    expect(resolveBridgeOptions()).toEqual({ endSessionMs: 500, idScanBytes: 65536 });
    expect(() => resolveBridgeOptions({ endSessionMs: -1 })).toThrow(RangeError);
    expect(() => resolveBridgeOptions({ endSessionMs: -1 })).toThrow(/endSessionMs.*-1/);
    expect(() => resolveBridgeOptions({ idScanBytes: 'big' as any })).toThrow(TypeError);
    expect(() => resolveBridgeOptions({ idScanBytes: 5 * 1024 * 1024 })).toThrow(/idScanBytes/);
    expect(() => resolveBridgeOptions({ endSession: 1 } as any)).toThrow(/endSession is not an option/);
    expect(
      bridgeOptionsFromEnv({ SPAWNGUARD_BRIDGE_END_SESSION_MS: '2000', SPAWNGUARD_BRIDGE_ID_SCAN_BYTES: '0' }),
    ).toEqual({
      endSessionMs: 2000,
      idScanBytes: 0,
    });
    expect(() => bridgeOptionsFromEnv({ SPAWNGUARD_BRIDGE_END_SESSION_MS: 'soon' })).toThrow(UsageError);
    expect(() => bridgeOptionsFromEnv({ SPAWNGUARD_BRIDGE_ID_SCAN_BYTES: '-1' })).toThrow(
      /SPAWNGUARD_BRIDGE_ID_SCAN_BYTES/,
    );
  });

  it('a bad bridge variable: usage error, exit 2, nothing started', async () => {
    home = makeHome();
    const port = await freePort();
    const result = await runCli(['mcp', 'everything', ...workerArgs(home, port)], {
      env: { SPAWNGUARD_BRIDGE_END_SESSION_MS: 'soon' },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/SPAWNGUARD_BRIDGE_END_SESSION_MS must be an integer/);
  });
});

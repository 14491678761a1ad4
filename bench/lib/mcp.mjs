// MCP bench helpers: the same backend (@modelcontextprotocol/server-everything, started by its
// bin with process.execPath, never npx) reached directly over stdio, through our host over
// Streamable HTTP or in memory, through supergateway and through mcp-proxy (both from npm), and
// (when it exists) through the worker's stdio bridge. Every process started here is registered
// with proc.mjs and killed by pid at the end, on an error, or when the case process is signalled.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { cpuMs, descendants, own, rssKb, snapshotOwned, stopOwned } from './proc.mjs';

const require = createRequire(import.meta.url);
const here = import.meta.dirname;

/** The bin script of an npm package, resolved through its package.json. */
export function binOf(pkg) {
  const manifest = require.resolve(`${pkg}/package.json`);
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8'));
  return join(dirname(manifest), typeof bin === 'string' ? bin : Object.values(bin)[0]);
}

export const EVERYTHING_BIN = binOf('@modelcontextprotocol/server-everything');
export const MEMORY_BIN = binOf('@modelcontextprotocol/server-memory');
export const marker = `spawnguard-bench-mcp-${process.pid}-${Date.now().toString(36)}`;

/** A private temp folder for this case (state dirs, memory files), removed by `cleanupTemp()`. */
let temp = null;
export function tempPath(name) {
  if (temp === null) {
    temp = mkdtempSync(join(tmpdir(), 'spawnguard-bench-mcp-'));
    process.on('exit', cleanupTemp);
  }
  return join(temp, name);
}
export function cleanupTemp() {
  if (temp !== null) rmSync(temp, { recursive: true, force: true });
}

/**
 * Server configs in the Claude Desktop shape. server-everything ignores argv after its transport
 * name and server-memory ignores its argv, so the marker rides there.
 */
/** A process (from proc.mjs `descendants`) that is one of our servers: node running a server's bin. */
export const isBackend = (d) =>
  d.cmdline[0] === process.execPath && [EVERYTHING_BIN, MEMORY_BIN].includes(d.cmdline[1]);

export function serverConfig(name) {
  if (name === 'everything') return { command: process.execPath, args: [EVERYTHING_BIN, 'stdio', marker] };
  if (name === 'memory') {
    return {
      command: process.execPath,
      args: [MEMORY_BIN, marker],
      env: { MEMORY_FILE_PATH: tempPath('memory.jsonl') },
    };
  }
  throw new Error(`bench: no server config ${name}`);
}

/** A cheap tool call on each server, checked (an error result never counts as a fast call). */
export const CALLS = {
  everything: { name: 'echo', arguments: { message: 'bench' }, expect: 'Echo: bench' },
  memory: { name: 'search_nodes', arguments: { query: 'bench' }, expect: null },
};

export async function callOnce(client, server = 'everything') {
  const { name, arguments: args, expect } = CALLS[server];
  const result = await client.callTool({ name, arguments: args });
  if (result.isError || (expect !== null && result.content?.[0]?.text !== expect)) {
    throw new Error(`bench: ${server} ${name} answered ${JSON.stringify(result).slice(0, 300)}`);
  }
}

const clientInfo = { name: 'spawnguard-bench', version: '0.0.0' };

/** Last lines of a stream, for error messages. */
function ring(stream, lines = 20) {
  const kept = [];
  stream?.setEncoding?.('utf8');
  stream?.on('data', (d) => {
    kept.push(...String(d).split('\n').filter(Boolean));
    if (kept.length > lines) kept.splice(0, kept.length - lines);
  });
  return () => kept.join('\n');
}

/** An SDK client over stdio to a process it spawns (`command`, `args`); the process is owned. */
export async function stdioClient({ command, args, env }) {
  const transport = new StdioClientTransport({
    command,
    args,
    env: { ...process.env, ...env },
    stderr: 'pipe',
  });
  const stderr = ring(transport.stderr);
  const client = new Client(clientInfo);
  let record = null;
  const started = transport.start.bind(transport);
  transport.start = async () => {
    await started();
    record = own(transport.pid);
  };
  try {
    await client.connect(transport);
  } catch (error) {
    throw new Error(`bench: ${command} ${args.join(' ')} did not initialize: ${error.message}\n${stderr()}`);
  }
  return {
    client,
    pid: transport.pid,
    async close() {
      await Promise.race([client.close().catch(() => {}), new Promise((r) => setTimeout(r, 500))]);
      if (record) await stopOwned(record.pid, { graceMs: 1000 });
    },
  };
}

/** A direct stdio connection to a fresh server process (what an editor does). */
export const directClient = (server = 'everything') => stdioClient(serverConfig(server));

/** An SDK client over Streamable HTTP. */
export async function httpClient(url) {
  const client = new Client(clientInfo);
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return {
    client,
    async close() {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

/** An SDK client connected in memory to `host` (an McpHost in this process). */
export async function inMemoryClient(host, server = 'everything') {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  host.connect(server, serverSide);
  const client = new Client(clientInfo);
  await client.connect(clientSide);
  return { client, close: () => client.close().catch(() => {}) };
}

/** Starts bench/fixtures/<script> (owned), resolves when it printed `{"port":N}`. */
export async function startFixture(script, args = []) {
  const child = spawn(process.execPath, [join(here, '..', 'fixtures', script), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  own(child);
  const stderr = ring(child.stderr);
  const port = await new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout.on('data', (d) => {
      buffer += d;
      const i = buffer.indexOf('\n');
      if (i >= 0) resolve(JSON.parse(buffer.slice(0, i)).port);
    });
    child.once('exit', (code) => reject(new Error(`bench: ${script} exited (${code})\n${stderr()}`)));
  });
  return { child, port, stderr, stop: () => stopOwned(child.pid, { graceMs: 2000 }) };
}

/**
 * The HTTP floor: a stand-in with the client's `callTool` shape that POSTs a JSON-RPC body with
 * `fetch` (what the SDK's Streamable HTTP client uses) to fixtures/json-echo-server.mjs and parses
 * the JSON answer: no MCP, no SDK, no session, no SSE.
 */
export function fetchFloorClient(url) {
  let id = 0;
  return {
    async callTool({ name, arguments: args }) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name, arguments: args } }),
      });
      return (await res.json()).result;
    },
  };
}

/** The same POST as `fetchFloorClient`, with node:http's `request` and a keep-alive agent. */
export function httpRequestFloorClient(url) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let id = 0;
  return {
    callTool: ({ name, arguments: args }) =>
      new Promise((resolve, reject) => {
        const body = JSON.stringify({
          jsonrpc: '2.0',
          id: ++id,
          method: 'tools/call',
          params: { name, arguments: args },
        });
        const req = request(
          url,
          {
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d) => {
              text += d;
            });
            res.on('end', () => resolve(JSON.parse(text).result));
          },
        );
        req.on('error', reject);
        req.end(body);
      }),
    close: () => agent.destroy(),
  };
}

async function waitFor(what, check, timeoutMs, stderr) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`bench: ${what} not ready after ${timeoutMs} ms\n${stderr?.() ?? ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts a peer process that serves Streamable HTTP on 127.0.0.1 and resolves with
 * `{ pid, url(server), backends(), rssKb(), stop() }`. Kinds:
 * - `host`: bench/fixtures/mcp-host-server.mjs (our @spawnguard/mcp-host), every named server;
 * - `supergateway`: supergateway 4 `--stdio <cmd> --outputTransport streamableHttp --stateful`,
 *   one gateway per server (it wraps one command), `--logLevel none` (its default `info` logs
 *   every message);
 * - `mcp-proxy`: mcp-proxy 6.2 `--server stream --host 127.0.0.1 -- <cmd>`, one per server (stateful
 *   sessions, its default; one backend shared by every session).
 * The two npm peers run with fixtures/loopback-listen.cjs preloaded (binds 127.0.0.1 whatever they
 * ask for, reports the port), started with `--port 0`.
 */
export async function startPeer(kind, names = ['everything']) {
  if (kind === 'host') {
    const config = Object.fromEntries(names.map((n) => [n, serverConfig(n)]));
    const { child, port, stderr } = await startFixture('mcp-host-server.mjs', [
      tempPath('host-state'),
      JSON.stringify(config),
    ]);
    return peerHandle([{ child, port, path: (n) => `/mcp/${n}`, names }], stderr);
  }
  const gateways = [];
  for (const name of names) {
    const cfg = serverConfig(name);
    const listenFile = tempPath(`${kind}-${name}-listen.json`);
    const env = { ...process.env, ...cfg.env, BENCH_LISTEN_FILE: listenFile };
    const preload = ['-r', join(here, '..', 'fixtures', 'loopback-listen.cjs')];
    let args;
    if (kind === 'supergateway') {
      const cmd = [cfg.command, ...cfg.args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
      args = [
        ...preload,
        binOf('supergateway'),
        '--stdio',
        cmd,
        '--outputTransport',
        'streamableHttp',
        '--stateful',
        '--port',
        '0',
        '--logLevel',
        'none',
      ];
    } else if (kind === 'mcp-proxy') {
      args = [
        ...preload,
        binOf('mcp-proxy'),
        '--server',
        'stream',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--gracefulShutdownTimeout',
        '1000',
        '--',
        cfg.command,
        ...cfg.args,
      ];
    } else throw new Error(`bench: unknown peer ${kind}`);
    // stdin stays open: supergateway exits when it closes, so a dead bench process takes it along.
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'ignore', 'pipe'], env });
    own(child);
    const stderr = ring(child.stderr);
    let exited = null;
    child.once('exit', (code, signal) => {
      exited = `${kind} exited (${code ?? signal})`;
    });
    const port = await waitFor(
      `${kind} for ${name}`,
      () => {
        if (exited) throw new Error(`bench: ${exited}\n${stderr()}`);
        try {
          return JSON.parse(readFileSync(listenFile, 'utf8')).port;
        } catch {
          return null;
        }
      },
      60_000,
      stderr,
    );
    gateways.push({ child, port, path: () => '/mcp', names: [name] });
  }
  return peerHandle(gateways, () => '');
}

function peerHandle(procs, stderr) {
  const byName = new Map(procs.flatMap((p) => p.names.map((n) => [n, p])));
  const tree = () => procs.flatMap((p) => [p.child.pid, ...descendants(p.child.pid).map((d) => d.pid)]);
  return {
    pids: procs.map((p) => p.child.pid),
    url(name = 'everything') {
      const p = byName.get(name);
      return `http://127.0.0.1:${p.port}${p.path(name)}`;
    },
    /** Backend server processes under the peer. */
    backends: () => procs.flatMap((p) => descendants(p.child.pid).filter(isBackend)),
    /** Every process in the peer's trees (the peer processes themselves included). */
    processCount: () => tree().length,
    treePids: tree,
    /** Summed RSS (KiB) of the peer processes and all their descendants. */
    rssKb: () => tree().reduce((sum, pid) => sum + rssKb(pid), 0),
    stderr,
    async stop() {
      snapshotOwned();
      await Promise.all(procs.map((p) => stopOwned(p.child.pid, { graceMs: 5000 })));
    },
  };
}

/** Percentile of sorted samples (same rule as lib/child.mjs). */
export function at(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Every client calls in a loop, all at once: `warmup` calls each first (not timed), then up to
 * `calls` each, stopping early when `capMs` has passed. Returns latency stats (ms) and calls/s.
 */
export async function callLoop(clients, { calls, warmup, capMs }, serverPids = () => []) {
  await Promise.all(
    clients.map(async (c) => {
      for (let i = 0; i < warmup; i++) await callOnce(c);
    }),
  );
  const samples = [];
  // CPU used per call by this process (the clients) and by the server side (peer + backends):
  // unlike wall time, barely changed by a loaded machine, and it bounds throughput on 2 cores.
  const pids = serverPids();
  const cpu0 = { client: process.cpuUsage(), server: cpuMs(pids) };
  const t0 = performance.now();
  const deadline = t0 + capMs;
  await Promise.all(
    clients.map(async (c) => {
      for (let i = 0; i < calls && performance.now() < deadline; i++) {
        const t = performance.now();
        await callOnce(c);
        samples.push(performance.now() - t);
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const clientCpu = process.cpuUsage(cpu0.client);
  const clientCpuMs = (clientCpu.user + clientCpu.system) / 1000;
  const serverCpuMs = cpuMs(pids) - cpu0.server;
  samples.sort((a, b) => a - b);
  return {
    unit: 'ms',
    n: samples.length,
    p50: at(samples, 0.5),
    p99: at(samples, 0.99),
    min: samples[0],
    max: samples.at(-1),
    callsPerSec: (samples.length / wallMs) * 1000,
    clientCpuUsPerCall: (clientCpuMs * 1000) / samples.length,
    serverCpuUsPerCall: (serverCpuMs * 1000) / samples.length,
  };
}

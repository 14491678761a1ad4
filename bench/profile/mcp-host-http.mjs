#!/usr/bin/env node
// Where a tool call's time goes through our host over Streamable HTTP (not a suite: `node
// bench/profile/mcp-host-http.mjs [calls]`). One SDK client calls server-everything's `echo` in a
// loop through three servers, one at a time, each in its own process, profiled (node:inspector,
// fixtures/profiling.mjs) during the timed calls only:
//   host     bench/fixtures/mcp-host-server.mjs (@spawnguard/mcp-host + its backend);
//   sdk-sse  fixtures/sdk-echo-server.mjs: the SDK's McpServer answering `echo` itself behind the
//            same StreamableHTTPServerTransport (default SSE responses): no host, no backend;
//   sdk-json the same with `enableJsonResponse: true`;
//   floor    fixtures/json-echo-server.mjs: node:http answering a fixed JSON-RPC result to a bare
//            `fetch` POST (no MCP, no SDK on either side);
//   floor-http the same POST with node:http's `request` (keep-alive agent) instead of fetch.
// The client process is profiled the same way. Each kind runs in its own client process, the kinds
// interleaved over 2 rounds (BENCH_REPEATS). Prints, for the last round, per process, CPU per call
// split by package / node internals and the top functions by self time, then every round's p50,
// calls/s and CPU per call (from /proc). Profiles stay in a temp folder whose path is printed.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  callOnce,
  EVERYTHING_BIN,
  fetchFloorClient,
  httpClient,
  httpRequestFloorClient,
  serverConfig,
} from '../lib/mcp.mjs';
import { cpuMs, descendants, own, stopOwned } from '../lib/proc.mjs';

// undici's fetch leaves one abort listener per request on the transport's signal until GC and
// warns (to stderr, itself a cost) past 1500: stay under that per client.
const CALLS = Number(process.argv[2] ?? 1200);
const WARMUP = 200;
const here = import.meta.dirname;
// The parent makes the folder; each per-kind child writes its profiles into it.
const out = process.env.BENCH_PROFILE_DIR ?? mkdtempSync(join(tmpdir(), 'spawnguard-bench-profile-'));
process.env.BENCH_PROFILE_DIR = out;

function category(url, functionName) {
  if (!url) return functionName.startsWith('(') ? functionName : '(native: builtins, JSON, regexp)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.includes('/packages/mcp-host/')) return '@spawnguard/mcp-host';
  if (url.includes('/bench/')) return 'bench code';
  if (url.startsWith('node:')) {
    const parts = url.slice(5).split('/');
    return `node:${parts[0] === 'internal' ? `internal/${parts[1]?.replace(/\.js$/, '')}` : parts[0]}`;
  }
  return url;
}

/** Self time per category and per function, from a .cpuprofile, in ms. */
function summarize(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  // timeDeltas[i] is the time before samples[i]; attribute it to that sample's node.
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const cats = new Map();
  const fns = new Map();
  let busy = 0;
  for (const [id, ms] of self) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    if (functionName === '(idle)') continue;
    busy += ms;
    const cat = category(url, functionName);
    cats.set(cat, (cats.get(cat) ?? 0) + ms);
    const key = `${functionName || '(anonymous)'} ${cat}${url ? `:${lineNumber + 1}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + ms);
  }
  const top = (m, n) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
  return { busy, cats: top(cats, 12), fns: top(fns, 15) };
}

function print(title, summary, calls) {
  const us = (ms) => `${((ms * 1000) / calls).toFixed(0).padStart(5)} µs`;
  console.log(`\n### ${title}: ${us(summary.busy)} of CPU per call (profile, idle excluded)`);
  for (const [cat, ms] of summary.cats) console.log(`  ${us(ms)}  ${cat}`);
  console.log('  top functions (self time):');
  for (const [fn, ms] of summary.fns) console.log(`  ${us(ms)}  ${fn}`);
}

async function startServer(kind) {
  const script =
    kind === 'host'
      ? [
          join(here, '..', 'fixtures', 'mcp-host-server.mjs'),
          join(out, 'host-state'),
          JSON.stringify({ everything: serverConfig('everything') }),
        ]
      : kind.startsWith('floor')
        ? [join(here, '..', 'fixtures', 'json-echo-server.mjs')]
        : [join(here, '..', 'fixtures', 'sdk-echo-server.mjs'), kind === 'sdk-json' ? 'json' : 'sse'];
  const child = spawn(process.execPath, script, { stdio: ['pipe', 'pipe', 'inherit'] });
  own(child);
  const lines = [];
  const waiters = [];
  let buffer = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buffer += d;
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      lines.push(buffer.slice(0, i));
      buffer = buffer.slice(i + 1);
      waiters.shift()?.();
    }
  });
  const nextLine = async () => {
    while (lines.length === 0) await new Promise((r) => waiters.push(r));
    return lines.shift();
  };
  const port = JSON.parse(await nextLine()).port;
  const command = async (text) => {
    child.stdin.write(`${text}\n`);
    return nextLine();
  };
  const path = kind === 'host' ? '/mcp/everything' : '/mcp';
  if (kind.startsWith('floor')) {
    // json-echo-server takes no commands: its process is measured from /proc only.
    return { child, command: async () => 'skipped', url: `http://127.0.0.1:${port}/` };
  }
  return { child, command, url: `http://127.0.0.1:${port}${path}` };
}

const KINDS = ['host', 'sdk-sse', 'sdk-json', 'floor', 'floor-http'];
const [flag, only] = process.argv.slice(3);

if (flag === '--kind') {
  // One server kind, in this process only (one library per process, as in the suites).
  console.log(`ROW ${JSON.stringify(await profileOne(only))}`);
  process.exit(0);
}

// Every kind in its own client process, interleaved over ROUNDS rounds (noise shows as spread).
const ROUNDS = Number(process.env.BENCH_REPEATS ?? 2);
const rows = [];
for (let round = 0; round < ROUNDS; round++) {
  for (const kind of KINDS) {
    const child = spawn(process.execPath, [import.meta.filename, String(CALLS), '--kind', kind], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    child.stdout.on('data', (d) => {
      text += d;
    });
    const code = await new Promise((r) => child.once('close', r));
    if (code !== 0) throw new Error(`profile of ${kind} exited ${code}`);
    const row = JSON.parse(text.slice(text.lastIndexOf('ROW ') + 4));
    rows.push({ round: round + 1, ...row });
    if (round === ROUNDS - 1) process.stdout.write(text.slice(0, text.lastIndexOf('ROW ')));
  }
}

console.log(`\n${CALLS} calls each after ${WARMUP} warm-up calls, 1 client; CPU from /proc (10 ms ticks)`);
console.log('| server | round | p50 | calls/s | client CPU/call | server process CPU/call | backend CPU/call |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows.sort((a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind) || a.round - b.round)) {
  console.log(
    `| ${r.kind} | ${r.round} | ${r.p50.toFixed(2)} ms | ${r.callsPerSec.toFixed(0)} | ${r.clientUs} µs | ${r.serverUs} µs | ${r.kind === 'host' ? `${r.backendUs} µs` : '-'} |`,
  );
}
console.log(`profiles of the last round: ${out}`);

async function profileOne(kind) {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  const server = await startServer(kind);
  const floors = { floor: fetchFloorClient, 'floor-http': httpRequestFloorClient };
  let client;
  let close;
  if (floors[kind]) {
    client = floors[kind](server.url);
    close = async () => client.close?.();
  } else {
    ({ client, close } = await httpClient(server.url));
  }
  for (let i = 0; i < WARMUP; i++) await callOnce(client);
  const backendPids = descendants(server.child.pid)
    .filter((d) => d.cmdline[1] === EVERYTHING_BIN)
    .map((d) => d.pid);
  const cpu0 = { client: process.cpuUsage(), server: cpuMs([server.child.pid]), backend: cpuMs(backendPids) };
  await server.command('start');
  await session.post('Profiler.start');
  const samples = [];
  const t0 = performance.now();
  for (let i = 0; i < CALLS; i++) {
    const t = performance.now();
    await callOnce(client);
    samples.push(performance.now() - t);
  }
  const wall = performance.now() - t0;
  const { profile } = await session.post('Profiler.stop');
  const serverProfile = join(out, `server-${kind}.cpuprofile`);
  await server.command(`stop ${serverProfile}`);
  const clientCpu = process.cpuUsage(cpu0.client);
  const serverCpu = cpuMs([server.child.pid]) - cpu0.server;
  const backendCpu = cpuMs(backendPids) - cpu0.backend;
  writeFileSync(join(out, `client-${kind}.cpuprofile`), JSON.stringify(profile));
  await close();
  await stopOwned(server.child.pid, { graceMs: 5000 });
  samples.sort((a, b) => a - b);
  print(`${kind}: client process`, summarize(profile), CALLS);
  if (!floors[kind]) {
    print(`${kind}: server process`, summarize(JSON.parse(readFileSync(serverProfile, 'utf8'))), CALLS);
  }
  return {
    kind,
    p50: samples[Math.floor(samples.length / 2)],
    callsPerSec: (CALLS / wall) * 1000,
    clientUs: ((clientCpu.user + clientCpu.system) / CALLS).toFixed(0),
    serverUs: ((serverCpu * 1000) / CALLS).toFixed(0),
    backendUs: ((backendCpu * 1000) / CALLS).toFixed(0),
  };
}

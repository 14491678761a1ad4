// The MCP side of the demo: N editor sessions at once, each with the same 2 MCP servers in its
// config, each connecting and calling one tool on each server; then every session is SIGKILLed the
// way a crashed editor dies. Naive: each session starts its own copies of the servers (stdio
// children). Guarded: each session starts `spawnguard-worker mcp <name>` bridges instead, and the
// worker hosts one backend per server for all of them; then `spawnguard-worker stop`.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isSameProcess, listProcesses } from '@spawnguard/process-table';
import { percentile, runStorm } from '@spawnguard/storm';
import { escapeRegExp, freePort, killEverythingUnder, quote, workerCli } from './scenario.mjs';

const require = createRequire(import.meta.url);
const session = join(import.meta.dirname, 'session.mjs');

function binOf(pkg) {
  const manifest = require.resolve(`${pkg}/package.json`);
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8'));
  return join(dirname(manifest), typeof bin === 'string' ? bin : Object.values(bin)[0]);
}
/** @modelcontextprotocol/server-memory: a real server from npm; exits by itself when its stdin closes. */
export const memoryBin = binOf('@modelcontextprotocol/server-memory');
/** apps/worker's built-in demo server; with --linger it keeps running after its stdin closes (wedged). */
export const helperBin = join(dirname(workerCli), 'helper-server.js');

/** The 2 servers every session has in its config: what an editor's own mcpServers would say. */
export function demoServers(home) {
  return {
    memory: {
      command: process.execPath,
      // The trailing home is ignored by the server: it marks this run's processes in the process table.
      args: [memoryBin, home],
      env: { MEMORY_FILE_PATH: join(home, 'memory.jsonl') },
    },
    notes: {
      command: process.execPath,
      args: [helperBin, '--spawnguard-helper', '--home', home, '--linger'],
      env: {},
    },
  };
}

const CALLS = {
  memory: { name: 'read_graph', arguments: {} },
  notes: { name: 'search', arguments: { query: 'orphaned helper processes' } },
};

/** The watched series (argv patterns); every one names this run's home, its unique marker. */
function watches(home) {
  const h = escapeRegExp(home);
  const cli = escapeRegExp(workerCli);
  const end = '(?=\\s|$)';
  return {
    sessions: new RegExp(`${escapeRegExp(session)} --home ${h}${end}`),
    servers: new RegExp(`(${escapeRegExp(memoryBin)} ${h}|--spawnguard-helper --home ${h})${end}`),
    bridges: new RegExp(`${cli} mcp \\S+ --home ${h}${end}`),
    daemon: new RegExp(`${cli} daemon --home ${h}${end}`),
  };
}

/**
 * Memory of one process from /proc (Linux), bytes: RSS (resident pages, shared ones such as the node
 * binary counted in full in every process) and PSS (shared pages split among the processes sharing
 * them). null where it cannot be read.
 */
function memoryOf(pid) {
  if (process.platform !== 'linux') return null;
  try {
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    let pss = null;
    try {
      pss = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    } catch {
      // smaps_rollup needs Linux 4.14+
    }
    return rss ? { rss: Number(rss[1]) * 1024, pss: pss ? Number(pss[1]) * 1024 : null } : null;
  } catch {
    return null;
  }
}

const sum = (values) =>
  values.length > 0 && values.every((v) => v !== null) ? values.reduce((a, b) => a + b, 0) : null;

/** Processes per watch right now, with the sums of their RSS and PSS (null when not readable). */
async function measure(patterns) {
  const all = await listProcesses();
  const out = {};
  for (const [name, re] of Object.entries(patterns)) {
    const list = all.filter((p) => p.pid !== process.pid && re.test(p.cmdline.join(' ')));
    const sizes = list.map((p) => memoryOf(p.pid));
    out[name] = {
      count: list.length,
      rssBytes: list.length === 0 ? 0 : sum(sizes.map((m) => m?.rss ?? null)),
      pssBytes: list.length === 0 ? 0 : sum(sizes.map((m) => m?.pss ?? null)),
    };
  }
  return out;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function readSessions(out) {
  const records = [];
  for (const f of readdirSync(out)) {
    if (!f.endsWith('.json')) continue;
    try {
      records.push(JSON.parse(readFileSync(join(out, f), 'utf8')));
    } catch {
      // written atomically; a vanished file is simply not counted
    }
  }
  return records;
}

/**
 * Runs one side (naive or guarded) and returns the numbers for the table plus the raw storm result
 * (for the HTML timeline). Everything it started is gone when it resolves.
 * @param {{ guarded: boolean, sessions?: number, signal?: AbortSignal, onProgress?: (p: unknown) => void,
 *   connectTimeoutMs?: number }} options
 */
export async function runMcpScenario({ guarded, sessions = 10, signal, onProgress, connectTimeoutMs = 120_000 } = {}) {
  const mode = guarded ? 'guarded' : 'naive';
  const home = mkdtempSync(join(tmpdir(), `spawnguard-demo-mcp-${mode}-`));
  const out = join(home, 'sessions');
  mkdirSync(out);
  const port = String(await freePort());
  const common = ['--home', home, '--port', port];
  const servers = demoServers(home);
  // The editor's config. Naive: the servers themselves. Guarded: the same names, each launching the
  // bridge (what `spawnguard-worker import` writes), and the servers move into the worker's servers.json.
  const editorServers = guarded
    ? Object.fromEntries(
        Object.keys(servers).map((name) => [
          name,
          { command: process.execPath, args: [workerCli, 'mcp', name, ...common] },
        ]),
      )
    : servers;
  if (guarded) writeFileSync(join(home, 'servers.json'), JSON.stringify({ mcpServers: servers }), { mode: 0o600 });
  const configFile = join(home, 'editor.json');
  writeFileSync(configFile, JSON.stringify({ mcpServers: editorServers, calls: CALLS }));
  const patterns = watches(home);
  /** @type {{ rss: Record<string, { count: number, rssBytes: number | null, pssBytes: number | null }> | null, killed: number, timedOut: boolean }} */
  const crash = { rss: null, killed: 0, timedOut: false };
  let stormSettled = false;

  // Wait until every session has its answers (or the bound ran out), then SIGKILL them all at once,
  // each by pid and start token: only the session process itself dies, as when an editor crashes.
  async function crashWhenConnected() {
    const deadline = Date.now() + connectTimeoutMs;
    while (!stormSettled && !signal?.aborted) {
      if (readSessions(out).filter((r) => r.calls).length >= sessions || Date.now() > deadline) break;
      await sleep(100);
    }
    if (stormSettled || signal?.aborted) return;
    crash.timedOut = readSessions(out).filter((r) => r.calls).length < sessions;
    crash.rss = await measure(patterns);
    const alive = (await listProcesses()).filter((p) => patterns.sessions.test(p.cmdline.join(' ')));
    for (const p of alive) {
      if (!(await isSameProcess({ pid: p.pid, startToken: p.startToken }))) continue;
      try {
        process.kill(p.pid, 'SIGKILL');
        crash.killed++;
      } catch {
        // already gone
      }
    }
  }

  try {
    const storm = runStorm({
      command: process.execPath,
      args: [session, '--home', home, '--config', configFile, '--out', out],
      concurrency: sessions,
      watch: patterns,
      // Guarded: the worker keeps the backends for other sessions until stop (or idleMs); stop is the cleanup.
      // Naive: there is nothing to stop; what the crashed sessions left behind stays.
      ...(guarded ? { cleanup: [process.execPath, workerCli, 'stop', ...common].map(quote).join(' ') } : {}),
      settleMs: 1500,
      // After the crash: bridges notice their closed stdin and exit; naive orphans stay.
      observeMs: 3000,
      // A backstop only: the sessions are killed by crashWhenConnected within connectTimeoutMs.
      timeoutMs: connectTimeoutMs + 60_000,
      signal,
      onProgress,
    }).finally(() => {
      stormSettled = true;
    });
    const [settled] = await Promise.allSettled([storm, crashWhenConnected()]);
    if (settled.status === 'rejected') throw settled.reason;
    const result = settled.value;

    const records = readSessions(out);
    const calls = records.flatMap((r) => r.calls ?? []);
    const firstMs = records.map((r) => r.firstResultMs).filter((v) => typeof v === 'number');
    // The sample taken after the crashed sessions' round ended (and observeMs): before any stop.
    const afterCrash = result.timeline.filter((s) => s.round === 1).at(-1)?.counts ?? {};
    return {
      mode,
      scenario: 'mcp',
      home,
      sessions,
      serverNames: Object.keys(servers),
      serversPeak: result.overall.peak.servers,
      serversStarted: result.overall.distinct.servers,
      bridgesPeak: result.overall.peak.bridges,
      daemonsStarted: result.overall.distinct.daemon,
      serversAfterCrash: afterCrash.servers ?? 0,
      bridgesAfterCrash: afterCrash.bridges ?? 0,
      daemonAfterCrash: afterCrash.daemon ?? 0,
      serversAtEnd: result.leftovers.counts.servers,
      leftAtEnd: result.leftovers.processes.length,
      rss: crash.rss,
      sessionsKilled: crash.killed,
      sessionsLaunched: result.overall.launchers.launched,
      sessionExits: result.overall.launchers.exitCodes,
      sessionsConnected: records.filter((r) => r.calls?.every((c) => c.ok)).length,
      callsOk: calls.filter((c) => c.ok).length,
      callsExpected: sessions * Object.keys(servers).length,
      callErrors: [...new Set(calls.filter((c) => !c.ok).map((c) => c.error))].slice(0, 3),
      firstCallP50Ms: percentile(firstMs, 50),
      firstCallP95Ms: percentile(firstMs, 95),
      waitTimedOut: crash.timedOut,
      cleanup: result.cleanup,
      storm: result,
    };
  } finally {
    // The storm has killed its sessions' process groups (naive orphans included); this catches
    // anything else that names the home (the daemon, its backends), by pid and start token.
    await killEverythingUnder(home);
    rmSync(home, { recursive: true, force: true });
  }
}

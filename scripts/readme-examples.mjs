// How the release rehearsal runs each package's README example, installed by name from the registry.
//
// The example is the first ```js / ```ts block under the README's "## Example" heading that imports the
// package; it runs VERBATIM, once as ESM (.mjs) and once as CJS (.cjs: its imports become require() and
// the code runs in an async function). README examples leave their surroundings to the reader (`app`,
// `stateDir`, `startDaemon` ...): `context` defines each such name as real code (real servers, real
// child processes, real files in a temp folder), but only when the block does not declare it itself.
// `replace` lists the few literal edits a shared machine needs (a fixed port becomes a free one, a
// pattern that would match other people's processes gets a unique marker); an edit whose text is no
// longer in the block fails the rehearsal, so a changed README is noticed here. `after` runs in the
// example's own scope once it finished, proves what the README promises, and calls `$r.done(summary)`;
// an example that exits without reaching it has failed. `$r` is the runtime below (port, dir, marker).
//
// A new public package needs an entry here: the rehearsal fails for a package it cannot run.

/** Written into the consumer project as rehearsal-runtime.cjs. */
export const RUNTIME = `'use strict';
// Runtime of the release rehearsal's README examples (scripts/readme-examples.mjs).
const port = Number(process.env.REHEARSAL_PORT);
const dir = process.env.REHEARSAL_DIR;
const marker = process.env.SPAWNGUARD_REHEARSAL;
const file = process.env.REHEARSAL_FILE;
function assert(ok, message) {
  if (!ok) throw new Error('README example did not keep its promise: ' + message);
}
async function waitFor(fn, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out after ' + timeoutMs + ' ms waiting for ' + what);
    await new Promise((r) => setTimeout(r, 25));
  }
}
function alive(pid) {
  try {
    process.kill(pid, 0);
    const stat = require('node:fs').readFileSync('/proc/' + pid + '/stat', 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
function done(summary, extra = {}) {
  console.log('REHEARSAL-DONE ' + JSON.stringify({ summary, ...extra }));
}
module.exports = { port, dir, marker, file, assert, waitFor, alive, done };
`;

export const EXAMPLES = {
  '@spawnguard/bind-or-die': {
    replace: [['7777', ({ port }) => String(port)]],
    context: {
      app: `const app = (req, res) => {
  if (req.url.startsWith('/health')) {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ name: 'my-worker', pid: process.pid }));
  } else res.writeHead(404).end();
};`,
      startWatchers: `const startWatchers = () => {
  $r.started = true;
  console.log('startWatchers(): pid ' + process.pid + ' won the port');
};`,
    },
    after: `
if (process.env.REHEARSAL_SECOND) {
  console.error('the second copy got past bindOrDie although the port was taken');
  process.exit(3);
}
$r.assert($r.started, 'startWatchers() did not run in the winner');
// A second copy of this very example loses the port to us: it must exit 0, quietly, before startWatchers().
const second = await new Promise((resolve) => {
  const c = require('node:child_process').spawn(process.execPath, [$r.file], {
    env: { ...process.env, REHEARSAL_SECOND: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  c.stdout.on('data', (d) => (out += d));
  c.stderr.on('data', (d) => (out += d));
  c.on('exit', (code) => resolve({ code, out }));
});
$r.assert(second.code === 0, 'the losing copy exited ' + second.code + ': ' + second.out);
$r.assert(!second.out.includes('startWatchers'), 'the losing copy ran startWatchers(): ' + second.out);
server.close();
$r.done('bound ' + $r.port + ' and ran startWatchers(); a second copy lost the port and exited 0 before it');`,
  },

  '@spawnguard/circuit-breaker': {
    context: {
      join: `const { join } = require('node:path');`,
      stateDir: `const stateDir = $r.dir;`,
      startDaemon: `const startDaemon = async ({ signal }) => {
  $r.assert(signal instanceof AbortSignal, 'execute() passed no signal to fn');
  $r.calls = ($r.calls ?? 0) + 1;
  return 'started';
};`,
    },
    after: `
$r.assert($r.calls === 1, 'startDaemon ran ' + $r.calls + ' times');
$r.assert(breaker.state === 'closed', 'breaker is ' + breaker.state + ' after a success');
$r.done('startDaemon() ran once through the breaker; state ' + breaker.state);`,
  },

  '@spawnguard/connection-memo': {
    install: ['@spawnguard/circuit-breaker'],
    context: {
      startMcpClient: `const startMcpClient = async ({ signal }) => {
  $r.connects = ($r.connects ?? 0) + 1;
  const conn = { id: $r.connects, closed: false, onclose: null, close: async () => { conn.closed = true; } };
  $r.clients = [...($r.clients ?? []), conn];
  return conn;
};`,
      request: `const request = { signal: AbortSignal.timeout(10_000) };`,
    },
    after: `
$r.assert($r.connects === 1, 'connect ran ' + $r.connects + ' times for one get()');
$r.assert(client === $r.clients[0] && client.closed, 'reset() did not close the connection it dropped');
const again = await helper.get();
$r.assert(again !== client && $r.connects === 2 && !again.closed, 'get() after reset() did not connect anew');
await helper.close();
$r.assert(again.closed, 'close() did not close the live connection');
$r.done('one connect for get(); reset() closed it; the next get() connected anew; close() closed that one');`,
  },

  '@spawnguard/mcp-host': {
    replace: [
      ["'/run/user/1000/my-daemon'", ({ dir }) => JSON.stringify(`${dir}/my-daemon`)],
      ['8765', ({ port }) => String(port)],
    ],
    context: {
      __stateDir: `require('node:fs').mkdirSync($r.dir + '/my-daemon', { recursive: true, mode: 0o700 });`,
    },
    // Two MCP clients (the SDK's Streamable HTTP client) share one server-memory process; close() ends it.
    after: `
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
const url = new URL('http://127.0.0.1:' + $r.port + '/mcp/memory');
const clients = [];
for (const name of ['editor-1', 'editor-2']) {
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(url));
  clients.push(client);
}
const tools = (await clients[1].listTools()).tools.map((t) => t.name);
$r.assert(tools.includes('create_entities'), 'server-memory listed ' + JSON.stringify(tools));
await clients[0].callTool({ name: 'create_entities', arguments: { entities: [{ name: 'rehearsal', entityType: 'test', observations: ['shared'] }] } });
const graph = await clients[1].callTool({ name: 'read_graph', arguments: {} });
$r.assert(JSON.stringify(graph).includes('rehearsal'), 'the second session does not see what the first stored: ' + JSON.stringify(graph));
const [stats] = host.stats();
$r.assert(stats.sessions === 2 && stats.starts === 1 && stats.pid > 0, 'stats ' + JSON.stringify(stats));
for (const client of clients) await client.close();
await host.close();
$r.assert(!$r.alive(stats.pid), 'close() left the backend pid ' + stats.pid + ' running');
$r.done('two sessions shared one server-memory backend (pid ' + stats.pid + ', started once); close() ended it', { deadPids: [stats.pid] });
process.exit(0); // the README's HTTP server is not named, so it cannot be closed`,
  },

  '@spawnguard/orphan-reaper': {
    // Other people's helpers on this machine carry --spawnguard-helper too: never reap them.
    replace: [['/--spawnguard-helper/', ({ marker }) => `/--spawnguard-helper-${marker}/`]],
    context: {
      helper: `const helper = await (async () => {
  const { spawn } = require('node:child_process');
  const child = spawn(process.execPath, ['-e', "require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }); setInterval(() => {}, 1000)", '--', '--spawnguard-helper-' + $r.marker], { stdio: 'ignore' });
  $r.exited = new Promise((resolve) => child.on('exit', resolve));
  const table = require('@spawnguard/process-table');
  const tree = await $r.waitFor(async () => { const t = await table.treeOf(child.pid); return t.length >= 1 && t; }, 'the helper to start its own child');
  $r.grandchild = tree[0].pid;
  const me = await table.processIdentity(child.pid);
  return { pid: me.pid, startToken: me.startToken };
})();`,
    },
    after: `
$r.assert(killed.length === 0, 'reap() killed ' + killed.length + ' processes; the only match is younger than 60 s');
$r.assert(terminated.concat(forced).includes(helper.pid), 'killTree() did not end the helper: ' + JSON.stringify({ terminated, forced }));
await $r.exited;
await $r.waitFor(() => !$r.alive($r.grandchild), 'the helper\\'s own child to die');
const spared = skipped.find((s) => s.proc.pid === helper.pid);
$r.assert(spared, 'reap() did not see the helper, whose cmdline carries the pattern: ' + JSON.stringify(skipped));
$r.done('reap() matched the helper and spared it (' + spared.reason + '); killTree() ended it and its child');`,
  },

  '@spawnguard/process-registry': {
    replace: [
      ["'/run/user/1000/my-daemon/children.json'", ({ dir }) => JSON.stringify(`${dir}/my-daemon/children.json`)],
    ],
    context: {
      __files: `require('node:fs').mkdirSync($r.dir + '/my-daemon', { recursive: true, mode: 0o700 });
require('node:fs').writeFileSync('mcp-server.js', "console.log('mcp-server ' + process.pid + ' up'); setInterval(() => {}, 1000);");`,
    },
    after: `
await $r.waitFor(() => $r.alive(child.pid), 'the recorded child to run');
const file = require('node:fs').readFileSync($r.dir + '/my-daemon/children.json', 'utf8');
$r.assert(file.includes(String(child.pid)), 'the registry file does not record pid ' + child.pid + ': ' + file);
// The example's SIGTERM handler must shut the child down and exit 0; the rehearsal checks the pid is gone.
$r.done('recorded mcp-server.js (pid ' + child.pid + ') in the file; SIGTERM shuts it down', { deadPids: [child.pid] });
process.kill(process.pid, 'SIGTERM');
await new Promise(() => {});`,
  },

  '@spawnguard/process-table': {
    context: {
      saveSomewhere: `const saveSomewhere = async (rec) => require('node:fs').writeFileSync($r.dir + '/daemon.json', JSON.stringify(rec));`,
      loadFromSomewhere: `const loadFromSomewhere = async () => JSON.parse(require('node:fs').readFileSync($r.dir + '/daemon.json', 'utf8'));`,
    },
    after: `
$r.assert(me.pid === process.pid && me.startToken, 'processIdentity(process.pid) gave ' + JSON.stringify(me));
$r.assert(await isSameProcess(rec), 'the record of this very process is not the same process');
$r.assert(!(await isSameProcess({ pid: me.pid, startToken: me.startToken + 'x' })), 'a wrong start token matched');
$r.assert(Array.isArray(workers) && Array.isArray(tree), 'listProcesses()/treeOf() did not return arrays');
$r.done('identity of pid ' + me.pid + ' recorded and recognised; a wrong start token is not; ' + (await listProcesses()).length + ' processes listed');`,
  },

  '@spawnguard/spawn-mutex': {
    replace: [['7777', ({ port }) => String(port)]],
    context: {
      stateDir: `const stateDir = $r.dir;`,
      __daemon: `require('node:fs').writeFileSync('daemon.js', \`
const fs = require('node:fs');
fs.writeFileSync(process.env.REHEARSAL_DIR + '/daemon.pid', String(process.pid));
require('node:http').createServer((req, res) => res.end('ok')).listen(Number(process.env.REHEARSAL_PORT), '127.0.0.1');
setTimeout(() => process.exit(0), 120000); // never outlives a broken rehearsal by long
\`);`,
    },
    after: `
$r.assert(outcome === 'spawned', 'outcome ' + outcome + ', expected spawned (no daemon was running)');
const pid = Number(require('node:fs').readFileSync($r.dir + '/daemon.pid', 'utf8'));
process.kill(pid, 'SIGTERM');
await $r.waitFor(() => !$r.alive(pid), 'the daemon to stop');
$r.done('spawned daemon.js (pid ' + pid + ') under the lock and saw it healthy: outcome ' + outcome);`,
  },

  '@spawnguard/storm': {
    context: {
      __scripts: `require('node:fs').writeFileSync('hook.js', "setTimeout(() => {}, 100);");
require('node:fs').writeFileSync('worker.js', "process.exit(0);");`,
    },
    after: `
const { launched, exitCodes } = result.overall.launchers;
$r.assert(launched === 150 && exitCodes['0'] === 150, 'launchers: ' + JSON.stringify(result.overall.launchers));
$r.assert(result.overall.peak.workers === 0, 'no worker runs, yet the peak is ' + JSON.stringify(result.overall.peak));
$r.assert(!process.exitCode, 'the storm failed its own test');
$r.done(launched + ' launchers (50 x 3 rounds) exited 0; peak workers ' + result.overall.peak.workers);`,
  },
};

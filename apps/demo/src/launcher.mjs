// One storm launcher, as an editor or agent would behave: run the `hook` (a real process, timed),
// then, once a worker answers, ask it one search. Writes what happened to <out>/launcher-<pid>.json.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    cli: { type: 'string' },
    home: { type: 'string' },
    port: { type: 'string' },
    out: { type: 'string' },
    query: { type: 'string', default: 'process storm' },
    naive: { type: 'boolean', default: false },
  },
});
const { cli, home, port, out, query, naive } = values;

const hookStart = performance.now();
const hookArgs = [cli, 'hook', 'demo.event', '--home', home, '--port', port, ...(naive ? ['--naive'] : [])];
const hook = spawn(process.execPath, hookArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
let hookStderr = '';
hook.stderr.on('data', (d) => {
  hookStderr += d;
});
const hookCode = await new Promise((resolve) => hook.on('close', (code, signal) => resolve(code ?? signal)));
const hookMs = performance.now() - hookStart;

// An editor searches a little later, not necessarily right after the hook: give the worker up to
// 15 s to answer /health (the hook may have failed open while it booted), then search once.
const deadline = Date.now() + 15_000;
while (Date.now() < deadline) {
  const up = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) }).then(
    (r) => r.ok,
    () => false,
  );
  if (up) break;
  await new Promise((resolve) => setTimeout(resolve, 200));
}

let searchStatus = null;
let searchError = null;
try {
  // /search needs the home's token (the worker wrote it, 0600, before it answered /health).
  const token = readFileSync(join(home, 'token'), 'utf8').trim();
  const res = await fetch(`http://127.0.0.1:${port}/search?q=${encodeURIComponent(query)}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(15_000),
  });
  await res.arrayBuffer();
  searchStatus = res.status;
} catch (error) {
  searchStatus = String(error?.cause?.code ?? error?.code ?? error?.name ?? error);
  searchError = String(error?.message ?? error);
}

writeFileSync(
  join(out, `launcher-${process.pid}.json`),
  JSON.stringify({ hookMs, hookCode, hookStderr: hookStderr.trim(), searchStatus, searchError }),
);

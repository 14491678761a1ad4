// One storm launcher, as an editor or agent would behave: run the `hook` (a real process, timed),
// then ask the worker one search. Writes what happened to <out>/launcher-<pid>.json.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
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

let searchStatus = null;
try {
  const res = await fetch(`http://127.0.0.1:${port}/search?q=${encodeURIComponent(query)}`, {
    signal: AbortSignal.timeout(15_000),
  });
  await res.arrayBuffer();
  searchStatus = res.status;
} catch (error) {
  searchStatus = String(error?.cause?.code ?? error?.name ?? error);
}

writeFileSync(
  join(out, `launcher-${process.pid}.json`),
  JSON.stringify({ hookMs, hookCode, hookStderr: hookStderr.trim(), searchStatus }),
);

// Lists a fake /proc with the BUILT package (run `pnpm build` first), prints one JSON line with
// what listProcesses did and how long it took, then simply ends: the process must be able to exit
// on its own (nothing may stay blocked on a /proc read).
// argv: <marker> <procRoot> <timeoutMs>
import { createProcessTable } from '../../dist/index.js';

const [, , marker, procRoot, timeoutMs] = process.argv;
if (!marker?.startsWith('spawnguard-test-')) throw new Error('list-fake-proc.mjs: first argument must be the marker');
const table = createProcessTable({ platform: 'linux', procRoot });
const started = performance.now();
const result = await table.listProcesses({ timeoutMs: Number(timeoutMs) }).then(
  (list) => ({ ok: true, processes: list.map((p) => ({ pid: p.pid, cmdline: p.cmdline })) }),
  (error) => ({ ok: false, code: error.code, message: error.message }),
);
process.stdout.write(`${JSON.stringify({ ...result, elapsedMs: performance.now() - started })}\n`);

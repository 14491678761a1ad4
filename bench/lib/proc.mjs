// Linux /proc helpers for benchmarks: process trees, RSS, and kills by pid proven by start time.
// Every process a bench case starts is registered with `own()`; whatever is still alive when the
// case's process exits (normally, on an error, or on SIGTERM/SIGINT from run.mjs's timeout) is
// SIGKILLed by pid, together with the descendants it had at its last snapshot.
import { readdirSync, readFileSync } from 'node:fs';

/** `{ pid, ppid, startTicks, state }` of one process, or null when it is gone. */
export function stat(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm may hold spaces and parentheses: fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    pid,
    ppid: Number(fields[1]),
    state: fields[0],
    startTicks: fields[19],
    cpuTicks: Number(fields[11]) + Number(fields[12]), // utime + stime, in USER_HZ (100/s on Linux)
  };
}

export function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return [];
  }
}

/** Every live process as `{ pid, ppid, startTicks, state }`. */
export function listAll() {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(Number(name));
    if (s) out.push(s);
  }
  return out;
}

/** Descendants of `pid` (not `pid` itself), zombies left out, each with its argv. */
export function descendants(pid) {
  const byParent = new Map();
  for (const p of listAll()) {
    if (p.state === 'Z') continue;
    if (!byParent.has(p.ppid)) byParent.set(p.ppid, []);
    byParent.get(p.ppid).push(p);
  }
  const out = [];
  const queue = [pid];
  while (queue.length) {
    for (const child of byParent.get(queue.shift()) ?? []) {
      out.push({ ...child, cmdline: cmdline(child.pid) });
      queue.push(child.pid);
    }
  }
  return out;
}

/** CPU time (user + system) used so far by the live processes `pids`, in ms. */
export function cpuMs(pids) {
  let ticks = 0;
  for (const pid of pids) ticks += stat(pid)?.cpuTicks ?? 0;
  return ticks * 10;
}

/** VmRSS of one process in KiB (0 when it is gone or a zombie). */
export function rssKb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** True when `record` ({ pid, startTicks }) is still the same live process. */
export function alive(record) {
  const s = stat(record.pid);
  return s !== null && s.state !== 'Z' && s.startTicks === record.startTicks;
}

/** Sends `signal` to `record` only if it is still the process we recorded (never a reused pid). */
export function signalRecorded(record, signal) {
  if (!alive(record)) return false;
  try {
    process.kill(record.pid, signal);
    return true;
  } catch {
    return false;
  }
}

const owned = new Map(); // pid -> { record, tree: records of its descendants at the last snapshot }

/** Registers a started child process (a ChildProcess or a pid); returns its record. */
export function own(childOrPid) {
  const pid = typeof childOrPid === 'number' ? childOrPid : childOrPid.pid;
  const s = stat(pid);
  if (!s) return null;
  const record = { pid, startTicks: s.startTicks };
  hookExit();
  owned.set(pid, { record, tree: [] });
  return record;
}

/** Records the current descendants of every owned process (so they can be killed after it dies). */
export function snapshotOwned() {
  for (const entry of owned.values()) {
    if (!alive(entry.record)) continue;
    const seen = new Set(entry.tree.map((r) => `${r.pid}:${r.startTicks}`));
    for (const d of descendants(entry.record.pid)) {
      if (!seen.has(`${d.pid}:${d.startTicks}`)) entry.tree.push({ pid: d.pid, startTicks: d.startTicks });
    }
  }
}

/** SIGKILLs every owned process still alive and every descendant it had (by pid + start time). */
export function killOwned() {
  snapshotOwned();
  let killed = 0;
  for (const [pid, entry] of owned) {
    for (const r of [entry.record, ...entry.tree]) if (signalRecorded(r, 'SIGKILL')) killed++;
    owned.delete(pid);
  }
  return killed;
}

/**
 * Stops one owned process politely: snapshot its tree, `signal` (SIGTERM), wait up to `graceMs`
 * for it and its tree to go, then SIGKILL what is left of both. Resolves with the records killed.
 */
export async function stopOwned(pid, { signal = 'SIGTERM', graceMs = 3000 } = {}) {
  const entry = owned.get(pid);
  if (!entry) return 0;
  snapshotOwned();
  const all = [entry.record, ...entry.tree];
  signalRecorded(entry.record, signal);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && all.some(alive)) await new Promise((r) => setTimeout(r, 25));
  let killed = 0;
  for (const r of all) if (signalRecorded(r, 'SIGKILL')) killed++;
  owned.delete(pid);
  return killed;
}

let hooked = false;
function hookExit() {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => killOwned());
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => {
      killOwned();
      process.exit(128 + (sig === 'SIGTERM' ? 15 : 2));
    });
  }
}

// Starts `count` idle, marked `sleep` processes for a benchmark and kills exactly those, by pid.
import { spawn } from 'node:child_process';

export function startIdleProcesses(count, marker) {
  const children = [];
  for (let i = 0; i < count; i++) {
    // sleep ignores extra operands only as durations, so the marker travels in argv[0].
    const child = spawn('/bin/sleep', ['600'], { argv0: `sleep-${marker}`, stdio: 'ignore' });
    children.push(child);
  }
  return {
    pids: children.map((c) => c.pid),
    async stop() {
      for (const c of children) c.kill('SIGKILL');
      await Promise.all(
        children.map((c) => (c.exitCode !== null || c.signalCode ? null : new Promise((r) => c.once('exit', r)))),
      );
    },
  };
}

// Child processes for benchmarks, each waited for and killed by pid.
import { spawn } from 'node:child_process';
import { once } from 'node:events';

/** Starts `node script ...args` and resolves with the child and its first stdout line. */
export async function startNode(script, args = []) {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buffer = '';
  const line = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      buffer += d;
      const i = buffer.indexOf('\n');
      if (i >= 0) resolve(buffer.slice(0, i));
    });
    child.once('exit', (code) => reject(new Error(`${script} exited early (${code})`)));
  });
  return { child, line };
}

export async function killAndWait(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

// Packaging smoke test: kill a real child process tree through the packed package.
const { spawn } = require('node:child_process');

module.exports = async function smoke(m) {
  const code =
    "require('child_process').spawn(process.execPath, ['-e', 'setInterval(()=>{},1000)'], {stdio:'ignore'}); setInterval(()=>{},1000)";
  const child = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    // Wait (bounded) until the grandchild exists: a fixed sleep loses to a loaded machine.
    const children = `/proc/${child.pid}/task/${child.pid}/children`;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      let text = '';
      try {
        text = require('node:fs').readFileSync(children, 'utf8').trim();
      } catch {}
      if (text !== '') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const result = await m.killTree(child.pid, { graceMs: 2000 });
    if (!result.terminated.includes(child.pid))
      throw new Error(`killTree did not terminate the child: ${JSON.stringify(result)}`);
    if (result.terminated.length + result.killed.length < 2)
      throw new Error(`grandchild not killed: ${JSON.stringify(result)}`);
    await exited;
    const dry = await m.reap({ match: /./, dryRun: true });
    if (dry.killed.length !== 0) throw new Error('reap dryRun killed something');
    if (!dry.skipped.some((s) => s.proc.pid === process.pid && s.reason === 'self'))
      throw new Error('reap did not protect itself');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
};

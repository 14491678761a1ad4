// Packaging smoke test: open a registry in a temp folder, spawn one real child, check the file
// records it, shut down, check the child is gone and the file is empty.
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

module.exports = async function smoke(m) {
  const dir = mkdtempSync(join(tmpdir(), 'spawnguard-registry-smoke-'));
  try {
    const path = join(dir, 'state', 'registry.json');
    const registry = await m.openRegistry(path);
    const marker = `spawnguard-smoke-${process.pid}-${Date.now()}`;
    const { child, entry } = await registry.spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', marker], {
      session: 'smoke',
      type: 'sleeper',
    });
    const exited = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    const recorded = JSON.parse(readFileSync(path, 'utf8')).entries;
    if (recorded.length !== 1 || recorded[0].pid !== child.pid || recorded[0].startToken !== entry.startToken) {
      throw new Error(`expected the child ${child.pid} in the registry file, got ${JSON.stringify(recorded)}`);
    }
    const result = await registry.shutdown({ graceMs: 2000 });
    if (result.reaped.length !== 1 || result.reaped[0].entry.pid !== child.pid) {
      throw new Error(`shutdown() should have reaped ${child.pid}: ${JSON.stringify(result)}`);
    }
    const signal = await exited;
    if (signal !== 'SIGTERM' && signal !== 'SIGKILL') throw new Error(`child ended by ${signal}, expected a signal`);
    const left = JSON.parse(readFileSync(path, 'utf8')).entries;
    if (left.length !== 0) throw new Error(`registry file should be empty after shutdown, has ${left.length}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

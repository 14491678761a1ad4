// Packaging smoke test: take the spawn lock in a temp folder, see it is exclusive, release it.
const { mkdtempSync, readdirSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

module.exports = async function smoke(m) {
  const dir = mkdtempSync(join(tmpdir(), 'spawn-mutex-smoke-'));
  try {
    const lockPath = join(dir, 'daemon');
    const release = await m.acquireSpawnLock(lockPath);
    if (typeof release !== 'function') throw new Error(`acquireSpawnLock returned ${release}`);
    const owner = readdirSync(`${lockPath}.lock`);
    if (owner.length !== 1 || !/^owner-[0-9a-f]+\.json$/.test(owner[0])) throw new Error(`lock holds ${owner}`);
    if ((await m.acquireSpawnLock(lockPath)) !== null) throw new Error('a held lock was handed out twice');
    await release();
    if (readdirSync(dir).length !== 0) throw new Error('release left files behind');
    const result = await m.ensureSingleton({
      lockPath,
      isHealthy: () => true,
      spawn: () => {},
      waitTimeoutMs: 1000,
    });
    if (result.outcome !== 'already-running') throw new Error(`ensureSingleton: ${JSON.stringify(result)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

// Run by check:packages against the packed package, once through import and once through require.
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

module.exports = async function smoke(m) {
  const dir = mkdtempSync(join(tmpdir(), 'spawnguard-cb-smoke-'));
  try {
    const store = m.fileStore(join(dir, 'circuit.json'));
    const breaker = new m.CircuitBreaker({ name: 'smoke', failureThreshold: 2, store });
    if ((await breaker.execute(() => 42)) !== 42) throw new Error('execute did not pass the value through');
    for (let i = 0; i < 2; i++) await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    if (breaker.state !== 'open') throw new Error(`expected open after 2 failures, got ${breaker.state}`);
    // A second breaker on the same file (as another process would be) is refused without running fn.
    const other = m.circuitBreaker({ name: 'smoke', store: m.fileStore(join(dir, 'circuit.json')) });
    let ran = false;
    const error = await other.execute(() => (ran = true)).catch((e) => e);
    if (
      ran ||
      !(error instanceof m.BrokenCircuitError) ||
      error.code !== 'EBROKENCIRCUIT' ||
      !(error.retryAfterMs > 0)
    ) {
      throw new Error(`expected a BrokenCircuitError without running fn, got ${error}`);
    }
    const file = JSON.parse(readFileSync(join(dir, 'circuit.json'), 'utf8'));
    if (file.format !== m.FILE_FORMAT || file.state !== 'open')
      throw new Error(`unexpected state file ${JSON.stringify(file)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

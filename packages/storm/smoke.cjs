// Packaging smoke test: one real storm with a trivial launcher, checked for the right counts.
module.exports = async function smoke(m) {
  const marker = `spawnguard-smoke-storm-${process.pid}-${Date.now()}`;
  const result = await m.runStorm({
    command: process.execPath,
    args: ['-e', 'setTimeout(() => {}, 300)', marker],
    concurrency: 2,
    rounds: 1,
    watch: { launchers: marker },
    sampleEveryMs: 5,
    settleMs: 0,
  });
  const problems = [];
  if (result.overall.launchers.launched !== 2) problems.push(`launched ${result.overall.launchers.launched}, want 2`);
  if (result.overall.launchers.exitCodes['0'] !== 2)
    problems.push(`exit codes ${JSON.stringify(result.overall.launchers.exitCodes)}`);
  if (result.baseline.launchers !== 0) problems.push(`baseline ${result.baseline.launchers}, want 0`);
  if (result.overall.peak.launchers < 1 || result.overall.peak.launchers > 2)
    problems.push(`peak ${result.overall.peak.launchers}`);
  if (result.overall.distinct.launchers !== 2) problems.push(`distinct ${result.overall.distinct.launchers}, want 2`);
  if (result.leftovers.counts.launchers !== 0) problems.push(`leftovers ${result.leftovers.counts.launchers}, want 0`);
  if (!m.renderHtml(result).includes('<polyline class="series" data-watch="launchers"'))
    problems.push('no timeline series');
  if (problems.length > 0) throw new Error(`storm smoke failed: ${problems.join('; ')}`);
};

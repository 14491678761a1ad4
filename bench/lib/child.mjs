// Runs ONE case of ONE suite in this process (one library per process, so no library's JIT
// state or heap leaks into another's numbers) and prints its stats as JSON on the last line.
import { measure } from 'mitata';

const [suiteName, caseId] = process.argv.slice(2);
const suite = await import(`../suites/${suiteName}.mjs`);
const spec = suite.cases.find((c) => c.id === caseId);
if (!spec) throw new Error(`bench: no case ${caseId} in suite ${suiteName}`);

let ctx;
try {
  ctx = await spec.setup();
} catch (error) {
  // A case whose subject does not exist yet (e.g. a command still being built) says so and is
  // reported as not measured; any other failure fails the run.
  if (error?.code !== 'EBENCHUNAVAILABLE') throw error;
  console.log(JSON.stringify({ unavailable: error.message }));
  process.exit(0);
}
let stats;
try {
  if (spec.kind === 'run') {
    // The setup returns a function that measures the whole case and returns its stats.
    stats = await ctx.run();
  } else if (spec.kind === 'samples') {
    // Macro case: the setup returns a function that performs one timed trial and returns ms.
    const samples = [];
    for (let i = 0; i < (spec.warmup ?? 2); i++) await ctx.trial();
    for (let i = 0; i < spec.trials; i++) samples.push(await ctx.trial(i));
    samples.sort((a, b) => a - b);
    const at = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
    stats = {
      unit: spec.unit ?? 'ms',
      n: samples.length,
      p50: at(0.5),
      p99: at(0.99),
      min: samples[0],
      max: samples.at(-1),
    };
  } else {
    const r = await measure(ctx.fn, { min_cpu_time: 300e6 });
    stats = { unit: 'ns', n: r.samples?.length ?? 0, p50: r.p50, p99: r.p99, min: r.min, max: r.max, avg: r.avg };
  }
  if (ctx.extra) stats.extra = await ctx.extra();
} finally {
  await ctx.teardown?.();
}
console.log(JSON.stringify(stats));
// A client library may leave a keep-alive socket or timer behind after teardown: give the event
// loop a second to drain, then exit (processes the case started are killed by their own exit hook).
setTimeout(() => process.exit(0), 1000).unref();

// Runs ONE case of ONE suite in this process (one library per process, so no library's JIT
// state or heap leaks into another's numbers) and prints its stats as JSON on the last line.
import { measure } from 'mitata';

const [suiteName, caseId] = process.argv.slice(2);
const suite = await import(`../suites/${suiteName}.mjs`);
const spec = suite.cases.find((c) => c.id === caseId);
if (!spec) throw new Error(`bench: no case ${caseId} in suite ${suiteName}`);

const ctx = await spec.setup();
let stats;
try {
  if (spec.kind === 'samples') {
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

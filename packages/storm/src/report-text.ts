import type { StormResult, StormStats, WatchCounts } from './types.js';

/** `0×48 3×2`: the exit-code histogram in one cell. */
export function formatExitCodes(exitCodes: Record<string, number>): string {
  const entries = Object.entries(exitCodes).sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }));
  return entries.length === 0 ? '-' : entries.map(([code, n]) => `${code}×${n}`).join(' ');
}

export function formatCounts(counts: WatchCounts): string {
  return Object.entries(counts)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
}

const ms = (n: number) => (n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`);

/** Header and rows of the summary table, shared by the text and HTML reports. */
export function summaryRows(result: StormResult): { header: string[]; rows: string[][] } {
  const names = Object.keys(result.config.watch);
  const header = [
    'round',
    'launched',
    'exit codes',
    'p50',
    'p95',
    'max',
    'all done',
    ...names.map((n) => `${n} peak/distinct`),
  ];
  const row = (label: string, s: StormStats) => [
    label,
    String(s.launchers.launched),
    formatExitCodes(s.launchers.exitCodes),
    ms(s.launchers.durationMs.p50),
    ms(s.launchers.durationMs.p95),
    ms(s.launchers.durationMs.max),
    ms(s.timeToDoneMs),
    ...names.map((n) => `${s.peak[n] ?? 0} / ${s.distinct[n] ?? 0}`),
  ];
  const rows = result.rounds.map((r) => row(String(r.round), r));
  if (result.rounds.length > 1) rows.push(row('all', result.overall));
  return { header, rows };
}

/** A plain-text report: what ran, the per-round table, the baseline, cleanup and leftovers. */
export function formatTable(result: StormResult): string {
  const { config } = result;
  const { header, rows } = summaryRows(result);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const watched = Object.entries(config.watch)
    .map(([name, pattern]) => (name === pattern ? JSON.stringify(pattern) : `${name}=${JSON.stringify(pattern)}`))
    .join(', ');
  const out = [
    `storm: ${config.concurrency} × ${[config.command, ...config.args].join(' ')}, ${config.rounds} round${config.rounds === 1 ? '' : 's'}, watching ${watched}`,
    '',
    line(header),
    line(header.map((_, i) => '-'.repeat(widths[i] ?? 0))),
    ...rows.map(line),
    '',
    `before the storm:  ${formatCounts(result.baseline)}`,
  ];
  if (result.cleanup) {
    const c = result.cleanup;
    const how = c.error
      ? `could not start (${c.error})`
      : c.timedOut
        ? `timed out after ${ms(c.durationMs)}`
        : c.signal
          ? `killed by ${c.signal}`
          : `exit ${c.exitCode} in ${ms(c.durationMs)}`;
    out.push(`cleanup:           ${c.command}: ${how}`);
  }
  out.push(`${result.cleanup ? 'left after cleanup' : 'left at the end   '}: ${formatCounts(result.leftovers.counts)}`);
  for (const p of result.leftovers.processes.slice(0, 10)) {
    out.push(`  pid ${p.pid}: ${p.cmdline.join(' ').slice(0, 100)}`);
  }
  if (result.leftovers.processes.length > 10) out.push(`  ... and ${result.leftovers.processes.length - 10} more`);
  if (result.timedOut) out.push(`TIMED OUT after ${ms(config.timeoutMs)}: launchers still running were killed`);
  out.push(
    `${result.sampling.samples} samples (${result.sampling.errors} failed, slowest listing ${ms(result.sampling.maxListingMs)}), total ${ms(result.durationMs)}`,
  );
  return `${out.join('\n')}\n`;
}

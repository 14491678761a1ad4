import { writeFileSync } from 'node:fs';
import { parseCliArgs, USAGE, UsageError } from './cli-args.js';
import { resolveOptions } from './options.js';
import { renderHtml } from './report-html.js';
import { formatTable } from './report-text.js';
import { runStorm } from './run-storm.js';
import type { StormProgress, StormResult } from './types.js';

function progressLine(p: StormProgress): string {
  const counts = Object.keys(p.current)
    .map((name) => `${name} ${p.current[name]} (peak ${p.peak[name]})`)
    .join(' · ');
  const where = p.phase === 'round' ? `round ${p.round}/${p.rounds} · running ${p.running}` : p.phase;
  return `storm ${where} · ${counts} · ${(p.elapsedMs / 1000).toFixed(1)} s`;
}

export async function main(argv: string[]): Promise<number> {
  let cli: ReturnType<typeof parseCliArgs>;
  try {
    cli = parseCliArgs(argv);
    if (cli.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    resolveOptions(cli.options); // bad values (-c 0, -c 501) are usage errors, before anything starts
  } catch (err) {
    if (!(err instanceof UsageError || err instanceof TypeError || err instanceof RangeError)) throw err;
    process.stderr.write(`spawnguard-storm: ${err.message}\n\n${USAGE}`);
    return 2;
  }

  const tty = process.stderr.isTTY === true;
  let lastDraw = 0;
  const clear = () => tty && process.stderr.write('\r\x1b[K');
  const controller = new AbortController();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    clear();
    process.stderr.write(`spawnguard-storm: ${signal}, killing the launchers it started...\n`);
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let result: StormResult;
  try {
    result = await runStorm({
      ...cli.options,
      signal: controller.signal,
      onProgress: (p) => {
        if (!tty || interrupted || p.elapsedMs - lastDraw < 100) return;
        lastDraw = p.elapsedMs;
        process.stderr.write(`\r\x1b[K${progressLine(p).slice(0, (process.stderr.columns || 120) - 1)}`);
      },
    });
  } catch (err) {
    clear();
    if (interrupted) return 130;
    process.stderr.write(`spawnguard-storm: the storm failed: ${(err as Error).message}\n`);
    return 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  clear();
  if (cli.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(formatTable(result));
  if (cli.html !== undefined) {
    try {
      writeFileSync(cli.html, renderHtml(result));
      process.stderr.write(`spawnguard-storm: HTML report written to ${cli.html}\n`);
    } catch (err) {
      process.stderr.write(`spawnguard-storm: could not write ${cli.html}: ${(err as Error).message}\n`);
      return 1;
    }
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`spawnguard-storm: ${(err as Error)?.stack ?? err}\n`);
    process.exitCode = 1;
  },
);

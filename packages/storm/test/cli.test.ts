import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StormResult } from '../src/index.js';
import { fixture, killMarked, marked, newMarker, tempDir, waitFor } from './helpers.js';

const cli = join(import.meta.dirname, '..', 'dist', 'cli.js');
const node = process.execPath;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();
const owned: string[] = [];
const temps: Array<() => void> = [];
afterEach(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
  for (const marker of owned.splice(0)) await killMarked(marker);
  for (const remove of temps.splice(0)) remove();
});

function startCli(args: string[], command = node, prefix: string[] = [cli]) {
  const child = spawn(command, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => {
    stdout += d;
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const done = new Promise<Run>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI did not exit within 25 s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 25_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

const runCli = (args: string[]) => startCli(args).done;

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`pnpm build\` in packages/storm before the CLI tests`);
});

describe('spawnguard-storm usage', () => {
  it('--help prints the usage on stdout and exits 0', async () => {
    const run = await runCli(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: spawnguard-storm \[options\] -- <command> \[args\.\.\.\]/);
    expect(run.stdout).toContain('--watch PATTERN');
  });

  const bad: Array<[string, string[], RegExp]> = [
    ['an unknown flag', ['--frobnicate', '-w', 'x', '--', 'node'], /Unknown option '--frobnicate'/],
    [
      'concurrency over the cap',
      ['-c', '501', '-w', 'x', '--', 'node'],
      /concurrency must be an integer from 1 to 500, got 501/,
    ],
    ['concurrency 0', ['-c', '0', '-w', 'x', '--', 'node'], /concurrency must be an integer from 1 to 500, got 0/],
    ['rounds 0', ['-r', '0', '-w', 'x', '--', 'node'], /rounds must be a positive integer, got 0/],
    ['a word for a number', ['-r', 'three', '-w', 'x', '--', 'node'], /--rounds must be a whole number, got "three"/],
    [
      'sample-every 0',
      ['--sample-every', '0', '-w', 'x', '--', 'node'],
      /sampleEveryMs must be a finite number of milliseconds >= 1/,
    ],
    ['no watch', ['--', 'node'], /at least one --watch PATTERN is required/],
    ['no command', ['-w', 'x'], /missing the launcher command/],
    ['a broken regex', ['-w', '/(/', '--', 'node'], /not a valid regular expression/],
  ];
  for (const [name, args, message] of bad) {
    it(`exits 2 with the reason and the usage on ${name}`, async () => {
      const run = await runCli(args);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toContain('Usage: spawnguard-storm');
      expect(run.stdout).toBe('');
    });
  }
});

describe('spawnguard-storm runs', () => {
  it('--json prints the full result; the CLI never counts itself although its argv carries the pattern', async () => {
    const marker = newMarker('cli-json');
    owned.push(marker);
    const run = await runCli([
      '-c',
      '3',
      '-r',
      '2',
      '--watch',
      `launchers=${marker}`,
      '--json',
      '--sample-every',
      '5',
      '--',
      node,
      '-e',
      'setTimeout(()=>{},400)',
      marker,
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as StormResult;
    expect(Object.keys(result).sort()).toEqual(
      [
        'baseline',
        'cleanup',
        'config',
        'durationMs',
        'killedAtEnd',
        'leftovers',
        'overall',
        'rounds',
        'sampling',
        'startedAt',
        'timedOut',
        'timeline',
      ].sort(),
    );
    expect(result.config).toMatchObject({ concurrency: 3, rounds: 2, watch: { launchers: marker }, sampleEveryMs: 5 });
    expect(result.overall.launchers.exitCodes).toEqual({ 0: 6 });
    expect(result.overall.distinct).toEqual({ launchers: 6 });
    expect(result.rounds.map((r) => r.peak.launchers)).toEqual([3, 3]);
    expect(result.leftovers.counts).toEqual({ launchers: 0 });
  });

  it('prints a readable table, with no progress line when stderr is not a TTY, and writes --html', async () => {
    const marker = newMarker('cli-table');
    owned.push(marker);
    const { dir, remove } = tempDir();
    temps.push(remove);
    const html = join(dir, 'report.html');
    const run = await runCli(['-c', '2', '-w', marker, '--html', html, '--', node, '-e', '', marker]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^storm: 2 × .* 1 round, watching "spawnguard-test-storm-cli-table-/);
    expect(run.stdout).toMatch(/^round +launched +exit codes +p50 +p95 +max +all done/m);
    expect(run.stdout).toMatch(/^1 +2 +0×2 /m);
    expect(run.stderr).not.toContain('\r');
    expect(run.stderr).toContain(`HTML report written to ${html}`);
    const page = readFileSync(html, 'utf8');
    expect(page.match(/<polyline class="series"/g)).toHaveLength(1);
  });

  it.runIf(process.platform === 'linux' && existsSync('/usr/bin/script'))(
    'draws a \\r progress line on stderr when it is a TTY',
    async () => {
      const marker = newMarker('cli-tty');
      owned.push(marker);
      // `script` gives the CLI a pseudo-terminal for stdout and stderr.
      const inner = [node, cli, '-c', '2', '-w', marker, '--', node, '-e', 'setTimeout(()=>{},800)', marker]
        .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
        .join(' ');
      const run = await startCli(['-qec', inner, '/dev/null'], '/usr/bin/script', []).done;
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('\r\u001b[Kstorm round 1/1 · running ');
      expect(run.stdout).toMatch(/storm round 1\/1 · running \d+ · spawnguard-test-storm-cli-tty-\w+ \d+ \(peak \d+\)/);
      expect(run.stdout).toMatch(/^round +launched/m);
    },
  );
});

describe('spawnguard-storm interrupted', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} mid-storm exits 130 and leaves no launcher (nor its group) behind`, async () => {
      const marker = newMarker(`cli-${signal.toLowerCase()}`);
      owned.push(marker);
      const { child, done } = startCli([
        '-c',
        '4',
        '-r',
        '3',
        '-w',
        `children=${marker}-child`,
        '--timeout',
        '60000',
        '--json',
        '--',
        node,
        fixture('sleeper-launcher.cjs'),
        marker,
      ]);
      // 4 launchers + 4 children in their groups, plus the CLI itself whose argv carries the marker.
      const up = await waitFor(async () => (await marked(marker)).length >= 9, 15_000);
      expect(up).toBe(true);
      child.kill(signal);
      const run = await done;
      expect(run.code).toBe(130);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(`${signal}, killing the launchers it started`);
      // Bounded wait: the CLI waited for the kills before exiting, so this should hold at once.
      expect(await waitFor(async () => (await marked(marker)).length === 0, 3000)).toBe(true);
    });
  }
});

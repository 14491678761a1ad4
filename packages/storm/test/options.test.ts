import { describe, expect, it } from 'vitest';
import { parseCliArgs, parseWatch, UsageError } from '../src/cli-args.js';
import {
  escapeHtml,
  formatExitCodes,
  formatTable,
  MAX_CONCURRENCY,
  percentile,
  renderHtml,
  renderTimelineSvg,
  runStorm,
  type StormOptions,
  type StormResult,
  timelinePeak,
} from '../src/index.js';
import { compileWatch } from '../src/options.js';
import { niceStep } from '../src/report-html.js';

const base: StormOptions = { command: process.execPath, args: ['-e', ''], watch: 'spawnguard-test-never-matches' };

describe('runStorm rejects bad options before starting anything', () => {
  const cases: Array<[string, Partial<StormOptions> | Record<string, unknown>, RegExp, ErrorConstructor]> = [
    ['concurrency 0', { concurrency: 0 }, /concurrency must be an integer from 1 to 500, got 0/, RangeError],
    [
      'concurrency over the cap',
      { concurrency: MAX_CONCURRENCY + 1 },
      /concurrency must be an integer from 1 to 500, got 501/,
      RangeError,
    ],
    ['concurrency 2.5', { concurrency: 2.5 }, /concurrency .* got 2\.5/, RangeError],
    ['concurrency NaN', { concurrency: Number.NaN }, /concurrency .* got NaN/, RangeError],
    ['concurrency Infinity', { concurrency: Number.POSITIVE_INFINITY }, /concurrency .* got Infinity/, RangeError],
    [
      'concurrency as a string',
      { concurrency: '5' },
      /concurrency must be an integer from 1 to 500, got "5"/,
      TypeError,
    ],
    ['rounds 0', { rounds: 0 }, /rounds must be a positive integer, got 0/, RangeError],
    ['rounds -1', { rounds: -1 }, /rounds .* got -1/, RangeError],
    [
      'sampleEveryMs 0',
      { sampleEveryMs: 0 },
      /sampleEveryMs must be a finite number of milliseconds >= 1, got 0/,
      RangeError,
    ],
    ['sampleEveryMs NaN', { sampleEveryMs: Number.NaN }, /sampleEveryMs .* got NaN/, RangeError],
    ['timeoutMs 0', { timeoutMs: 0 }, /timeoutMs .* got 0/, RangeError],
    ['timeoutMs -5', { timeoutMs: -5 }, /timeoutMs .* got -5/, RangeError],
    ['timeoutMs Infinity', { timeoutMs: Number.POSITIVE_INFINITY }, /timeoutMs .* got Infinity/, RangeError],
    ['settleMs -1', { settleMs: -1 }, /settleMs .* got -1/, RangeError],
    ['observeMs -1', { observeMs: -1 }, /observeMs .* got -1/, RangeError],
    ['observeMs NaN', { observeMs: Number.NaN }, /observeMs .* got NaN/, RangeError],
    ['killGraceMs NaN', { killGraceMs: Number.NaN }, /killGraceMs .* got NaN/, RangeError],
    ['cleanupTimeoutMs 0', { cleanupTimeoutMs: 0 }, /cleanupTimeoutMs .* got 0/, RangeError],
    ['command empty', { command: '' }, /command must be a non-empty string, got ""/, TypeError],
    ['command not a string', { command: 42 }, /command must be a non-empty string, got 42/, TypeError],
    ['args not an array', { args: 'node' }, /args must be an array of strings/, TypeError],
    ['args with a number', { args: ['-e', 1] }, /args must be an array of strings/, TypeError],
    ['watch missing', { watch: undefined }, /watch is required/, TypeError],
    ['watch empty string', { watch: '' }, /watch must not be an empty string/, RangeError],
    ['watch empty array', { watch: [] }, /watch must name at least one pattern, got an empty array/, RangeError],
    ['watch empty object', { watch: {} }, /watch must name at least one pattern, got an empty object/, RangeError],
    ['watch a number', { watch: 5 }, /watch must be a string, a RegExp/, TypeError],
    ['watch item a number', { watch: ['a', 5] }, /watch\[1\] must be a string or a RegExp, got 5/, TypeError],
    ['named watch empty', { watch: { workers: '' } }, /watch\.workers must not be an empty string/, RangeError],
    ['watch listed twice', { watch: ['a', 'a'] }, /the same pattern twice/, RangeError],
    ['cleanup blank', { cleanup: '  ' }, /cleanup must be a non-empty shell command/, TypeError],
    ['env an array', { env: ['A=1'] }, /env must be an object/, TypeError],
    ['cwd empty', { cwd: '' }, /cwd must be a non-empty string/, TypeError],
    ['signal not a signal', { signal: {} }, /signal must be an AbortSignal/, TypeError],
    ['onProgress not a function', { onProgress: 1 }, /onProgress must be a function/, TypeError],
    ['events not an emitter', { events: {} }, /events must be a mitt emitter/, TypeError],
  ];
  for (const [name, patch, message, type] of cases) {
    it(name, async () => {
      const error = await runStorm({ ...base, ...patch } as StormOptions).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toMatch(message);
    });
  }

  it('options that are not an object', async () => {
    await expect(runStorm(null as unknown as StormOptions)).rejects.toThrow(TypeError);
  });
});

describe('watch patterns', () => {
  it('strings match as substrings of the joined command line, RegExps as expressions', () => {
    const [sub] = compileWatch('worker.js');
    expect(sub?.test('node /x/worker.js --port 1')).toBe(true);
    expect(sub?.test('node /x/worker.ts')).toBe(false);
    const [re] = compileWatch(/worker\.js --port \d+/);
    expect(re?.pattern).toBe('/worker\\.js --port \\d+/');
    expect(re?.test('node worker.js --port 80')).toBe(true);
  });

  it('a global RegExp matches every time (no lastIndex carried between processes)', () => {
    const [re] = compileWatch(/worker/g);
    expect([re?.test('worker'), re?.test('worker'), re?.test('worker')]).toEqual([true, true, true]);
  });

  it('named watches keep their names; arrays are named by their pattern text', () => {
    expect(compileWatch({ workers: /w/, helpers: 'h' }).map((w) => [w.name, w.pattern])).toEqual([
      ['workers', '/w/'],
      ['helpers', 'h'],
    ]);
    expect(compileWatch(['a', /b/i]).map((w) => w.name)).toEqual(['a', '/b/i']);
  });
});

describe('CLI argument parsing', () => {
  it('parses the documented usage', () => {
    const cli = parseCliArgs([
      '-c',
      '50',
      '-r',
      '3',
      '--watch',
      'worker',
      '--watch',
      'helpers=/help(er)?/i',
      '--cleanup',
      'kill it',
      '--json',
      '--sample-every',
      '5',
      '--timeout',
      '9000',
      '--settle',
      '0',
      '--',
      'node',
      'hook.js',
      '--flag-for-the-hook',
    ]);
    expect(cli.json).toBe(true);
    expect(cli.options).toMatchObject({
      command: 'node',
      args: ['hook.js', '--flag-for-the-hook'],
      concurrency: 50,
      rounds: 3,
      cleanup: 'kill it',
      sampleEveryMs: 5,
      timeoutMs: 9000,
      settleMs: 0,
    });
    expect(cli.options.watch).toEqual({ worker: 'worker', helpers: /help(er)?/i });
  });

  it('parseWatch: NAME=PATTERN, /re/flags, and plain text', () => {
    expect(parseWatch('w=worker.js')).toEqual(['w', 'worker.js']);
    expect(parseWatch('--port=80')).toEqual(['--port=80', '--port=80']);
    expect(parseWatch('/a+b/')).toEqual(['/a+b/', /a+b/]);
    expect(() => parseWatch('/(/')).toThrow(/not a valid regular expression/);
  });

  const bad: Array<[string, string[], RegExp]> = [
    ['an unknown flag', ['--bogus', '-w', 'x', '--', 'node'], /Unknown option '--bogus'/],
    ['no command', ['-w', 'x'], /missing the launcher command/],
    ['no watch', ['--', 'node'], /at least one --watch/],
    [
      'a non-number concurrency',
      ['-c', 'ten', '-w', 'x', '--', 'node'],
      /--concurrency must be a whole number, got "ten"/,
    ],
    ['a negative timeout', ['--timeout', '-5', '-w', 'x', '--', 'node'], /--timeout/],
    ['a missing flag value', ['-w'], /argument missing|requires|expects/i],
    ['the same watch name twice', ['-w', 'a=x', '-w', 'a=y', '--', 'node'], /"a" is given twice/],
    ['an html file in a missing folder', ['--html', '/no/such/dir/r.html', '-w', 'x', '--', 'node'], /does not exist/],
  ];
  for (const [name, argv, message] of bad) {
    it(`rejects ${name}`, () => {
      let error: unknown;
      try {
        parseCliArgs(argv);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toMatch(message);
    });
  }
});

describe('report helpers', () => {
  it('percentile is nearest-rank', () => {
    expect(percentile([], 50)).toBe(0);
    expect(percentile([5], 95)).toBe(5);
    expect(percentile([4, 1, 3, 2], 50)).toBe(2);
    expect(
      percentile(
        [...Array(100).keys()].map((i) => i + 1),
        95,
      ),
    ).toBe(95);
  });

  it('formats exit codes numerically, escapes HTML, picks 1-2-5 steps', () => {
    expect(formatExitCodes({ 10: 1, 2: 3, SIGTERM: 1 })).toBe('2×3 10×1 SIGTERM×1');
    expect(formatExitCodes({})).toBe('-');
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(niceStep(1000, 8)).toBe(200);
    expect(niceStep(7, 5)).toBe(2);
    expect(niceStep(0, 5)).toBe(0.2);
  });

  const result: StormResult = {
    config: {
      command: 'node',
      args: ['hook.js'],
      concurrency: 2,
      rounds: 2,
      watch: { workers: 'worker.js', '<b>': '/<b>/' },
      sampleEveryMs: 10,
      timeoutMs: 1000,
      cleanup: 'stop',
    },
    startedAt: '2025-01-01T00:00:00.000Z',
    durationMs: 300,
    timedOut: true,
    baseline: { workers: 0, '<b>': 0 },
    rounds: [1, 2].map((round) => ({
      round,
      startT: round * 100 - 90,
      endT: round * 100,
      peak: { workers: round, '<b>': 0 },
      distinct: { workers: round, '<b>': 0 },
      launchers: { launched: 2, exitCodes: { 0: 2 }, durationMs: { p50: 40, p95: 50, max: 50 } },
      timeToDoneMs: 60,
    })),
    overall: {
      peak: { workers: 2, '<b>': 0 },
      distinct: { workers: 3, '<b>': 0 },
      launchers: { launched: 4, exitCodes: { 0: 4 }, durationMs: { p50: 40, p95: 50, max: 50 } },
      timeToDoneMs: 190,
    },
    cleanup: { command: 'stop', exitCode: 0, signal: null, durationMs: 20, timedOut: false, output: '' },
    leftovers: {
      counts: { workers: 1, '<b>': 0 },
      processes: [{ pid: 42, startToken: 't', cmdline: ['node', 'worker.js'], watches: ['workers'] }],
    },
    killedAtEnd: 0,
    sampling: { samples: 3, errors: 0, maxListingMs: 3 },
    timeline: [
      { t: 5, round: 0, counts: { workers: 0, '<b>': 0 } },
      { t: 50, round: 1, counts: { workers: 1, '<b>': 0 } },
      { t: 150, round: 2, counts: { workers: 2, '<b>': 0 } },
      { t: 290, round: 0, counts: { workers: 1, '<b>': 0 } },
    ],
  };

  it('formatTable shows rounds, the overall row, cleanup, leftovers and the timeout', () => {
    const text = formatTable(result);
    expect(text).toMatch(/^round +launched +exit codes/m);
    expect(text).toMatch(/^1 +2 +0×2 .* 1 \/ 1 +0 \/ 0$/m);
    expect(text).toMatch(/^all +4 +0×4 .* 2 \/ 3 +0 \/ 0$/m);
    expect(text).toContain('cleanup:           stop: exit 0 in 20 ms');
    expect(text).toContain('left after cleanup: workers 1, <b> 0');
    expect(text).toContain('pid 42: node worker.js');
    expect(text).toContain('TIMED OUT');
  });

  it('renderHtml escapes names and draws one series per watch', () => {
    const html = renderHtml(result);
    // The legend bolds each name; the watch named "<b>" must arrive escaped, not as markup.
    expect(html.split('<b>').length - 1).toBe(2);
    expect(html).toContain('<b>&lt;b&gt;</b>');
    expect(html.match(/<polyline class="series"/g)).toHaveLength(2);
    expect(html).toContain('data-watch="&lt;b&gt;"');
    expect(html).not.toMatch(/<script|<link|src=|href=/);
    expect(html).toContain('round 2');
  });

  it('renderTimelineSvg draws two runs on one y scale when given a shared yMax', () => {
    const ticks = (svg: string) =>
      [...svg.matchAll(/<text class="tick" x="\d+" y="[\d.]+" text-anchor="end"[^>]*>(\d+)<\/text>/g)].map((m) =>
        Number(m[1]),
      );
    const big = { ...result, timeline: [{ t: 5, round: 0, counts: { workers: 60, '<b>': 3 } }] };
    expect(timelinePeak(result, big)).toBe(60);
    expect(Math.max(...ticks(renderTimelineSvg(result)))).toBe(2); // alone: 0 to 2 fills the chart
    const shared = timelinePeak(result, big);
    expect(Math.max(...ticks(renderTimelineSvg(result, { yMax: shared })))).toBe(60);
    expect(Math.max(...ticks(renderTimelineSvg(big, { yMax: shared })))).toBe(60);
    // A yMax below the run's own peak never clips the run.
    expect(Math.max(...ticks(renderTimelineSvg(big, { yMax: 1 })))).toBe(60);
    expect(() => renderTimelineSvg(result, { yMax: -1 })).toThrow(/yMax must be a finite number >= 0, got -1/);
    expect(() => renderTimelineSvg(result, { yMax: Number.NaN })).toThrow(RangeError);
  });
});

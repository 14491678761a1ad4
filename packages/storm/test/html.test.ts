import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { renderHtml, runStorm } from '../src/index.js';
import { fixture, killMarked, newMarker, tempDir } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const node = process.execPath;
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

let browser: Browser | undefined;
const temp = tempDir();
const owned: string[] = [];

beforeAll(() => {
  if (!existsSync(CHROMIUM)) {
    // Not a skip: the HTML report must be checked in a real browser. CI installs it.
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run this test`);
  }
});

// Launched after the storm, so the browser's start-up does not compete with the launchers for CPU.
async function launchBrowser(): Promise<Browser> {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 20_000,
  });
  return browser;
}

afterAll(async () => {
  await browser?.close();
  temp.remove();
});

afterEach(async () => {
  for (const marker of owned.splice(0)) await killMarked(marker);
});

describe('HTML report', () => {
  it('renders in headless Chromium with one timeline series per watch pattern', async () => {
    const tag = newMarker('html');
    owned.push(tag);
    const slots = join(temp.dir, 'slots');
    mkdirSync(slots);
    let result: Awaited<ReturnType<typeof runStorm>>;
    try {
      // Two series that move differently: the launchers come and go, the k=2 workers stay until cleanup.
      result = await runStorm({
        command: node,
        args: [fixture('slot-launcher.cjs'), slots, '2', `launcher-${tag}`],
        env: { STORM_WORKER_TAG: `${tag}-worker` },
        concurrency: 6,
        rounds: 2,
        watch: { workers: `${tag}-worker`, launchers: `launcher-${tag}` },
        cleanup: `${q(node)} ${q(fixture('kill-recorded.cjs'))} ${q(slots)} ${q(tag)}`,
        sampleEveryMs: 5,
      });
    } finally {
      for (const f of readdirSync(slots).filter((n) => n.startsWith('pid-'))) {
        try {
          process.kill(Number(readFileSync(join(slots, f), 'utf8')), 'SIGKILL');
        } catch {}
      }
    }
    expect(result.overall.peak.workers).toBe(2);
    const file = join(temp.dir, 'report.html');
    writeFileSync(file, renderHtml(result));

    const page = await (await launchBrowser()).newPage({ viewport: { width: 1040, height: 900 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(file).href);
    const svg = page.locator('svg');
    await expect(svg.count()).resolves.toBe(1);
    const series = svg.locator('polyline.series');
    await expect(series.count()).resolves.toBe(Object.keys(result.config.watch).length);
    const drawn = await series.evaluateAll((lines) =>
      lines.map((l) => ({
        watch: l.getAttribute('data-watch'),
        points: (l as unknown as { points: { numberOfItems: number } }).points.numberOfItems,
        width: l.getBoundingClientRect().width,
      })),
    );
    expect(drawn.map((d) => d.watch)).toEqual(['workers', 'launchers']);
    for (const d of drawn) {
      expect(d.points).toBeGreaterThan(1);
      expect(d.width).toBeGreaterThan(100); // spans the time axis, not a dot
    }
    // Round boundaries and axis labels are visible text; the summary table has a row per round + "all".
    const text = await page.locator('body').textContent();
    expect(text).toContain('round 1');
    expect(text).toContain('round 2');
    expect(text).toContain('matching processes');
    expect(text).toContain('time since the storm started');
    await expect(page.locator('table tbody tr').count()).resolves.toBe(3);
    // Self-contained: the page loaded nothing but itself.
    expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]);
    const png = join(temp.dir, 'report.png');
    await page.screenshot({ path: png, fullPage: true });
    expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
    if (process.env.STORM_KEEP_SCREENSHOT) writeFileSync(process.env.STORM_KEEP_SCREENSHOT, readFileSync(png));
    await page.close();
  });
});

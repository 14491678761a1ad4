import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

const SRC = join(ROOT, 'src');

/** Every source file under src/, as a path relative to src/ with `/` separators. */
function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(SRC, path).split('\\').join('/')] : [];
  });
}

/** The README's "folder by folder" table: folder → the files its last column lists. */
function readmeTable(): Map<string, string[]> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## The composition, folder by folder');
  expect(start, 'README section "The composition, folder by folder"').toBeGreaterThanOrEqual(0);
  const end = readme.indexOf('\n## ', start + 1);
  const rows = readme
    .slice(start, end === -1 ? undefined : end)
    .split('\n')
    .filter((line) => line.startsWith('| `'));
  const table = new Map<string, string[]>();
  for (const row of rows) {
    const cells = row.split('|').slice(1, -1);
    const folder = /`([^`]+)`/.exec(cells[0]!)![1]!;
    const dir = folder === 'src/' ? '' : folder;
    const files = [...cells.at(-1)!.matchAll(/`([\w.-]+\.ts)`/g)].map((m) => posix.join(dir, m[1]!));
    expect(table.has(dir), `folder ${folder} listed twice`).toBe(false);
    table.set(dir, files);
  }
  return table;
}

describe('the README composition table matches src/', () => {
  it('every listed file exists, and every source file is listed in its folder’s row', () => {
    const table = readmeTable();
    const listed = [...table.values()].flat();
    const actual = sourceFiles();
    expect(
      listed.filter((file) => !actual.includes(file)),
      'listed in the README but missing',
    ).toEqual([]);
    expect(
      actual.filter((file) => !listed.includes(file)),
      'in src/ but not in the README table',
    ).toEqual([]);
    expect(listed.length, 'a file listed twice').toBe(new Set(listed).size);
  });

  it('has one row per folder', () => {
    const folders = new Set(sourceFiles().map((file) => posix.dirname(file).replace(/^\.$/, '')));
    expect([...readmeTable().keys()].sort()).toEqual([...folders].map((f) => (f ? `${f}/` : f)).sort());
  });

  it('nothing outside daemon/ imports from daemon/ (the daemon uses naive/ and client/, never the reverse)', () => {
    const offenders: string[] = [];
    for (const file of sourceFiles()) {
      if (file.startsWith('daemon/') || file === 'cli.ts') continue;
      const text = readFileSync(join(SRC, file), 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
        const target = posix.normalize(posix.join(posix.dirname(file), m[1]!));
        if (target.startsWith('daemon/')) offenders.push(`${file} → ${target}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});

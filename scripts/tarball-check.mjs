// What a published tarball must not hold; used by the packaging gate (check-package.mjs) and the
// release rehearsal (on the tarballs the registry serves).
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

/**
 * What a published tarball must not hold: tests, fixtures, and source maps that point nowhere (a map
 * whose sources are neither in the tarball nor inlined, or a sourceMappingURL naming a missing map).
 * `dir` is the unpacked tarball's `package/` folder.
 */
export function tarballProblems(dir) {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => posix.relative(dir, join(d.parentPath ?? d.path, d.name)));
  const present = new Set(files);
  const problems = [];
  for (const file of files) {
    if (/(^|\/)(test|tests|__tests__|spec|fixtures?|__fixtures__|__mocks__|test-results|coverage)\//.test(file)) {
      problems.push(`${file}: tests or fixtures`);
    } else if (/\.(test|spec)\.[cm]?[jt]sx?$/.test(file) || /(^|\/)(vitest|tsup)\.config\./.test(file)) {
      problems.push(`${file}: tests or build config`);
    } else if (/(^|\/)smoke\.cjs$/.test(file)) {
      problems.push(`${file}: the packaging smoke test`);
    }
    const text = /\.(c|m)?js$|\.d\.(c|m)?ts$/.test(file) ? readFileSync(join(dir, file), 'utf8') : '';
    const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(text)?.[1];
    if (url && !url.startsWith('data:') && !present.has(posix.join(posix.dirname(file), url))) {
      problems.push(`${file}: sourceMappingURL ${url} is not in the tarball`);
    }
    if (file.endsWith('.map')) {
      let map;
      try {
        map = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      } catch {
        problems.push(`${file}: not a JSON source map`);
        continue;
      }
      (map.sources ?? []).forEach((source, i) => {
        const inlined = typeof map.sourcesContent?.[i] === 'string';
        const target = posix.join(posix.dirname(file), map.sourceRoot ?? '', source);
        if (!inlined && !present.has(target)) problems.push(`${file}: source ${source} is neither inlined nor shipped`);
      });
    }
  }
  // The manifest names a licence; the tarball must carry its text (npm packs LICENSE whatever `files` says).
  if (!files.some((f) => /^(LICEN[CS]E)(\.(md|txt))?$/i.test(f)))
    problems.push('LICENSE: missing (the licence text must ship)');
  return problems;
}

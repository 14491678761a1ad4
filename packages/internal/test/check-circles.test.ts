// The repository's own circle check (scripts/check-circles.mjs, run by `pnpm lint`), tested here
// because this private package's suite is where repository tooling runs with `pnpm test` and `.ci/run`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, '..', '..', '..', 'scripts', 'check-circles.mjs');

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A fresh checkout-like tree: `files` maps a path relative to the root to its text. */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'check-circles-'));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function check(root: string): { code: number | null; output: string } {
  const run = spawnSync(process.execPath, [SCRIPT, root], { encoding: 'utf8', timeout: 60_000 });
  if (run.error) throw run.error;
  return { code: run.status, output: `${run.stdout}${run.stderr}` };
}

const A = 'packages/pkg/src/a.ts';
const B = 'packages/pkg/src/b.ts';

describe('scripts/check-circles.mjs', () => {
  it('fails on two files importing each other (one type-only), naming both', () => {
    const root = tree({
      [A]: "import type { B } from './b.js';\nexport interface A { b?: B }\n",
      [B]: "import { a } from './a.js';\nexport const b = a;\nexport interface B { n: number }\n",
      'packages/pkg/src/c.ts': "export { b } from './b.js';\n",
    });
    const { code, output } = check(root);
    expect(code).toBe(1);
    expect(output).toContain('import circle of 2 files');
    expect(output).toContain(`${A} -> ${B} (type-only)`);
    expect(output).toContain(`${B} -> ${A}`);
    expect(output).not.toContain('packages/pkg/src/c.ts ->');
  });

  it('passes a tree without a circle, whatever forms its imports take', () => {
    const root = tree({
      'packages/pkg/src/index.ts': "export * from './a.js';\nexport type { B } from './b.js';\n",
      [A]: "import type { B } from './b.js';\nimport * as lib from './lib/index.js';\nexport const a = (b: B) => lib.x + b.n;\n",
      [B]: "// import { a } from './a.js': a comment is not an import\nexport interface B { n: number }\nexport const s = \"import('./a.js')\";\n",
      'packages/pkg/src/lib/index.ts': 'export const x = 1;\n',
      'packages/pkg/test/a.test.ts': "import { a } from '../src/a.js';\nexport const t = a;\n",
      'apps/app/src/main.mjs': "const b = await import('./lazy.mjs');\nexport default b;\n",
      'apps/app/src/lazy.mjs': 'export const lazy = 1;\n',
    });
    const { code, output } = check(root);
    expect(output).toContain('check-circles: ok');
    expect(code).toBe(0);
  });

  // Each way our sources refer to a module closes its own circle (a package each) back to a plain
  // import; one run sees every one of them.
  it('sees every form of module reference: type-only, export-from, import(), folder index, no extension', () => {
    const forms: Record<string, string> = {
      'import-type': "import type { B } from './b.js';\nexport type A = B;\n",
      'import-type-specifier': "import { type B } from './b.js';\nexport type A = B;\n",
      'export-star': "export * from './b.js';\n",
      'export-named': "export { b } from './b.js';\n",
      'export-type': "export type { B } from './b.js';\n",
      'dynamic-import': "export const load = () => import('./b.js');\n",
      'import-type-node': "export type A = import('./b.js').B;\n",
      'folder-index': "export { b } from './b';\n",
      'no-extension': "export { b } from './b';\n",
    };
    const back = "import { a } from '../a.js';\nexport const b = a;\nexport type B = number;\n";
    const files: Record<string, string> = {};
    for (const [form, text] of Object.entries(forms)) {
      files[`packages/${form}/src/a.ts`] = text;
      if (form === 'folder-index') files[`packages/${form}/src/b/index.ts`] = back;
      else files[`packages/${form}/src/b.ts`] = back.replace("'../a.js'", "'./a.js'");
    }
    const { code, output } = check(tree(files));
    expect(code).toBe(1);
    for (const form of Object.keys(forms)) {
      const b = form === 'folder-index' ? 'b/index.ts' : 'b.ts';
      expect(output).toContain(`packages/${form}/src/a.ts -> packages/${form}/src/${b}`);
      expect(output).toContain(`packages/${form}/src/${b} -> packages/${form}/src/a.ts`);
    }
    const count = Object.keys(forms).length;
    expect(output).toContain(`${count} import circle(s)`);
  });

  it('sees .mjs and require() in .cjs sources', () => {
    const mjs = tree({
      'apps/app/src/x.mjs': "import { y } from './y.mjs';\nexport const x = y;\n",
      'apps/app/src/y.mjs': "export const y = () => import('./x.mjs');\n",
    });
    expect(check(mjs)).toMatchObject({ code: 1, output: expect.stringContaining('apps/app/src/y.mjs') });
    const cjs = tree({
      'apps/app/src/x.cjs': "module.exports = require('./y.cjs');\n",
      'apps/app/src/y.cjs': "exports.x = () => require('./x.cjs');\n",
    });
    expect(check(cjs)).toMatchObject({ code: 1, output: expect.stringContaining('apps/app/src/x.cjs') });
  });

  describe('scripts/known-circles.json', () => {
    const circle = {
      [A]: "import type { B } from './b.js';\nexport type A = B;\n",
      [B]: "import { a } from './a.js';\nexport const b = a;\nexport type B = number;\n",
    };
    const list = (...circles: string[][]) =>
      JSON.stringify({ circles: circles.map((files) => ({ why: 'test', files })) });

    it('accepts a listed circle, and still reports it', () => {
      const root = tree({ ...circle, 'scripts/known-circles.json': list([B, A]) });
      const { code, output } = check(root);
      expect(output).toContain('known circle of 2 files');
      expect(output).toContain(`${A} -> ${B} (type-only)`);
      expect(code).toBe(0);
    });

    it('fails when a listed circle no longer exists, so the list cannot go stale', () => {
      const root = tree({
        [A]: 'export type A = number;\n',
        [B]: circle[B],
        'scripts/known-circles.json': list([A, B]),
      });
      const { code, output } = check(root);
      expect(code).toBe(1);
      expect(output).toContain(`lists a circle that no longer exists as listed: ${A}, ${B}`);
    });

    it('fails when a listed circle changed shape (a file left it), naming what it is now', () => {
      const C = 'packages/pkg/src/c.ts';
      const root = tree({
        ...circle,
        [C]: 'export const c = 1;\n',
        'scripts/known-circles.json': list([A, B, C]),
      });
      const { code, output } = check(root);
      expect(code).toBe(1);
      expect(output).toContain(`these files now form: ${A}, ${B}`);
      expect(output).toContain('import circle of 2 files');
    });

    it('fails on a malformed list', () => {
      const root = tree({
        [A]: 'export const a = 1;\n',
        'scripts/known-circles.json': '{"circles":[{"files":["x"]}]}',
      });
      const { code, output } = check(root);
      expect(code).toBe(1);
      expect(output).toContain('circles[0].files must list two or more distinct file paths');
    });
  });
});

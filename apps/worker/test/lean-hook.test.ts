import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

const DIST = join(ROOT, 'dist');
const BUILTIN = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Static imports only (`import x from "y"`, `export … from "y"`): what loads before the code runs. */
function staticImports(file: string): string[] {
  const text = readFileSync(join(DIST, file), 'utf8');
  return [...text.matchAll(/^(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|^import\s*["']([^"']+)["']/gm)].map(
    (m) => (m[1] ?? m[2])!,
  );
}

function closure(entry: string): { files: string[]; external: string[] } {
  const files = new Set<string>();
  const external = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of staticImports(file)) {
      if (spec.startsWith('./')) visit(spec.slice(2));
      else external.add(spec);
    }
  };
  visit(entry);
  return { files: [...files], external: [...external] };
}

describe('the hook fast path is lean', () => {
  it('cli.js loads only node built-ins before dispatching', () => {
    expect(closure('cli.js').external.every((spec) => BUILTIN.has(spec))).toBe(true);
  });

  it('the hook module statically loads only node built-ins: no MCP SDK, no lock, no breaker', () => {
    const cli = readFileSync(join(DIST, 'cli.js'), 'utf8');
    const hookChunk = /import\("\.\/(hook-[\w-]+\.js)"\)/.exec(cli)?.[1];
    expect(hookChunk).toBeDefined();
    const { files, external } = closure(hookChunk!);
    expect(external.filter((spec) => !BUILTIN.has(spec))).toEqual([]);
    for (const file of files) {
      const text = readFileSync(join(DIST, file), 'utf8');
      expect(text, file).not.toContain('@modelcontextprotocol');
    }
    // The slow path is a dynamic import, and that is where spawn-mutex and the breaker live.
    const hookText = readFileSync(join(DIST, hookChunk!), 'utf8');
    const launcher = /import\("\.\/(launcher-[\w-]+\.js)"\)/.exec(hookText)?.[1];
    expect(launcher).toBeDefined();
    const slow = closure(launcher!).external;
    expect(slow).toEqual(expect.arrayContaining(['@spawnguard/spawn-mutex', '@spawnguard/circuit-breaker']));
    expect(slow.some((spec) => spec.startsWith('@modelcontextprotocol'))).toBe(false);
  });
});

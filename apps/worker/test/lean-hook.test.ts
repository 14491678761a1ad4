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

/** esbuild heads each bundled module with a `// <path>` comment: that is how a chunk says what it carries. */
function carries(files: string[], pathPart: string): boolean {
  return files.some((file) =>
    readFileSync(join(DIST, file), 'utf8')
      .split('\n')
      .some((line) => line.startsWith('// ') && line.includes(`/${pathPart}`)),
  );
}

describe('the hook fast path is lean', () => {
  it('cli.js loads only node built-ins before dispatching; the bundle imports nothing from node_modules', () => {
    expect(closure('cli.js').external.every((spec) => BUILTIN.has(spec))).toBe(true);
  });

  it('the hook module statically loads no MCP SDK, no lock, no breaker', () => {
    const cli = readFileSync(join(DIST, 'cli.js'), 'utf8');
    const hookChunk = /import\("\.\/(hook-[\w-]+\.js)"\)/.exec(cli)?.[1];
    expect(hookChunk).toBeDefined();
    const { files, external } = closure(hookChunk!);
    expect(external.filter((spec) => !BUILTIN.has(spec))).toEqual([]);
    for (const heavy of ['@modelcontextprotocol', 'spawn-mutex', 'circuit-breaker', 'proper-lockfile', 'zod']) {
      expect(carries(files, heavy), heavy).toBe(false);
    }
    // The slow path is a dynamic import, and that is where spawn-mutex and the breaker live.
    const hookText = readFileSync(join(DIST, hookChunk!), 'utf8');
    const launcher = /import\("\.\/(launcher-[\w-]+\.js)"\)/.exec(hookText)?.[1];
    expect(launcher).toBeDefined();
    const slow = closure(launcher!);
    expect(slow.external.filter((spec) => !BUILTIN.has(spec))).toEqual([]);
    expect(carries(slow.files, 'spawn-mutex')).toBe(true);
    expect(carries(slow.files, 'circuit-breaker')).toBe(true);
    expect(carries(slow.files, '@modelcontextprotocol')).toBe(false);
  });

  it('the daemon is bundled and loads the MCP code only on first use: the host, never the SDK Client or McpServer', async () => {
    const cli = readFileSync(join(DIST, 'cli.js'), 'utf8');
    const daemonChunk = /import\("\.\/(boot-[\w-]+\.js)"\)/.exec(cli)?.[1];
    expect(daemonChunk).toBeDefined();
    const { files, external } = closure(daemonChunk!);
    expect(external.filter((spec) => !BUILTIN.has(spec))).toEqual([]);
    // An idle daemon carries no SDK: the host, its client and the HTTP transport load on first use.
    expect(carries(files, '@modelcontextprotocol')).toBe(false);
    const daemonText = readFileSync(join(DIST, daemonChunk!), 'utf8');
    const hosting = /import\("\.\/(host-[\w-]+\.js)"\)/.exec(daemonText)?.[1];
    expect(hosting).toBeDefined();
    const lazy = closure(hosting!);
    expect(carries(lazy.files, 'packages/mcp-host')).toBe(true);
    // /search speaks JSON-RPC to the host in process: no SDK Client (and no ajv) in the daemon.
    expect(carries(lazy.files, '@modelcontextprotocol/sdk/dist/esm/client')).toBe(false);
    expect(carries(lazy.files, 'ajv')).toBe(false);
    expect(carries(lazy.files, '@modelcontextprotocol/sdk/dist/esm/server/mcp.js')).toBe(false);
    // The HTTP transport (and hono under it) loads with the first /mcp session, not with /search.
    expect(carries(lazy.files, '@modelcontextprotocol/sdk/dist/esm/server/streamableHttp.js')).toBe(false);
    expect(carries(lazy.files, '@hono/node-server')).toBe(false);
  });
});

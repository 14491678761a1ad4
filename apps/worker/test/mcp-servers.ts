import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The bin script of an npm package, resolved through its package.json (never npx). */
export function binOf(pkg: string): string {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve(`${pkg}/package.json`);
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8')) as { bin: string | Record<string, string> };
  return join(dirname(manifest), typeof bin === 'string' ? bin : Object.values(bin)[0]!);
}

/** Real MCP servers from npm (devDependencies), started with process.execPath and their bin path. */
export const EVERYTHING = binOf('@modelcontextprotocol/server-everything');
export const MEMORY = binOf('@modelcontextprotocol/server-memory');

import { rmSync } from 'node:fs';
import { defineConfig } from 'tsup';

// Two builds share dist/: clean it once here rather than letting each build wipe the other's output.
rmSync('dist', { recursive: true, force: true });

export default defineConfig([
  {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    clean: false,
    sourcemap: false,
    target: 'node20',
    noExternal: ['@spawnguard/internal'],
  },
  {
    // The CLI: ESM only, executable.
    entry: { cli: 'src/cli.ts' },
    format: ['esm'],
    dts: false,
    clean: false,
    sourcemap: false,
    target: 'node20',
    noExternal: ['@spawnguard/internal'],
    banner: { js: '#!/usr/bin/env node' },
  },
]);

import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/cli.ts', 'src/helper-server.ts'],
  format: ['esm'],
  dts: false,
  clean: true,
  target: 'node20',
  banner: { js: '#!/usr/bin/env node' },
});

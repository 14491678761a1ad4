import { defineConfig, type Options } from 'tsup';

const shared: Options = {
  format: ['esm'],
  dts: false,
  target: 'node20',
  noExternal: [/.*/],
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __sgCreateRequire } from 'node:module';\nconst require = __sgCreateRequire(import.meta.url);",
  },
};

export default defineConfig([
  { ...shared, entry: ['src/cli.ts'], clean: true },
  { ...shared, entry: { 'helper-server': 'src/helper/helper-server.ts' }, clean: false },
]);

#!/usr/bin/env bash
# Scaffold packages/<name> with the shared build, test and packaging setup.
set -euo pipefail
name="$1"; desc="$2"; dir="packages/$name"
mkdir -p "$dir/src" "$dir/test"
cat > "$dir/package.json" <<JSON
{
  "name": "@spawnguard/$name",
  "version": "0.0.0",
  "description": "$desc",
  "license": "MIT",
  "type": "module",
  "sideEffects": false,
  "engines": { "node": ">=20.19" },
  "main": "./dist/index.cjs",
  "module": "./dist/index.js",
  "types": "./dist/index.d.cts",
  "exports": {
    ".": {
      "import": { "types": "./dist/index.d.ts", "default": "./dist/index.js" },
      "require": { "types": "./dist/index.d.cts", "default": "./dist/index.cjs" }
    },
    "./package.json": "./package.json"
  },
  "files": ["dist", "README.md"],
  "keywords": ["spawn", "daemon", "process", "storm"],
  "scripts": {
    "build": "tsup",
    "typecheck": "tsc -p tsconfig.json",
    "test": "vitest run",
    "check:packages": "node ../../scripts/check-package.mjs"
  },
  "publishConfig": { "access": "public" }
}
JSON
cat > "$dir/tsconfig.json" <<'JSON'
{
  "extends": "../../tsconfig.base.json",
  "include": ["src", "test", "tsup.config.ts", "vitest.config.ts"]
}
JSON
cat > "$dir/tsup.config.ts" <<'TS'
import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: false,
  target: 'node20',
});
TS
cat > "$dir/vitest.config.ts" <<'TS'
import { defineConfig } from 'vitest/config';
import { sharedTestConfig } from '../../scripts/vitest-shared.ts';

export default defineConfig(sharedTestConfig(import.meta.dirname));
TS
[ -f "$dir/src/index.ts" ] || echo "export {};" > "$dir/src/index.ts"
# The licence text ships in the tarball (the gate checks it).
cp "$(dirname "$0")/../LICENSE" "$dir/LICENSE"
# Registry metadata (repository with directory, homepage, bugs, keywords, files with CHANGELOG.md).
node "$(dirname "$0")/package-metadata.mjs" "$dir"
echo "scaffolded $dir"
echo "still to write: $dir/smoke.cjs (the packaging gate calls it), a README with an Example block, and its"
echo "entry in scripts/readme-examples.mjs (the release rehearsal runs that example)"

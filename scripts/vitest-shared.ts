import { join } from 'node:path';
import type { ViteUserConfig } from 'vitest/config';

/**
 * One test setup for every package: real processes, serial files (process-counting tests must
 * not overlap), and a JSON report that `.ci/run` sums into its `N passed, N failed` line (per Node version).
 */
export function sharedTestConfig(dir: string): ViteUserConfig {
  // One report per Node major (CI runs the suite on several, each first on PATH): the report names the
  // Node vitest really runs on, which is also process.execPath of every child a test spawns.
  const major = process.versions.node.split('.')[0];
  return {
    test: {
      include: ['test/**/*.test.ts'],
      fileParallelism: false,
      testTimeout: 30_000,
      hookTimeout: 30_000,
      reporters: ['default', 'json'],
      outputFile: { json: join(dir, 'test-results', `vitest-node${major}.json`) },
    },
  };
}

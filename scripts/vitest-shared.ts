import { join } from 'node:path';
import type { ViteUserConfig } from 'vitest/config';

/**
 * One test setup for every package: real processes, serial files (process-counting tests must
 * not overlap), and a JSON report that `.ci/run` sums into its `N passed, N failed` line.
 */
export function sharedTestConfig(dir: string): ViteUserConfig {
  return {
    test: {
      include: ['test/**/*.test.ts'],
      fileParallelism: false,
      testTimeout: 30_000,
      hookTimeout: 30_000,
      reporters: ['default', 'json'],
      outputFile: { json: join(dir, 'test-results', 'vitest.json') },
    },
  };
}

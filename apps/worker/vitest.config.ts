import { defineConfig } from 'vitest/config';
import { sharedTestConfig } from '../../scripts/vitest-shared.ts';

const shared = sharedTestConfig(import.meta.dirname);

// End-to-end tests run the built CLI (dist/cli.js) as real processes: build it once first.
export default defineConfig({
  ...shared,
  test: { ...shared.test, globalSetup: ['./test/global-setup.ts'] },
});

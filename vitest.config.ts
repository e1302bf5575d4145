import { defineConfig } from 'vitest/config';

// One runner for everything: unit tests (test/), GPU kernel tests in Node via Dawn (test/),
// and browser tests that drive Debian's Chromium through playwright-core (e2e/).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'e2e/**/*.test.ts'],
    // Dawn (native addon) must live in a real process, not a worker thread; one GPU file at a time
    // keeps lavapipe (a CPU rasterizer on 2 cores) from thrashing.
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    setupFiles: ['test/setup.ts'],
  },
});

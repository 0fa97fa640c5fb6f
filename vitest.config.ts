// Test projects: unit (pure code next to its source) and properties (one file per invariant).
// VM suites run only with HIBFUZZ_VM=1 (see Makefile: test-vm, smoke).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['spec/**/*.test.ts', 'impl/**/*.test.ts', 'fuzz/**/*.test.ts', 'vm/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'properties',
          include: ['properties/**/*.property.ts', 'properties/**/*.test.ts'],
          setupFiles: ['properties/setup.ts'],
          testTimeout: 120_000,
        },
      },
    ],
  },
});

// Test projects: unit (pure code next to its source) and properties (one file per invariant).
// VM suites run only with HIBFUZZ_VM=1 (see Makefile: test-vm, smoke).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    passWithNoTests: true,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['spec/**/*.test.ts', 'impl/**/*.test.ts', 'fuzz/**/*.test.ts', 'vm/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        // Real QEMU: only with HIBFUZZ_VM=1 (make test-smoke / make test-vm); serial, long timeouts.
        test: {
          name: 'vm',
          include:
            process.env.HIBFUZZ_VM !== '1'
              ? []
              : process.env.HIBFUZZ_VM_SUITE === 'smoke'
                ? ['vm/smoke.vmtest.ts', 'vm/kjump/smoke.vmtest.ts', 'fuzz/thesis.vmtest.ts']
                : process.env.HIBFUZZ_VM_SUITE === 'gate' || process.env.HIBFUZZ_VM_SUITE === 'gate-smoke'
                  ? ['fuzz/gate.vmtest.ts']
                  : ['vm/**/*.vmtest.ts', 'fuzz/**/*.vmtest.ts'],
          testTimeout: 1_800_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
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

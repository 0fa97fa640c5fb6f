// The test run Stryker judges mutants with (stryker.config.mjs, make mutation): only the properties that judge
// generated scenarios (every invariant suite, the outcome oracle, the refinement, properties/mutants/), with a fixed
// seed and run count; inside those files every test that is not a judge is skipped (properties/mutants/setup.ts).
// Not a project of vitest.config.ts: make test never runs it.
import { defineConfig } from 'vitest/config';

export const MUTATION_SEED = 0x5eed;
export const MUTATION_RUNS = 60;

export default defineConfig({
  test: {
    include: [
      'properties/invariants/*.property.ts',
      'properties/model/ImplRefinesSpec.property.ts',
      'properties/mutants/*.property.ts',
    ],
    setupFiles: ['properties/setup.ts', 'properties/mutants/setup.ts'],
    env: { HIBFUZZ_SEED: String(MUTATION_SEED), HIBFUZZ_RUNS: String(MUTATION_RUNS) },
    testTimeout: 120_000,
  },
});

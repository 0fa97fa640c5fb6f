// Mutation testing of the reference implementation and the machine model (make mutation; docs/mutation.md).
// A mutant is killed only by a judging property (vitest.mutation.config.ts). FILES (space-separated paths or globs)
// narrows the files mutated; the incremental file in out/ makes a repeated run re-test only what changed.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const files = (process.env.FILES ?? '').split(/\s+/).filter((f) => f !== '');
// The incremental file is named after what decides a verdict (this file, the vitest config, the setup file), so a
// change there starts from scratch instead of reusing verdicts reached under other rules.
const rules = createHash('sha256');
for (const f of ['stryker.config.mjs', 'vitest.mutation.config.ts', 'properties/mutants/setup.ts']) {
  rules.update(readFileSync(new URL(f, import.meta.url)));
}
const all = ['impl/**/*.ts', 'spec/model/**/*.ts'];

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  mutate: [...(files.length > 0 ? files : all), '!**/*.test.ts'],
  coverageAnalysis: 'perTest',
  concurrency: Number(process.env.STRYKER_CONCURRENCY ?? 2),
  incremental: true,
  incrementalFile: `out/mutation/incremental-${rules.digest('hex').slice(0, 12)}.json`,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  ignorePatterns: ['out', 'corpus', 'dist', '.cache', '.stryker-tmp*'],
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: 'out/mutation/mutation.json' },
  htmlReporter: { fileName: 'out/mutation/mutation.html' },
  clearTextReporter: { allowColor: false, logTests: false },
  thresholds: { high: 90, low: 80, break: null },
  // A mutant that hangs (an infinite loop) is only stopped by this timeout; the margin is wide because the machine is
  // shared, and a too-short one turned slow survivors into "Timeout" (counted as detected: docs/mutation.md).
  timeoutMS: 30_000,
  timeoutFactor: 3,
  dryRunTimeoutMinutes: 20,
};

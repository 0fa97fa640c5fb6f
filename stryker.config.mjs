// Mutation testing of the reference implementation and the machine model (make mutation; docs/mutation.md).
// A mutant is killed only by a judging property (vitest.mutation.config.ts). FILES (space-separated paths or globs)
// narrows the files mutated; the incremental file in out/ makes a repeated run re-test only what changed.
const files = (process.env.FILES ?? '').split(/\s+/).filter((f) => f !== '');
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
  incrementalFile: 'out/mutation/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  ignorePatterns: ['out', 'corpus', 'dist', '.cache', '.stryker-tmp*'],
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: 'out/mutation/mutation.json' },
  htmlReporter: { fileName: 'out/mutation/mutation.html' },
  clearTextReporter: { allowColor: false, logTests: false },
  thresholds: { high: 90, low: 80, break: null },
  timeoutMS: 10_000,
  timeoutFactor: 1.5,
};

// Seeds for every property: fixed in CI (HIBFUZZ_SEED, default below), run counts from HIBFUZZ_RUNS. Each test
// draws from its own seed, derived from HIBFUZZ_SEED and the test's title (testSeed), so two suites over the same
// arbitrary do not draw the same scenarios: with one seed for all, every invariant suite of a protocol met the same
// 60 machines and workloads, only the fault steps differed. fast-check's failure message carries the derived seed
// and the counterexample path; the same HIBFUZZ_SEED reproduces it.
import fc from 'fast-check';
import { beforeEach } from 'vitest';

const seed = Number(process.env.HIBFUZZ_SEED ?? 0x5eed);
const numRuns = Number(process.env.HIBFUZZ_RUNS ?? 60);
if (!Number.isInteger(seed) || !Number.isInteger(numRuns) || numRuns < 1) {
  throw new Error(
    `HIBFUZZ_SEED / HIBFUZZ_RUNS must be integers (got ${process.env.HIBFUZZ_SEED}, ${process.env.HIBFUZZ_RUNS})`,
  );
}

/** The seed of one test: FNV-1a (32-bit) of its title, xor the run's seed. */
export function testSeed(base: number, title: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < title.length; i++) h = Math.imul(h ^ title.charCodeAt(i), 0x01000193);
  return (h ^ base) | 0;
}

fc.configureGlobal({ seed, numRuns, endOnFailure: false });
beforeEach((ctx) => {
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: testSeed(seed, ctx.task.name) });
});

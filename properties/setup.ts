// Seeds for every property: fixed in CI (HIBFUZZ_SEED, default below), run counts from HIBFUZZ_RUNS. fast-check's
// failure message carries the seed and the counterexample path; replay with HIBFUZZ_SEED=<seed>.
import fc from 'fast-check';

const seed = Number(process.env.HIBFUZZ_SEED ?? 0x5eed);
const numRuns = Number(process.env.HIBFUZZ_RUNS ?? 60);
if (!Number.isInteger(seed) || !Number.isInteger(numRuns) || numRuns < 1) {
  throw new Error(
    `HIBFUZZ_SEED / HIBFUZZ_RUNS must be integers (got ${process.env.HIBFUZZ_SEED}, ${process.env.HIBFUZZ_RUNS})`,
  );
}
fc.configureGlobal({ seed, numRuns, endOnFailure: false });

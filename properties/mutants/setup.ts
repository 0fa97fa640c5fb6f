// Setup file of the mutation runs (vitest.mutation.config.ts, after properties/setup.ts). Every test that is not a
// judge (properties/mutants/judges.ts) is skipped before its body runs, so it neither covers nor kills a mutant.
// A failing property ends at its first counterexample (no shrinking): a killed mutant then ends in seconds instead
// of shrinking past Stryker's timeout, and a Timeout is left to mutants that really hang (docs/mutation.md).
import fc from 'fast-check';
import { beforeEach } from 'vitest';
import { isJudge } from './judges.ts';

fc.configureGlobal({ ...fc.readConfigureGlobal(), endOnFailure: true });

beforeEach((ctx) => {
  if (!isJudge(ctx.task.name))
    ctx.skip('not a judge: a mutant is killed only by an invariant, the refinement or the outcome oracle');
});

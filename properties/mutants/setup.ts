// Setup file of the mutation runs (vitest.mutation.config.ts, after properties/setup.ts): every test that is not a
// judge (properties/mutants/judges.ts) is skipped before its body runs, so it neither covers nor kills a mutant.
import { beforeEach } from 'vitest';
import { isJudge } from './judges.ts';

beforeEach((ctx) => {
  if (!isJudge(ctx.task.name))
    ctx.skip('not a judge: a mutant is killed only by an invariant, the refinement or the outcome oracle');
});

// Which tests may kill a mutant (vitest.mutation.config.ts): only a property that judges generated scenarios
// through an invariant monitor, the outcome oracle (OutcomeAllowed is one of the invariants) or the refinement
// (ImplRefinesSpec). Their titles read "<Name> holds (...)" with Name one of those. Every other test in the
// included files (a planted bug still caught, a unit pin of a code detail) is skipped, so a mutant that only stops
// a test from seeing a plant counts as surviving.
import { CLAIM_NAMES } from '../../spec/index.ts';

export const JUDGES: readonly string[] = [...CLAIM_NAMES, 'ImplRefinesSpec'];

/** Whether the test titled `title` judges scenarios (and so may kill a mutant). */
export function isJudge(title: string): boolean {
  const m = /^(\S+) holds\b/.exec(title);
  return m !== null && JUDGES.includes(m[1] as string);
}

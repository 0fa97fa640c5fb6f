// The scenario arbitrary generates more than one hibernate/resume cycle: a noresume boot before the first
// hibernation, a failed hibernation followed by another in the same boot, and a second cycle after a resume; the
// model runs each to the outcomes the shape is for.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runAndJudge } from '../../impl/index.ts';
import { parseScenario, type StepOutcome } from '../../spec/index.ts';
import { scenarioArb } from './scenario.ts';

describe('several cycles per scenario', () => {
  it('bootFirst, failThenRetry and twoCycles each reach their outcomes in 1000 scenarios', () => {
    const seen = { bootFirst: 0, failThenRetry: 0, twoCycles: 0 };
    for (const x of fc.sample(scenarioArb({ faults: ['none'] }), { seed: 3, numRuns: 1000 })) {
      const p = parseScenario(x);
      if (!p.ok) throw new Error(p.error);
      const r = runAndJudge(p.scenario);
      if (!r.ok) continue;
      const o = r.observation.steps;
      const is = (st: StepOutcome | undefined, op: string, result?: string) =>
        st?.op === op && (result === undefined || ('result' in st && st.result === result));
      if (is(o[0], 'bootNoresume') && o.some((st) => is(st, 'hibernate', 'poweredOff'))) seen.bootFirst++;
      const failed = o.findIndex((st) => is(st, 'hibernate', 'failed'));
      if (failed >= 0 && is(o[failed + 1], 'hibernate', 'poweredOff')) seen.failThenRetry++;
      if (o.filter((st) => is(st, 'resume', 'resumed')).length >= 2) seen.twoCycles++;
      expect(r.judgement.unexpected).toEqual([]);
    }
    expect(seen.bootFirst).toBeGreaterThan(5);
    expect(seen.failThenRetry).toBeGreaterThan(5);
    expect(seen.twoCycles).toBeGreaterThan(5);
  });
});

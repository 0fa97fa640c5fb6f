// Coverage of the formulas' boundaries: the default scenario arbitrary meets each at n-1, n and n+1, and the
// campaign's summary names the ones a run set did not reach.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runAndJudge } from '../impl/index.ts';
import { scenarioArb } from '../properties/arbitraries/scenario.ts';
import { parseScenario, type RunTrace } from '../spec/index.ts';
import { addRun, boundariesOf, coverageLines, KNOWN_BOUNDARIES, newCoverage } from './coverage.ts';

const trace = (events: RunTrace['events']) => ({ events }) as unknown as RunTrace;

describe('formula boundaries', () => {
  it('reads n-1, n, n+1 of each boundary from the phase events', () => {
    const t = trace([
      { step: 0, phase: 'preallocated', counts: { saveable: 99, maxSize: 100 } },
      { step: 0, phase: 'written', counts: { entries: 1024, streamPages: 1534, mapPages: 4, storageMargin: 1 } },
    ]);
    expect(boundariesOf(t).sort()).toEqual(['halfOfRam:-1', 'mapPage:+1', 'metaPage:0', 'storage:+1']);
    const far = trace([{ step: 0, phase: 'written', counts: { entries: 1, streamPages: 3, storageMargin: 9 } }]);
    expect(boundariesOf(far)).toEqual([]);
  });
  it('2000 scenarios of the default arbitrary meet every boundary at n-1, n and n+1, at least 0.5 % each', () => {
    const c = newCoverage();
    for (const x of fc.sample(scenarioArb(), { seed: 1, numRuns: 2000 })) {
      const p = parseScenario(x);
      if (!p.ok) throw new Error(p.error);
      const r = runAndJudge(p.scenario);
      if (r.ok) addRun(c, r.trace, r.observation, r.judgement);
    }
    const rare = KNOWN_BOUNDARIES.filter((b) => (c.boundaries.get(b) ?? 0) < 10);
    expect(rare).toEqual([]);
    expect(coverageLines(c).find((l) => l.includes('boundaries'))).toContain(`12/12`);
  });
});

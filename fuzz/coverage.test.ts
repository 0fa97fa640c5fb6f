// Coverage of the formulas' boundaries: the default scenario arbitrary meets each at n-1, n and n+1, and the
// campaign's summary names the ones a run set did not reach.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runAndJudge } from '../impl/index.ts';
import { scenarioArb } from '../properties/arbitraries/scenario.ts';
import { parseScenario, type RunTrace } from '../spec/index.ts';
import { addRun, boundariesOf, coverageLines, KNOWN_BOUNDARIES, newCoverage } from './coverage.ts';

const trace = (events: RunTrace['events']) => ({ events, records: [] }) as unknown as RunTrace;

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
  it('reads restoreSafe from the resume record: safe frames the loader needs - those it has', () => {
    // Arrange: 256 RAM frames (no PC holes below 512 frames), the restore kernel on the region's 16 frames, which
    // hold no image frame: 256 - 16 - 5 = 235 saved pages leave exactly the 5 restore frames as safe frames
    const cases = [
      [234, 'restoreSafe:-1', 'resumed'],
      [235, 'restoreSafe:0', 'resumed'],
      [236, 'restoreSafe:+1', 'refused'],
    ] as const;
    for (const [anon, boundary, result] of cases) {
      const p = parseScenario({
        version: 1,
        id: 'safe',
        machine: { memPages: 256 },
        workload: { anon },
        protocol: { kind: 'kexec', reservation: 'bootReserved', saveKernelPages: 16, loaderPages: 16 },
        storage: { pages: 400 },
        steps: [{ op: 'hibernate' }, { op: 'resume', e820Changed: false }],
      });
      if (!p.ok) throw new Error(p.error);
      // Act
      const r = runAndJudge(p.scenario);
      if (!r.ok) throw new Error('run failed');
      // Assert
      expect(boundariesOf(r.trace)).toEqual([boundary]);
      expect(r.trace.records.at(-1)?.outcome).toMatchObject({ op: 'resume', result });
      expect(r.judgement.unexpected).toEqual([]);
    }
  });
  // the rarest boundaries (metaPage:+1, mapPage:±1) come about 15 times in 2000 (one edge kind in 27, one delta in
  // 3): 4000 draws keep a floor of 12 well below their mean of about 30 whatever else the arbitrary draws
  it('4000 scenarios of the default arbitrary meet every boundary at n-1, n and n+1, at least 0.3 % each', () => {
    const c = newCoverage();
    for (const x of fc.sample(scenarioArb(), { seed: 1, numRuns: 4000 })) {
      const p = parseScenario(x);
      if (!p.ok) throw new Error(p.error);
      const r = runAndJudge(p.scenario);
      if (r.ok) addRun(c, r.trace, r.observation, r.judgement);
    }
    const rare = KNOWN_BOUNDARIES.filter((b) => (c.boundaries.get(b) ?? 0) < 12);
    expect(rare).toEqual([]);
    expect(coverageLines(c).find((l) => l.includes('boundaries'))).toContain(`15/15`);
  });
});

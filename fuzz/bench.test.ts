import { describe, expect, it } from 'vitest';
import { defaultParts, runAndJudge } from '../impl/index.ts';
import { parseScenario, type Scenario } from '../spec/index.ts';
import { cycleScenario, incompleteStep } from './bench.ts';

const stepsOf = (s: Scenario) => {
  const r = runAndJudge(s, defaultParts);
  if (!r.ok) throw new Error(r.error);
  return r.observation.steps;
};

describe('bench cycle', () => {
  it("the quick bench's 64 MiB machine completes its cycle: it powers off and resumes", () => {
    expect(incompleteStep(stepsOf(cycleScenario(16384)))).toBeUndefined();
  });

  it('every cycle of a several-cycle row completes: storage for one image, a resumed kernel holds no slot', () => {
    expect(incompleteStep(stepsOf(cycleScenario(16384, 3)))).toBeUndefined();
  });

  it('a cycle that does not complete is named, so benchCycle refuses to time it', () => {
    // the quick bench's scenario before the fix: a 4096-frame save kernel and loader on 16384 frames
    const s = cycleScenario(16384);
    const p = parseScenario({ ...s, protocol: { ...s.protocol, saveKernelPages: 4096, loaderPages: 4096 } });
    if (!p.ok) throw new Error(p.error);
    expect(incompleteStep(stepsOf(p.scenario))).toBe('hibernate failed');
  });
});

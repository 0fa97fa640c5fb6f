// Unit tests of the scenario shrinker: it minimises while the failure holds, terminates, and respects maxEvals.
import { describe, expect, it } from 'vitest';
import { runAndJudge } from '../impl/index.ts';
import { PLANTS, plantByName } from '../properties/__fixtures__/plants.ts';
import { parseScenario, type Scenario } from '../spec/index.ts';
import { candidates, shrinkScenario, size, smaller } from './shrink.ts';

const parsed = (x: unknown): Scenario => {
  const p = parseScenario(x);
  if (!p.ok) throw new Error(p.error);
  return p.scenario;
};

describe('shrinkScenario', () => {
  it('minimises a plant witness to a smaller scenario that still shows the same invariant', () => {
    // Arrange
    const plant = plantByName('pack-pfns-drops-last');
    if (plant === undefined) throw new Error('plant missing');
    const s = parsed(plant.witness);
    const fails = (x: Scenario) => {
      const r = runAndJudge(x, plant.parts);
      return r.ok && r.judgement.unexpected.some((v) => v.invariant === 'EveryPageSavedOnce');
    };
    expect(fails(s)).toBe(true);
    // Act
    const r = shrinkScenario(s, fails);
    // Assert
    expect(fails(r.scenario)).toBe(true);
    expect(r.scenario.machine.memPages).toBeLessThan(s.machine.memPages);
    expect(r.scenario.steps.length).toBeLessThanOrEqual(s.steps.length);
    expect(smaller(size(r.scenario), size(s))).toBe(true);
  });

  it('returns the input unchanged when nothing smaller fails', () => {
    const s = parsed(PLANTS[0]?.witness);
    const r = shrinkScenario(s, () => false);
    expect(r.scenario).toBe(s);
    expect(r.accepted).toBe(0);
    expect(r.evals).toBeGreaterThan(0);
  });

  it('stops after maxEvals candidate runs', () => {
    const s = parsed(PLANTS[0]?.witness);
    let calls = 0;
    shrinkScenario(
      s,
      () => {
        calls++;
        return false;
      },
      5,
    );
    expect(calls).toBe(5);
  });

  it('every candidate differs from its source (no no-op candidates that waste runs)', () => {
    const s = parsed(PLANTS[1]?.witness);
    for (const c of candidates(s)) expect(JSON.stringify(c)).not.toBe(JSON.stringify(s));
  });
});

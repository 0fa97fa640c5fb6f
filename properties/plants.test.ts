// The planted bugs themselves: every invariant has at least one, names are unique, and on the correct model each
// witness scenario holds (so a plant's failure is the plant's doing, not the scenario's).
import { describe, expect, it } from 'vitest';
import { runAndJudge } from '../impl/index.ts';
import { INVARIANT_NAMES, parseScenario } from '../spec/index.ts';
import { PLANTS } from './__fixtures__/plants.ts';

describe('planted bugs', () => {
  it('cover every invariant', () => {
    const covered = new Set(PLANTS.map((p) => p.invariant));
    expect(INVARIANT_NAMES.filter((n) => !covered.has(n))).toEqual([]);
  });
  it('have unique names and descriptions', () => {
    expect(new Set(PLANTS.map((p) => p.name)).size).toBe(PLANTS.length);
    for (const p of PLANTS) expect(p.description.length).toBeGreaterThan(10);
  });
  for (const p of PLANTS) {
    it(`witness of ${p.name} holds on the correct model and fails with the plant`, () => {
      const s = parseScenario(p.witness);
      if (!s.ok) throw new Error(s.error);
      const good = runAndJudge(s.scenario);
      const bad = runAndJudge(s.scenario, p.parts);
      if (!good.ok || !bad.ok) throw new Error('witness does not fit');
      expect(good.judgement.unexpected).toEqual([]);
      expect(bad.judgement.unexpected.map((v) => v.invariant)).toContain(p.invariant);
    });
  }
});

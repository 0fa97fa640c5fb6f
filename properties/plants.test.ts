// The planted bugs themselves: every invariant has at least one, names are unique, and on the correct model each
// witness scenario holds (so a plant's failure is the plant's doing, not the scenario's).
import { describe, expect, it } from 'vitest';
import { runAndJudge } from '../impl/index.ts';
import {
  type HibernateRecord,
  INVARIANT_NAMES,
  invariantInfo,
  parseScenario,
  type ResumeRecord,
  type RunTrace,
} from '../spec/index.ts';
import { PLANTS, plantByName } from './__fixtures__/plants.ts';

/** The trace of a plant's witness run with the plant swapped in. */
function plantTrace(name: string): RunTrace {
  const p = plantByName(name);
  const s = p === undefined ? undefined : parseScenario(p.witness);
  if (p === undefined || s === undefined || !s.ok) throw new Error(`no witness for ${name}`);
  const r = runAndJudge(s.scenario, p.parts);
  if (!r.ok) throw new Error('witness does not fit');
  return r.trace;
}
const hib = (t: RunTrace) => t.records.find((r): r is HibernateRecord => r.kind === 'hibernate');
const res = (t: RunTrace) => t.records.find((r): r is ResumeRecord => r.kind === 'resume');

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
  // Why these tests? The plants below lie in the implementation's bookkeeping; the monitors that read it passed them.
  // Each test pins the lie (the bookkeeping is clean), so the plant's failure above is the memory-derived check's.
  describe('plants whose bookkeeping is clean', () => {
    it('loader-claims-busy-frames: every frame the loader wrote is in its allocated map', () => {
      const l = res(plantTrace('loader-claims-busy-frames'))?.load;
      expect(l).toBeDefined();
      const unowned = l?.written.findIndex((w, p) => w > 0 && l.allocated[p] === 0);
      expect(unowned).toBe(-1);
    });
    it('jump-back-bounce-copy: the copy counter says zero image copies', () => {
      expect(hib(plantTrace('jump-back-bounce-copy'))?.copies.image).toBe(0);
    });
    it('save-kernel-scratch-outside: the save kernel reports writes inside its region only', () => {
      const h = hib(plantTrace('save-kernel-scratch-outside'));
      const reg = h?.region;
      expect(reg).toBeDefined();
      const w = Array.from(h?.saveKernelWrites ?? []);
      expect(w.length).toBeGreaterThan(0);
      expect(w.filter((p) => reg === undefined || p < reg.start || p >= reg.end)).toEqual([]);
    });
  });
  // Why this test? The resume step's own flags (staleSinceImage, corruptedSinceImage) are the implementation's
  // state; a run whose step forgets to set them must still be judged from what happened (the run's steps).
  it("the stale and corrupt checks do not read the resume step's flags", () => {
    for (const [name, invariant] of [
      ['no-epoch-check', 'StaleImageNeverResumed'],
      ['crc-ignored', 'CorruptImageNeverResumed'],
    ] as const) {
      const t = plantTrace(name);
      const lying: RunTrace = {
        ...t,
        records: t.records.map((r) =>
          r.kind === 'resume' ? { ...r, staleSinceImage: false, corruptedSinceImage: false } : r,
        ),
      };
      expect(invariantInfo[invariant].check(lying).length, name).toBeGreaterThan(0);
    }
  });
});

// EveryPageSavedOnce against the system at the request (issue 10 point 7): a page the original system had when
// hibernation was requested may be missing at the image point only when it was legitimately reclaimed.
import { describe, expect, it } from 'vitest';
import { runAndJudge } from '../../impl/index.ts';
import { cloneMemory, type HibernateRecord, KIND, OWNER, parseScenario } from '../../spec/index.ts';
import { lostBeforeImage } from '../../spec/invariants/image.ts';

function hibernation(protocol: 'swsusp' | 'kexec') {
  const p = parseScenario({
    version: 1,
    id: 'loss',
    seed: 3,
    machine: { memPages: 2048 },
    workload: { anon: 100, pageCacheClean: 50, pageCacheDirty: 50, kernelText: 20 },
    protocol: { kind: protocol },
    storage: { pages: 2048 },
    steps: [{ op: 'hibernate' }],
  });
  if (!p.ok) throw new Error(p.error);
  const r = runAndJudge(p.scenario);
  if (!r.ok) throw new Error(r.error);
  const rec = r.trace.records[0] as HibernateRecord;
  if (rec.atImage === undefined) throw new Error('no image point');
  return { s: p.scenario, rec, atImage: rec.atImage };
}

const firstOf = (m: { nr: number; owner: Uint8Array; kind: Uint8Array }, kind: number) =>
  [...m.kind.keys()].find((p) => m.owner[p] === OWNER.ORIG && m.kind[p] === kind) as number;

describe('loss before the image point', () => {
  for (const proto of ['swsusp', 'kexec'] as const) {
    it(`holds on the correct model (${proto})`, () => {
      const { s, rec, atImage } = hibernation(proto);
      expect(lostBeforeImage(s, rec.before, atImage)).toBeUndefined();
    });
    it(`a dirty page-cache page dropped instead of written back is a loss; a clean one is not (${proto})`, () => {
      // Arrange: the image point as an implementation that drops page cache would leave it
      const { s, rec, atImage } = hibernation(proto);
      const dirty = cloneMemory(atImage);
      const d = firstOf(rec.before, KIND.PC_DIRTY);
      dirty.owner[d] = OWNER.FREE;
      dirty.kind[d] = KIND.FREE;
      const clean = cloneMemory(atImage);
      const c = firstOf(rec.before, KIND.PC_CLEAN);
      clean.owner[c] = OWNER.FREE;
      clean.kind[c] = KIND.FREE;
      // Act / Assert
      expect(lostBeforeImage(s, rec.before, dirty)?.message).toContain(`PFN ${d}`);
      expect(lostBeforeImage(s, rec.before, clean)).toBeUndefined();
    });
  }
  it('a page changed between the request and the image point is a loss', () => {
    const { s, rec, atImage } = hibernation('swsusp');
    const m = cloneMemory(atImage);
    const a = firstOf(rec.before, KIND.ANON);
    m.content[a] = ((m.content[a] as number) ^ 1) >>> 0;
    expect(lostBeforeImage(s, rec.before, m)?.message).toContain(`PFN ${a}`);
  });
});

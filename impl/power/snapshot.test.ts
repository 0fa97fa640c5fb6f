// Kernel formulas of snapshot.c as the model implements them.
import { describe, expect, it } from 'vitest';
import { KIND, type Memory, OWNER, PFN_END, PFN_ZERO_FLAG, parseScenario } from '../../spec/index.ts';
import { hibernatePreallocateMemory, metaPagesOf, packPfns, saveableFrames } from './snapshot.ts';

function memory(nr: number, used: number, kind: number = KIND.ANON): Memory {
  const m: Memory = { nr, content: new Uint32Array(nr), owner: new Uint8Array(nr), kind: new Uint8Array(nr) };
  for (let p = 0; p < used; p++) {
    m.owner[p] = OWNER.ORIG;
    m.kind[p] = kind;
    m.content[p] = p + 1;
  }
  return m;
}

const scenario = (memPages: number, imageSizePages?: number) => {
  const r = parseScenario({
    version: 1,
    id: 't',
    machine: { memPages },
    protocol: { kind: 'swsusp', ...(imageSizePages === undefined ? {} : { imageSizePages }) },
    storage: { pages: 8 },
    steps: [{ op: 'hibernate' }],
  });
  if (!r.ok) throw new Error(r.error);
  return r.scenario;
};

describe('pack_pfns / nr_meta_pages', () => {
  it('flags zero pages only with zero elision and counts data pages', () => {
    const pfns = Uint32Array.from([1, 2, 3]);
    const content = [0, 7, 0, 9];
    expect(packPfns(pfns, (p) => content[p] as number, true)).toEqual({
      entries: Uint32Array.from([1, 2 | PFN_ZERO_FLAG, 3]),
      dataPages: 2,
    });
    expect(packPfns(pfns, (p) => content[p] as number, false).dataPages).toBe(3);
  });
  it('puts BM_END_OF_MAP after the last entry unless the last page is full', () => {
    expect(metaPagesOf(new Uint32Array(3))[0]?.[3]).toBe(PFN_END);
    expect(metaPagesOf(new Uint32Array(512)).length).toBe(1);
    expect(metaPagesOf(new Uint32Array(512))[0]?.includes(PFN_END)).toBe(false);
    expect(metaPagesOf(new Uint32Array(513)).length).toBe(2);
  });
});

describe('hibernate_preallocate_memory', () => {
  it('fails with ENOMEM when the image would exceed half of RAM', () => {
    // Arrange: 4096 frames, 3000 in use (> half), no reclaimable cache.
    const m = memory(4096, 3000);
    // Act / Assert
    expect(hibernatePreallocateMemory(m, scenario(4096))).toEqual({ ok: false, errno: 'ENOMEM' });
  });
  it('allocates one copy frame per saveable page below the limit', () => {
    const m = memory(4096, 1000);
    const r = hibernatePreallocateMemory(m, scenario(4096));
    expect(r.ok && r.value.copyFrames.length).toBe(1000);
    expect(saveableFrames(m).length).toBe(1000);
  });
  it('drops clean page cache toward image_size', () => {
    const m = memory(4096, 1500, KIND.PC_CLEAN);
    const r = hibernatePreallocateMemory(m, scenario(4096, 500));
    expect(r.ok && r.value.dropped).toBe(1000);
  });
});

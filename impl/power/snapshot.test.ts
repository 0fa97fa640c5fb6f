// Kernel formulas of snapshot.c as the model implements them.
import { describe, expect, it } from 'vitest';
import { KIND, type Memory, OWNER, PFN_END, PFN_ZERO_FLAG, parseScenario } from '../../spec/index.ts';
import {
  hibernatePreallocateMemory,
  metaPagesOf,
  newRestoreState,
  packPfns,
  prepareImage,
  saveableFrames,
} from './snapshot.ts';

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

// Each limit at n-1, n, n+1. The limits are written here from the kernel's formulas, not taken from snapshot.ts.
describe('hibernate_preallocate_memory at the half-of-RAM limit', () => {
  /** max_size = (count - (bitmap pages + PAGES_FOR_IO)) / 2 - 2 * reserved_size, count = saveable + free. */
  const maxSize = (nr: number) => {
    const bitmaps = 2 * Math.ceil(nr / 32768); // two radix-tree leaves per 32 Ki frames
    const io = Math.min(1024, Math.floor(nr / 32)); // PAGES_FOR_IO scaled: 4 MiB, at most 1/32 of RAM
    const reserved = Math.min(256, Math.floor(nr / 64)); // reserved_size: 1 MiB, at most 1/64 of RAM
    return Math.floor((nr - (bitmaps + io)) / 2) - 2 * reserved;
  };
  for (const nr of [4096, 32768, 32769]) {
    const limit = maxSize(nr);
    it(`${nr} frames: ${limit - 1} and ${limit} saveable pages fit, ${limit + 1} is ENOMEM`, () => {
      // image_size above the limit: nothing to shrink toward, the half-of-RAM limit alone decides
      for (const [used, fits] of [
        [limit - 1, true],
        [limit, true],
        [limit + 1, false],
      ] as const) {
        const r = hibernatePreallocateMemory(memory(nr, used), scenario(nr, nr));
        expect(r.ok, `${used} of ${nr}`).toBe(fits);
        if (r.ok) expect(r.value.copyFrames.length).toBe(used);
      }
    });
  }
  it('clean page cache dropped to exactly image_size: n-1 and n need no drop beyond, n+1 drops one', () => {
    for (const [used, dropped] of [
      [499, 0],
      [500, 0],
      [501, 1],
    ] as const) {
      const r = hibernatePreallocateMemory(memory(4096, used, KIND.PC_CLEAN), scenario(4096, 500));
      expect(r.ok && r.value.dropped, `${used} cached pages toward image_size 500`).toBe(dropped);
    }
  });
});

describe('nr_meta_pages = ceil(entries / 512) at a metadata page boundary', () => {
  for (const k of [1, 2, 3]) {
    it(`${512 * k - 1}, ${512 * k}, ${512 * k + 1} entries take ${k}, ${k}, ${k + 1} pages`, () => {
      expect(metaPagesOf(new Uint32Array(512 * k - 1)).length).toBe(k);
      expect(metaPagesOf(new Uint32Array(512 * k)).length).toBe(k);
      expect(metaPagesOf(new Uint32Array(512 * k + 1)).length).toBe(k + 1);
      // BM_END_OF_MAP right after the last entry, unless the last page is full
      expect(metaPagesOf(new Uint32Array(512 * k - 1))[k - 1]?.[511]).toBe(PFN_END);
      expect(metaPagesOf(new Uint32Array(512 * k))[k - 1]?.includes(PFN_END)).toBe(false);
      expect(metaPagesOf(new Uint32Array(512 * k + 1))[k]?.[1]).toBe(PFN_END);
    });
  }
});

describe('prepare_image: safe frames = ceil(busy / PBES_PER_LINKED_PAGE) + RESTORE_CODE_FRAMES', () => {
  /** `busy` image destinations in use by the boot kernel, `safe` free frames outside the image. */
  const restore = (busy: number, safe: number) => {
    const nr = busy + safe;
    const m: Memory = { nr, content: new Uint32Array(nr), owner: new Uint8Array(nr), kind: new Uint8Array(nr) };
    const imageSet = new Uint8Array(nr);
    for (let p = 0; p < busy; p++) {
      m.owner[p] = OWNER.LOADER;
      imageSet[p] = 1;
    }
    return prepareImage(newRestoreState(m, imageSet, new Uint8Array(nr)));
  };
  for (const busy of [169, 170, 171]) {
    const need = Math.ceil(busy / 170) + 5;
    it(`${busy} busy destinations need ${need} safe frames: ${need - 1} is ENOMEM, ${need} and ${need + 1} fit`, () => {
      expect(restore(busy, need - 1)).toEqual({ ok: false, errno: 'ENOMEM' });
      expect(restore(busy, need).ok).toBe(true);
      expect(restore(busy, need + 1).ok).toBe(true);
    });
  }
});

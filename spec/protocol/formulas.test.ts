// The oracle's formulas at n-1, n, n+1 of each limit, against numbers worked out by hand from kernel/power.
import { describe, expect, it } from 'vitest';
import { parseScenario, type Scenario, type ScenarioInput } from '../scenario/schema.ts';
import { enoughSwap, preallocate, ramFrames, restoreShortfall, stream, writeEnd } from './formulas.ts';

const scenario = (memPages: number, protocol: ScenarioInput['protocol']): Scenario => {
  const p = parseScenario({
    version: 1,
    id: 'f',
    machine: { memPages },
    protocol,
    storage: { pages: 100 },
    steps: [{ op: 'hibernate' }],
  });
  if (!p.ok) throw new Error(p.error);
  return p.scenario;
};

describe('oracle formulas', () => {
  it('ramFrames: every frame but the holes; the PC holes (page 0, 640 KiB..1 MiB: 97 frames) from 512 frames on', () => {
    const s = scenario(4096, { kind: 'swsusp' });
    expect(ramFrames(s, 511)).toBe(511);
    expect(ramFrames(s, 512)).toBe(512 - 97);
    expect(ramFrames(s, 513)).toBe(513 - 97);
    // an e820 hole over the legacy hole counts each frame once; a hole is clipped at the machine's end
    const e820 = { ...s, machine: { ...s.machine, e820: [{ start: 200, pages: 100, type: 'reserved' as const }] } };
    expect(ramFrames(e820, 4096)).toBe(4096 - 97 - 44);
    expect(ramFrames(e820, 250)).toBe(200);
  });

  it('preallocate: max_size = floor((count - (2 + PAGES_FOR_IO)) / 2) - 2 * reserved, ENOMEM just above it', () => {
    // Arrange: 4096 frames: bitmap 2, PAGES_FOR_IO 128, reserved 64 → max_size = floor((4096-130)/2) - 128 = 1855
    const s = scenario(4096, { kind: 'swsusp', imageSizePages: 4096 });
    const at = (saveable: number) => preallocate(s, 4096, { saveable, free: 4096 - saveable, cleanCache: 0 });
    // Act / Assert
    expect(at(1855).maxSize).toBe(1855);
    expect(at(1854).enomem).toBe(false);
    expect(at(1855).enomem).toBe(false);
    expect(at(1856).enomem).toBe(true);
  });
  it('preallocate: clean page cache is dropped down to image_size, never further', () => {
    const s = scenario(4096, { kind: 'swsusp', imageSizePages: 1000 });
    const r = preallocate(s, 4096, { saveable: 1200, free: 2896, cleanCache: 500 });
    expect(r.dropped).toBe(200);
    expect(r.saveable).toBe(1000);
    expect(preallocate(s, 4096, { saveable: 1200, free: 2896, cleanCache: 150 }).dropped).toBe(150);
  });
  it('stream: meta pages at 512 entries, a second map page at 511 stream pages', () => {
    expect(stream(512, 0).metaPages).toBe(1);
    expect(stream(513, 0).metaPages).toBe(2);
    // 1 info + 1 meta + 508 data = 510 stream pages: one map page; 511: two
    expect(stream(508, 0).mapPages).toBe(1);
    expect(stream(509, 0).streamPages).toBe(511);
    expect(stream(509, 0).mapPages).toBe(2);
    expect(stream(10, 4)).toMatchObject({ dataPages: 6, zeroPages: 4, streamPages: 8, slots: 9, writes: 10 });
  });
  it('enough_swap: free slots after the first map page must exceed PAGES_FOR_IO + pages', () => {
    const s = scenario(4096, { kind: 'swsusp', compression: 'none' }); // PAGES_FOR_IO 128
    expect(enoughSwap(s, 128 + 10 + 1, 10)).toBe(false);
    expect(enoughSwap(s, 128 + 10 + 2, 10)).toBe(true);
  });
  it('restoreShortfall: ENOMEM exactly when entries + loader + ceil(busy / 170) + 5 exceed RAM', () => {
    // Arrange: 1000 RAM frames, a loader of 40 frames, none of them a destination: safe frames are
    // 1000 - 40 - entries, the restore code and page tables need 5, so 955 entries fit and 956 do not
    const at = (entries: number, busy = 0) => restoreShortfall({ entries, loaderFrames: 40, busy, ram: 1000 });
    // Act / Assert
    expect(at(954)).toBe(-1);
    expect(at(955)).toBe(0);
    expect(at(956)).toBe(1);
    // one busy destination costs a safe copy and a PBE list page, and frees its own frame from the count of
    // destinations: one frame less, so 954 entries fit
    expect(at(953, 1)).toBe(-1);
    expect(at(954, 1)).toBe(0);
    expect(at(955, 1)).toBe(1);
  });
  it('restoreShortfall: a second PBE list page at 171 busy destinations (170 struct pbe per page)', () => {
    const at = (busy: number) => restoreShortfall({ entries: 500, loaderFrames: 200, busy, ram: 706 });
    expect(at(169)).toBe(0);
    expect(at(170)).toBe(0);
    expect(at(171)).toBe(1);
  });
  it('writeEnd: ENOSPC exactly when slots run out, a fault only when its write comes', () => {
    const st = stream(10, 0); // 12 stream pages, 1 map page: 13 slots, 14 writes
    expect(writeEnd('kexec', st, 12, { afterSignature: false }).kind).toBe('enospc');
    expect(writeEnd('kexec', st, 13, { afterSignature: false })).toEqual({ kind: 'complete', torn: false });
    expect(writeEnd('kexec', st, 13, { ioErrorAtWrite: 13, afterSignature: false })).toEqual({ kind: 'eio', at: 14 });
    expect(writeEnd('kexec', st, 13, { ioErrorAtWrite: 14, afterSignature: false }).kind).toBe('complete');
    // swsusp signs at write 13 and flushes the last map page at 14, ignoring its error: signed but torn
    expect(writeEnd('swsusp', st, 13, { ioErrorAtWrite: 13, afterSignature: false })).toEqual({
      kind: 'complete',
      torn: true,
    });
    expect(writeEnd('swsusp', st, 13, { ioErrorAtWrite: 12, afterSignature: false }).kind).toBe('eio');
    expect(writeEnd('swsusp', st, 13, { powerLossAfterWrite: 5, afterSignature: false })).toEqual({
      kind: 'powerLost',
      writes: 5,
    });
    // a fault due after ENOSPC ended the write never fires
    expect(writeEnd('kexec', st, 6, { ioErrorAtWrite: 5, afterSignature: false }).kind).toBe('enospc');
    expect(writeEnd('kexec', st, 6, { ioErrorAtWrite: 4, afterSignature: false }).kind).toBe('eio');
  });
});

// spec/model pinned against the kernel's rules: the nosave map (e820__register_nosave_regions(): every non-RAM
// range, and the ISA hole [640 KiB, 1 MiB) = PFNs 0xa0..0xff), the initial content of each workload kind (an
// all-zero page is zero, every other page has content), and the machine layout (kernel text from the first RAM
// frame; the save kernel's region as the highest run of RAM frames). Monitors and implementation share these, so an
// error here would be invisible to both.
import { describe, expect, it } from 'vitest';
import { parseScenario, type Scenario, type ScenarioInput } from '../scenario/schema.ts';
import { initialDevice, initialMemory, LEGACY_HOLE, nosaveMap, PC_NOSAVE_PAGES, saveRegion } from './init.ts';
import { KIND, OWNER, SIG, SLOT } from './state.ts';

const scenario = (over: Partial<ScenarioInput>): Scenario => {
  const p = parseScenario({
    version: 1,
    id: 'pin',
    seed: 7,
    machine: { memPages: 1024 },
    protocol: { kind: 'swsusp' },
    storage: { pages: 64 },
    steps: [{ op: 'hibernate' }],
    ...over,
  });
  if (!p.ok) throw new Error(p.error);
  return p.scenario;
};

describe('spec/model pinned to the kernel rules', () => {
  it('nosaveMap: the BIOS page (PFN 0) and the ISA hole, PFNs 0xa0..0xff, on machines of 512 frames or more', () => {
    expect(LEGACY_HOLE).toEqual({ start: 0xa0, pages: 0x100 - 0xa0 });
    const m = nosaveMap(1024, undefined);
    // trim_bios_range(): the first 4 KiB are reserved, so PFN 0 is registered nosave ([mem 0x0-0xfff])
    expect(m[0]).toBe(1);
    expect(m[1]).toBe(0);
    expect(m[0x9f]).toBe(0);
    expect(m[0xa0]).toBe(1);
    expect(m[0xff]).toBe(1);
    expect(m[0x100]).toBe(0);
    expect(m.reduce((a, b) => a + b, 0)).toBe(1 + 96);
    expect(PC_NOSAVE_PAGES).toBe(97);
    // below 512 frames (2 MiB) the model has no ISA hole
    expect(nosaveMap(511, undefined).every((b) => b === 0)).toBe(true);
  });
  it('nosaveMap: reserved, ACPI and NVS ranges are nosave, RAM ranges are not, ranges are clipped to memory', () => {
    const m = nosaveMap(600, [
      { start: 10, pages: 2, type: 'reserved' },
      { start: 20, pages: 1, type: 'acpi' },
      { start: 30, pages: 3, type: 'nvs' },
      { start: 40, pages: 5, type: 'ram' },
      { start: 598, pages: 10, type: 'reserved' },
    ]);
    const on = [...m.keys()].filter((p) => m[p] === 1 && (p < 0xa0 || p > 0xff));
    expect(on).toEqual([0, 10, 11, 20, 30, 31, 32, 598, 599]);
    expect(m.length).toBe(600);
  });
  it('initialMemory: every kind in its exact count; zero pages are zero, every other in-use page is not', () => {
    const workload = { anon: 50, zero: 30, pageCacheClean: 20, pageCacheDirty: 10, slab: 15, kernelText: 25, dma: 5 };
    const s = scenario({ workload, machine: { memPages: 1024, e820: [{ start: 300, pages: 4, type: 'acpi' }] } });
    const r = initialMemory(s);
    if (!r.ok) throw new Error(r.error);
    const m = r.memory;
    const count = (k: number) => [...m.kind.keys()].filter((p) => m.owner[p] === OWNER.ORIG && m.kind[p] === k);
    expect(count(KIND.ANON).length).toBe(50);
    expect(count(KIND.ZERO).length).toBe(30);
    expect(count(KIND.PC_CLEAN).length).toBe(20);
    expect(count(KIND.PC_DIRTY).length).toBe(10);
    expect(count(KIND.SLAB).length).toBe(15);
    expect(count(KIND.DMA).length).toBe(5);
    for (const p of count(KIND.ZERO)) expect(m.content[p]).toBe(0);
    for (let p = 0; p < m.nr; p++) {
      if (m.owner[p] === OWNER.ORIG && m.kind[p] !== KIND.ZERO) expect(m.content[p]).not.toBe(0);
      if (m.owner[p] === OWNER.FREE) expect(m.content[p]).not.toBe(0); // stale data, never a zero page by accident
    }
    // kernel text: contiguous from the first RAM frame (PFN 1: PFN 0 is the BIOS page)
    expect(count(KIND.TEXT)).toEqual(Array.from({ length: 25 }, (_, i) => 1 + i));
    // nosave frames are NOSAVE/HOLE and nothing else is
    const nosave = nosaveMap(1024, s.machine.e820);
    for (let p = 0; p < m.nr; p++) expect(m.owner[p] === OWNER.NOSAVE).toBe(nosave[p] === 1);
    for (let p = 0; p < m.nr; p++) if (nosave[p]) expect(m.kind[p]).toBe(KIND.HOLE);
  });
  it('saveRegion: the highest run of RAM frames of the region size, never across a hole', () => {
    const kexec = { kind: 'kexec', saveKernelPages: 16 } as const;
    expect(saveRegion(scenario({ protocol: kexec }))).toEqual({ start: 1024 - 16, end: 1024 });
    const holed = scenario({
      protocol: kexec,
      machine: { memPages: 1024, e820: [{ start: 1010, pages: 1, type: 'nvs' }] },
    });
    expect(saveRegion(holed)).toEqual({ start: 1010 - 16, end: 1010 });
    const none = scenario({
      protocol: { kind: 'kexec', saveKernelPages: 220 },
      machine: { memPages: 512, e820: [{ start: 300, pages: 1, type: 'reserved' }] },
    });
    expect(saveRegion(none)).toBeUndefined(); // runs: 1..159, 256..299, 301..511: none of 220
    expect(saveRegion(scenario({}))).toBeUndefined(); // swsusp has none
  });
  it('initialDevice: a fresh swap area, SWAPSPACE2 at the offset, nothing allocated', () => {
    const d = initialDevice(scenario({ storage: { pages: 64, offset: 5 } }));
    expect(d.header.get(5)?.sig).toBe(SIG.SWAPSPACE2);
    expect(d.slot[5]).toBe(SLOT.SWAP_HEADER);
    expect(d.allocated.every((b) => b === 0)).toBe(true);
    expect(d.header.size).toBe(1);
  });
});

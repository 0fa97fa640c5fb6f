// The initial state of a scenario: memory layout (RAM and nosave holes), the workload placed in frames, and a
// fresh swap area. Pure and deterministic in the scenario (its seed).
import type { Scenario, WorkloadKind } from '../scenario/schema.ts';
import {
  type BlockDevice,
  KIND as KIND_,
  type Kind,
  type Memory,
  OWNER as OWNER_,
  SIG,
  SLOT as SLOT_,
} from './state.ts';
import { pageToken as pageToken_ } from './tokens.ts';

// Local copies: imported bindings are getters under tsx/vitest transforms, and hot loops read these.
const KIND = KIND_;
const OWNER = OWNER_;
const SLOT = SLOT_;
const pageToken = pageToken_;

/** Leftover data of a frame or storage page nobody wrote in this run: cheap, non-zero, seed dependent. */
export function staleToken(seed: number, i: number): number {
  return (Math.imul(i + 1, 0x9e3779b1) ^ seed ^ 0x5a5a5a5a) >>> 0 || 1;
}

/** Legacy PC hole [640 KiB, 1 MiB): frames 160..255 are reserved on every machine with at least 512 frames. */
export const LEGACY_HOLE = { start: 160, pages: 96 } as const;
/**
 * The BIOS page, frame 0: arch/x86/kernel/setup.c trim_bios_range() turns the first 4 KiB from RAM into reserved,
 * so e820__register_nosave_regions() registers it nosave ("Registered nosave memory: [mem 0x0-0xfff]"). The model
 * applies it with the legacy hole: on machines of at least 512 frames.
 */
export const BIOS_PAGE = 0;
/** Frames a PC of at least 512 frames never saves whatever its e820 map says: the BIOS page and the legacy hole. */
export const PC_NOSAVE_PAGES = 1 + LEGACY_HOLE.pages;

export const WORKLOAD_KIND: Readonly<Record<WorkloadKind, Kind>> = {
  anon: KIND.ANON,
  zero: KIND.ZERO,
  pageCacheClean: KIND.PC_CLEAN,
  pageCacheDirty: KIND.PC_DIRTY,
  slab: KIND.SLAB,
  kernelText: KIND.TEXT,
  dma: KIND.DMA,
};

/** Frames that are not RAM (e820 reserved/ACPI/NVS, the BIOS page and the legacy hole): nosave, never in an image. */
export function nosaveMap(memPages: number, e820: Scenario['machine']['e820']): Uint8Array {
  const m = new Uint8Array(memPages);
  if (memPages >= 512) {
    m[BIOS_PAGE] = 1;
    m.fill(1, LEGACY_HOLE.start, LEGACY_HOLE.start + LEGACY_HOLE.pages);
  }
  for (const e of e820 ?? []) if (e.type !== 'ram') m.fill(1, e.start, Math.min(memPages, e.start + e.pages));
  return m;
}

/**
 * The save kernel's region [start, end): the highest run of `saveKernelPages` contiguous RAM frames (crashkernel=
 * style placement). Undefined when memory has no such run (the load then fails with ENOMEM).
 */
export function saveRegion(s: Scenario): { start: number; end: number } | undefined {
  if (s.protocol.kind !== 'kexec') return undefined;
  const need = s.protocol.saveKernelPages;
  const nosave = nosaveMap(s.machine.memPages, s.machine.e820);
  let run = 0;
  for (let p = s.machine.memPages - 1; p >= 1; p--) {
    run = nosave[p] ? 0 : run + 1;
    if (run === need) return { start: p, end: p + need };
  }
  return undefined;
}

/** xorshift32: the only randomness of the model, always seeded from the scenario. */
export function makeRng(seed: number): () => number {
  let x = seed >>> 0 || 0x6d2b79f5;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/**
 * Memory at boot of the original kernel: kernel text first (contiguous, from the first RAM frame), then every other
 * workload kind spread over the remaining RAM (each free frame draws its kind with the remaining counts as weights,
 * so every kind is spread over all of memory). Fails with a line when the workload does not fit in RAM.
 */
export function initialMemory(s: Scenario): { ok: true; memory: Memory } | { ok: false; error: string } {
  const nr = s.machine.memPages;
  const nosave = nosaveMap(nr, s.machine.e820);
  const content = new Uint32Array(nr);
  const owner = new Uint8Array(nr);
  const kind = new Uint8Array(nr);
  let ram = 0;
  for (let p = 0; p < nr; p++) {
    if (nosave[p]) {
      owner[p] = OWNER.NOSAVE;
      kind[p] = KIND.HOLE;
    } else {
      ram++;
      content[p] = staleToken(s.seed, p); // stale data of a free frame
    }
  }
  const w = s.workload;
  const pcClean: [Kind, number] = [KIND.PC_CLEAN, w.pageCacheClean];
  const pcDirty: [Kind, number] = [KIND.PC_DIRTY, w.pageCacheDirty];
  const counts: [Kind, number][] = [
    [KIND.ANON, w.anon],
    [KIND.ZERO, w.zero],
    pcClean,
    pcDirty,
    [KIND.SLAB, w.slab],
    [KIND.DMA, w.dma],
  ];
  const used = w.kernelText + counts.reduce((a, [, c]) => a + c, 0);
  if (used > ram) return { ok: false, error: `workload: ${used} pages do not fit in ${ram} RAM frames` };
  // Boot-time reservation (crashkernel= style): the region is never given to the original kernel.
  // Page-cache reservation: the region holds only page cache (it is dropped or written back at hibernation).
  const region = saveRegion(s);
  const proto = s.protocol;
  if (region !== undefined && proto.kind === 'kexec') {
    for (let q = region.start; q < region.end; q++) {
      if (proto.reservation === 'bootReserved') owner[q] = OWNER.SAVEK;
      else if (proto.reservation === 'reclaimPageCache') {
        const c = pcClean[1] > 0 ? pcClean : pcDirty[1] > 0 ? pcDirty : undefined;
        if (c === undefined)
          owner[q] = OWNER.SAVEK; // kept out of the general placement below, handed back after
        else {
          c[1]--;
          owner[q] = OWNER.ORIG;
          kind[q] = c[0];
          content[q] = pageToken(s.seed, q, 1);
        }
      }
    }
  }
  const inRegion = (q: number) => region !== undefined && q >= region.start && q < region.end;
  let placedInRegion = 0;
  if (region !== undefined && proto.kind === 'kexec' && proto.reservation !== 'exchange') {
    for (let q = region.start; q < region.end; q++) if (owner[q] === OWNER.ORIG) placedInRegion++;
  }
  let p = 0;
  for (let t = w.kernelText; t > 0; p++) {
    if (p >= nr) return { ok: false, error: 'workload: kernel text does not fit outside the save kernel region' };
    if (owner[p] !== OWNER.FREE) continue;
    owner[p] = OWNER.ORIG;
    kind[p] = KIND.TEXT;
    content[p] = pageToken(s.seed, p, 1);
    t--;
  }
  const rng = makeRng(s.seed);
  const regionFrames =
    region !== undefined && proto.kind === 'kexec' && proto.reservation !== 'exchange' ? region.end - region.start : 0;
  let remaining = ram - w.kernelText - regionFrames;
  let left = used - w.kernelText - placedInRegion;
  if (left > remaining) return { ok: false, error: `workload: ${used} pages do not fit beside the save kernel region` };
  // Typed copies of the remaining counts: this loop runs once per frame (16 Mi frames at 64 GiB).
  const kinds = Uint8Array.from(counts.map(([k]) => k));
  const left6 = Int32Array.from(counts.map(([, c]) => c));
  const zeroKind = KIND.ZERO;
  const orig = OWNER.ORIG;
  const free = OWNER.FREE;
  const seed = s.seed;
  for (; p < nr && left > 0; p++) {
    if (owner[p] !== free || (regionFrames > 0 && inRegion(p))) continue;
    // Draw among the kinds still to place and "stay free", weighted by what remains of each.
    let r = rng() % remaining;
    remaining--;
    for (let k = 0; k < 6; k++) {
      const c = left6[k] as number;
      if (r < c) {
        left6[k] = c - 1;
        left--;
        const kd = kinds[k] as number;
        owner[p] = orig;
        kind[p] = kd;
        content[p] = kd === zeroKind ? 0 : pageToken(seed, p, 1);
        break;
      }
      r -= c;
    }
  }
  // The page-cache region's unused frames are free memory of the original kernel until hibernation.
  if (region !== undefined && proto.kind === 'kexec' && proto.reservation === 'reclaimPageCache') {
    for (let q = region.start; q < region.end; q++) if (owner[q] === OWNER.SAVEK) owner[q] = OWNER.FREE;
  }
  return { ok: true, memory: { nr, content, owner, kind } };
}

/** A freshly mkswap'ed area: the swap header page at `offset` says SWAPSPACE2; other pages hold old data. */
export function initialDevice(s: Scenario): BlockDevice {
  const nr = s.storage.pages;
  const tok = new Uint32Array(nr);
  for (let i = 0; i < nr; i++) tok[i] = staleToken(s.seed ^ 0x0badf00d, i);
  const slot = new Uint8Array(nr);
  slot[s.storage.offset] = SLOT.SWAP_HEADER;
  const header = new Map([
    [s.storage.offset, { sig: SIG.SWAPSPACE2, origSig: '', image: 0, flags: 0, crc32: 0, epoch: 0 }],
  ]);
  return {
    nr,
    tok,
    slot,
    allocated: new Uint8Array(nr),
    header,
    maps: new Map(),
    infos: new Map(),
    metas: new Map(),
    epoch: 1,
  };
}

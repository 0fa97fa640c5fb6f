// The model's machine against a real one: which frames a hibernation may save. The model's side is nosaveMap
// (spec/model/init.ts), shared by the implementation and every monitor, so an error there is invisible to both; the
// real side is what the guest's first kernel printed, which the model cannot bend: its firmware map (`BIOS-e820:`,
// e820__print_table) and the ranges it registered nosave (`PM: hibernation: Registered nosave memory:`,
// e820__register_nosave_regions: the gaps between RAM entries after trim_bios_range). Pure.
import { nosaveMap } from './model/init.ts';
import type { Scenario } from './scenario/schema.ts';

/** A half-open PFN range [start, end). */
export interface PfnRange {
  readonly start: number;
  readonly end: number;
}

/** The first kernel's machine as its console showed it; absent from an observation when a line of it tore. */
export interface MachineObservation {
  /** whole-page `usable` entries of the firmware map */
  readonly ram: readonly PfnRange[];
  /** ranges the kernel registered nosave */
  readonly nosave: readonly PfnRange[];
}

// keep-sorted start
/**
 * Differences between the model's PC and a real firmware that change no verdict, each exactly bounded:
 * firmwareEbda: SeaBIOS reserves the top 1 KiB of conventional memory (0x9fc00), so PFN 0x9f is nosave on the guest
 * and saveable in the model (whose legacy hole starts at 0xa0); firmwareTopTables: QEMU reserves its ACPI/SMBIOS
 * tables at the top of RAM below 4 GiB (35 frames at 512 MiB), above the guest's max_pfn, at most 64 frames.
 */
export const MACHINE_TOLERANCES = ['firmwareEbda', 'firmwareTopTables'] as const;
// keep-sorted end
export type MachineTolerance = (typeof MACHINE_TOLERANCES)[number];

/** The longest run of model-saveable frames at the top of RAM that firmwareTopTables may explain. */
export const FIRMWARE_TOP_TABLES_MAX_PAGES = 64;
const EBDA_PFN = 0x9f;

export interface MachineJudgement {
  readonly tolerated: readonly { readonly range: PfnRange; readonly tolerance: MachineTolerance }[];
  /** one line per difference no tolerance explains: findings */
  readonly differences: readonly string[];
}

/** The guest's saveable frames: its RAM minus what it registered nosave, as sorted disjoint ranges. */
export function saveableRanges(m: MachineObservation): PfnRange[] {
  const out: PfnRange[] = [];
  const nosave = [...m.nosave].sort((a, b) => a.start - b.start);
  for (const r of [...m.ram].sort((a, b) => a.start - b.start)) {
    let at = r.start;
    for (const n of nosave) {
      if (n.end <= at || n.start >= r.end) continue;
      if (n.start > at) out.push({ start: at, end: n.start });
      at = Math.max(at, n.end);
    }
    if (at < r.end) out.push({ start: at, end: r.end });
  }
  return out;
}

/** Maximal runs of frames where `pred` holds, over [0, n). */
function runs(n: number, pred: (p: number) => boolean): PfnRange[] {
  const out: PfnRange[] = [];
  let start = -1;
  for (let p = 0; p <= n; p++) {
    const on = p < n && pred(p);
    if (on && start < 0) start = p;
    if (!on && start >= 0) {
      out.push({ start, end: p });
      start = -1;
    }
  }
  return out;
}

function toleranceOf(r: PfnRange, memPages: number): MachineTolerance | undefined {
  if (memPages >= 512 && r.start === EBDA_PFN && r.end === EBDA_PFN + 1) return 'firmwareEbda';
  if (r.end === memPages && r.end - r.start <= FIRMWARE_TOP_TABLES_MAX_PAGES) return 'firmwareTopTables';
  return undefined;
}

const hex = (r: PfnRange) => `PFNs [0x${r.start.toString(16)}, 0x${r.end.toString(16)}) (${r.end - r.start} frames)`;

/**
 * The model's saveable frames (RAM of `memPages` minus nosaveMap) against the guest's (saveableRanges). A frame the
 * model may save and the guest may not is a difference unless a tolerance bounds it; a frame the guest may save and
 * the model may not (or does not have) is always one: the model would call a correct image's page nosave.
 */
export function judgeMachine(s: Scenario, observed: MachineObservation): MachineJudgement {
  const memPages = s.machine.memPages;
  const modelNosave = nosaveMap(memPages, s.machine.e820);
  const guest = saveableRanges(observed);
  const top = Math.max(memPages, ...guest.map((r) => r.end));
  const guestMap = new Uint8Array(top);
  for (const r of guest) guestMap.fill(1, r.start, r.end);
  const modelSaves = (p: number) => p < memPages && modelNosave[p] === 0;
  const tolerated: { range: PfnRange; tolerance: MachineTolerance }[] = [];
  const differences: string[] = [];
  for (const range of runs(top, (p) => modelSaves(p) && guestMap[p] === 0)) {
    const tolerance = toleranceOf(range, memPages);
    if (tolerance !== undefined) tolerated.push({ range, tolerance });
    else differences.push(`${hex(range)} are saveable in the model, not on the guest (not RAM or registered nosave)`);
  }
  for (const range of runs(top, (p) => guestMap[p] === 1 && !modelSaves(p)))
    differences.push(`${hex(range)} are saveable on the guest, not in the model (nosave or beyond its memory)`);
  return { tolerated, differences };
}

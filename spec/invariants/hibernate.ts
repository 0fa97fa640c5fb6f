// Monitors over the hibernating side: aborts, failures, the save kernel's confinement, quiescence after stop.

import { hasFrames, readFrames, readMemory } from '../model/chunks.ts';
import { isSigned, PFNS_PER_META } from '../model/image.ts';
import { saveRegion } from '../model/init.ts';
import { type BlockDevice, KIND as KIND_, type Memory, OWNER as OWNER_, SLOT as SLOT_ } from '../model/state.ts';
import type { HibernateRecord, RunTrace } from '../model/trace.ts';
import type { Violation } from '../outcome.ts';
import { diffWhere, hex, violation } from './util.ts';

// Local copies: imported bindings are getters under tsx/vitest transforms, and hot loops read these.
const KIND = KIND_;
const OWNER = OWNER_;
const SLOT = SLOT_;

const hibernations = (t: RunTrace): HibernateRecord[] =>
  t.records.filter((r): r is HibernateRecord => r.kind === 'hibernate');

/**
 * Pages of the running original system lost or changed between `before` and `after`: an in-use frame must keep
 * its content, or have been a clean page-cache page that was dropped (reclaimable: its data is in its file).
 * Frames in `skip` (e.g. the save kernel's region when only the outside is claimed) are not compared.
 */
export function lostPages(
  beforeSnap: Memory,
  afterSnap: Memory,
  skip: (p: number) => boolean = () => false,
  writtenBack: (p: number) => boolean = () => false,
): { count: number; first: number; expected: number; actual: number } {
  const before = readMemory(beforeSnap);
  const after = readMemory(afterSnap);
  let count = 0;
  let first = -1;
  let expected = 0;
  let actual = 0;
  for (let p = 0; p < before.nr; p++) {
    if (before.owner[p] !== OWNER.ORIG || skip(p)) continue;
    const kept = after.owner[p] === OWNER.ORIG && after.content[p] === before.content[p];
    const dropped =
      after.owner[p] !== OWNER.ORIG &&
      (before.kind[p] === KIND.PC_CLEAN || (before.kind[p] === KIND.PC_DIRTY && writtenBack(p)));
    if (!kept && !dropped) {
      if (first < 0) {
        first = p;
        expected = before.content[p] as number;
        actual = after.content[p] as number;
      }
      count++;
    }
  }
  return { count, first, expected, actual };
}

/** Dirty page cache the protocol writes back to its files and drops (the page-cache region of the kexec design). */
function writtenBackBy(t: RunTrace): (p: number) => boolean {
  return regionWhen(t, 'reclaimPageCache');
}

/** The save kernel's region when the scenario reserves it this way (kexec), from the scenario alone; else none. */
function regionWhen(t: RunTrace, reservation: 'reclaimPageCache' | 'bootReserved'): (p: number) => boolean {
  const proto = t.scenario.protocol;
  const r = saveRegion(t.scenario);
  if (proto.kind !== 'kexec' || proto.reservation !== reservation || r === undefined) return () => false;
  return (p) => p >= r.start && p < r.end;
}

const isPmTestAbort = (at: string): boolean => at !== 'testResume';

/**
 * What an abort may write besides the original kernel's own pages, from the scenario and the spec's formulas alone:
 * the save kernel's region while it is the save kernel's (bootReserved, reclaimPageCache: `inBox`); the exchange's
 * staging frames (one per region page); the PFN list pages (pfnList handoff: ceil(saveable / 512), once devices
 * stopped). swsusp's pm_test levels roll back before the atomic copy: nothing. Anything else written is a copy.
 */
function abortMayWrite(t: RunTrace, r: HibernateRecord): { budget: number; inBox: (p: number) => boolean } {
  const proto = t.scenario.protocol;
  const box = saveRegion(t.scenario);
  if (proto.kind !== 'kexec' || box === undefined) return { budget: 0, inBox: () => false };
  let budget = proto.reservation === 'exchange' ? box.end - box.start : 0;
  if (proto.handoff === 'pfnList' && r.atImage !== undefined) {
    let saveable = 0;
    const o = readFrames<Uint8Array>(r.atImage, 'owner') as Uint8Array;
    for (let p = 0; p < o.length; p++) if (o[p] === OWNER.ORIG) saveable++;
    budget += Math.ceil(saveable / PFNS_PER_META);
  }
  if (proto.reservation === 'exchange') return { budget, inBox: () => false };
  return { budget, inBox: (p) => p >= box.start && p < box.end };
}

/**
 * Frames a hibernation that returned to the running system did not give back: every frame keeps its owner, or goes
 * from the original kernel to free (dropped clean page cache, the reclaimed save-kernel region). A frame left to the
 * snapshot's copies, safe pages or the loader after `swsusp_free` is a leak the next hibernation starts from. A
 * boot-reserved region (crashkernel=) stays the save kernel's: kexec keeps the loaded kernel across a jump back.
 */
function framesNotGivenBack(
  beforeSnap: Memory,
  afterSnap: Memory,
  reserved: (p: number) => boolean,
): { count: number; first: number; from: number; to: number } {
  const before = readMemory(beforeSnap).owner;
  const after = readMemory(afterSnap).owner;
  let count = 0;
  let first = -1;
  for (let p = 0; p < before.length; p++) {
    const b = before[p];
    const a = after[p];
    if (a === b || (b === OWNER.ORIG && a === OWNER.FREE) || (a === OWNER.SAVEK && reserved(p))) continue;
    if (first < 0) first = p;
    count++;
  }
  return { count, first, from: before[first] ?? -1, to: after[first] ?? -1 };
}

function leakViolation(
  name: 'AbortCopiesNothing' | 'FailureLosesNothing',
  t: RunTrace,
  r: HibernateRecord,
  what: string,
) {
  if (r.after === undefined) return [];
  const k = framesNotGivenBack(r.before, r.after, regionWhen(t, 'bootReserved'));
  if (k.count === 0) return [];
  return [
    violation(
      name,
      r.step,
      `${what} left ${k.count} frames with another owner than before the request, first PFN ${k.first}: frames not given back`,
      `owner ${k.from}`,
      `owner ${k.to}`,
    ),
  ];
}

/**
 * AbortCopiesNothing: an abort jumps back with pages already in place: no page of the original kernel is copied,
 * and every in-use page of it is unchanged (the kexec-jump region exchange is an involution, so the region comes back
 * too). Copies are derived from memory, not from the implementation's counters: a frame that was not the original
 * kernel's at the request and holds other content after the abort was written, and the protocol may write only the
 * frames `abortMayWrite` allows.
 */
export function abortCopiesNothing(t: RunTrace): Violation[] {
  const out: Violation[] = [];
  for (const r of hibernations(t)) {
    const o = r.outcome;
    if (o.op !== 'hibernate' || o.result !== 'aborted' || !isPmTestAbort(o.at) || r.after === undefined) continue;
    const { budget, inBox } = abortMayWrite(t, r);
    const b = readMemory(r.before);
    const a = readMemory(r.after).content;
    let wrote = 0;
    let first = -1;
    for (let p = 0; p < b.nr; p++) {
      const w = b.owner[p];
      if (w === OWNER.ORIG || w === OWNER.NOSAVE || a[p] === b.content[p] || inBox(p)) continue;
      if (first < 0) first = p;
      wrote++;
    }
    if (wrote > budget) {
      out.push(
        violation(
          'AbortCopiesNothing',
          r.step,
          `abort at ${o.at} wrote ${wrote} frames outside the original kernel's pages (the protocol may write ${budget}: staging and PFN list pages), first PFN ${first}: page copies`,
          `<= ${budget}`,
          `${wrote}`,
        ),
      );
    }
    out.push(...leakViolation('AbortCopiesNothing', t, r, `abort at ${o.at}`));
    const l = lostPages(r.before, r.after, undefined, writtenBackBy(t));
    if (l.count > 0) {
      out.push(
        violation(
          'AbortCopiesNothing',
          r.step,
          `abort at ${o.at} changed ${l.count} pages, first PFN ${l.first}`,
          hex(l.expected),
          hex(l.actual),
        ),
      );
    }
  }
  return out;
}

/**
 * SaveKernelStaysInItsBox: the save kernel writes only frames of its region (the spec's placement, not the one the
 * implementation reports), so after an abort every page of the original kernel outside the region is unchanged. Its
 * writes are derived from memory: the frames that changed between the jump and the moment it stopped.
 */
export function saveKernelStaysInItsBox(t: RunTrace): Violation[] {
  const out: Violation[] = [];
  const box = saveRegion(t.scenario);
  const outside = (p: number) => box === undefined || p < box.start || p >= box.end;
  const boxName = box === undefined ? 'no region' : `[${box.start}, ${box.end})`;
  for (const r of hibernations(t)) {
    const atJump = readFrames<Uint32Array>(r, 'atJump');
    const atEnd = readFrames<Uint32Array>(r, 'atSaveKernelEnd');
    if (atJump !== undefined && atEnd !== undefined) {
      const d = diffWhere(atJump, atEnd, atJump.length, outside);
      if (d.count > 0) {
        out.push(
          violation(
            'SaveKernelStaysInItsBox',
            r.step,
            `save kernel wrote ${d.count} frames outside its region ${boxName}, first PFN ${d.first}`,
            hex(atJump[d.first]),
            hex(atEnd[d.first]),
          ),
        );
      }
    }
    if (
      hasFrames(r, 'atJump') &&
      r.after !== undefined &&
      r.outcome.op === 'hibernate' &&
      r.outcome.result === 'aborted'
    ) {
      const l = lostPages(r.before, r.after, (p) => !outside(p), writtenBackBy(t));
      if (l.count > 0) {
        out.push(
          violation(
            'SaveKernelStaysInItsBox',
            r.step,
            `${l.count} pages outside the region changed, first PFN ${l.first}`,
            hex(l.expected),
            hex(l.actual),
          ),
        );
      }
    }
  }
  return out;
}

/**
 * FailureLosesNothing: a hibernation that fails before power-off leaves the original kernel running with its
 * memory unchanged (clean page cache may have been dropped), every frame given back, and no signed image on storage.
 */
export function failureLosesNothing(t: RunTrace): Violation[] {
  const out: Violation[] = [];
  for (const r of hibernations(t)) {
    const o = r.outcome;
    // the machine died while hibernating (on the model: the FUSE writer's hang): the running system is lost
    if (o.op === 'hibernate' && o.result === 'crashed') {
      out.push(violation('FailureLosesNothing', r.step, `the kernel died while hibernating (${o.boot}: ${o.title})`));
      continue;
    }
    if (o.op !== 'hibernate' || o.result !== 'failed') continue;
    if (r.after === undefined) {
      out.push(violation('FailureLosesNothing', r.step, `failure (${o.errno}) did not return to the original kernel`));
      continue;
    }
    out.push(...leakViolation('FailureLosesNothing', t, r, `failure (${o.errno} in ${o.phase})`));
    const l = lostPages(r.before, r.after, undefined, writtenBackBy(t));
    if (l.count > 0) {
      out.push(
        violation(
          'FailureLosesNothing',
          r.step,
          `failure (${o.errno} in ${o.phase}) changed ${l.count} pages, first PFN ${l.first}`,
          hex(l.expected),
          hex(l.actual),
        ),
      );
    }
    const i = overwroteOther(r, t);
    if (i !== undefined) {
      out.push(violation('FailureLosesNothing', r.step, `failure overwrote storage page ${i} outside the swap area`));
    }
  }
  return out;
}

/**
 * The first storage page a hibernation overwrote that is not a free slot of its swap area: a page of another file
 * (a swap file's neighbours) or of the running system (swap pages in use after a noresume boot's swapon). A swsusp
 * area whose header is signed at the start (an image kept by a noresume boot, or by a resume without the dm-crypt
 * key) is no swap at all: swapon refuses it, so get_swap_writer() fails (ENODEV) before anything is written, and
 * every page of it counts.
 */
export function overwroteOther(r: HibernateRecord, t: RunTrace): number | undefined {
  const offset = t.scenario.storage.offset;
  if (t.scenario.protocol.kind === 'swsusp' && isSigned(r.storageBefore.header.get(offset))) {
    return firstChanged(r.storageBefore, r.storageAfter, offset);
  }
  const bSlot = readFrames<Uint8Array>(r.storageBefore, 'slot') as Uint8Array;
  const firstOther = bSlot.indexOf(SLOT.OTHER);
  if (firstOther < 0) return undefined; // the common case: no page to compare, so the tokens are not read
  const bTok = readFrames<Uint32Array>(r.storageBefore, 'tok') as Uint32Array;
  const aTok = readFrames<Uint32Array>(r.storageAfter, 'tok') as Uint32Array;
  for (let i = firstOther; i >= 0; i = bSlot.indexOf(SLOT.OTHER, i + 1)) {
    if (aTok[i] !== bTok[i]) return i;
  }
  return undefined;
}

/** The first page from `from` on whose content, kind or structured page (map, info, meta, header) differs. */
function firstChanged(b: BlockDevice, a: BlockDevice, from: number): number | undefined {
  const bSlot = readFrames<Uint8Array>(b, 'slot') as Uint8Array;
  const aSlot = readFrames<Uint8Array>(a, 'slot') as Uint8Array;
  const bTok = readFrames<Uint32Array>(b, 'tok') as Uint32Array;
  const aTok = readFrames<Uint32Array>(a, 'tok') as Uint32Array;
  // structured pages are replaced, never changed in place, so a rewritten one is another object
  const structured = [
    [a.maps, b.maps],
    [a.infos, b.infos],
    [a.metas, b.metas],
    [a.header, b.header],
  ] as const;
  for (let i = from; i < b.nr; i++) {
    if (aTok[i] !== bTok[i] || aSlot[i] !== bSlot[i]) return i;
    for (const [now, was] of structured) if (now.get(i) !== was.get(i)) return i;
  }
  return undefined;
}

/**
 * QuiescedMemoryUnchanged: from the moment the image is defined (devices stopped) until it is durable, no saved
 * page changes (a device that keeps doing DMA after stop breaks this).
 */
export function quiescedMemoryUnchanged(t: RunTrace): Violation[] {
  const out: Violation[] = [];
  // The raw memory when the save kernel stopped, except where the exchange moved the original kernel's pages (the
  // kexec-jump region: its pages sit in staging frames, and only the step's view of them, afterWrite, knows where).
  const proto = t.scenario.protocol;
  const box = proto.kind === 'kexec' && proto.reservation === 'exchange' ? saveRegion(t.scenario) : undefined;
  for (const r of hibernations(t)) {
    const afterWrite = readFrames<Uint32Array>(r, 'afterWrite');
    if (r.atImage === undefined || afterWrite === undefined) continue;
    const m = readMemory(r.atImage);
    const raw = readFrames<Uint32Array>(r, 'atSaveKernelEnd');
    for (let p = 0; p < m.nr; p++) {
      if (m.owner[p] !== OWNER.ORIG) continue;
      const exchanged = box !== undefined && p >= box.start && p < box.end;
      const now = raw === undefined || exchanged ? afterWrite[p] : raw[p];
      if (now !== m.content[p]) {
        out.push(
          violation(
            'QuiescedMemoryUnchanged',
            r.step,
            `saved PFN ${p} changed after devices stopped`,
            hex(m.content[p]),
            hex(now),
          ),
        );
        break;
      }
    }
  }
  return out;
}

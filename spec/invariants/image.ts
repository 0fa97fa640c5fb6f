// Monitors over what hibernation wrote: the image on storage against the memory it was made from.

import { frameReader, readFrames, readMemory } from '../model/chunks.ts';
import { decodeSnapshot, isSigned } from '../model/image.ts';
import { nosaveMap, saveRegion } from '../model/init.ts';
import {
  KIND,
  type Memory,
  OWNER as OWNER_,
  PFN_ZERO_FLAG as PFN_ZERO_FLAG_,
  type SwsuspInfo,
} from '../model/state.ts';
import type { HibernateRecord, RunTrace } from '../model/trace.ts';
import type { Violation } from '../outcome.ts';
import { ramFrames, stream } from '../protocol/formulas.ts';
import { overwroteOther } from './hibernate.ts';
import { hex, violation } from './util.ts';

// Local copies: imported bindings are getters under tsx/vitest transforms, and hot loops read these.
const OWNER = OWNER_;
const PFN_ZERO_FLAG = PFN_ZERO_FLAG_;

const hibernations = (t: RunTrace): HibernateRecord[] =>
  t.records.filter((r): r is HibernateRecord => r.kind === 'hibernate');

/** The step wrote a complete image (it powered off, or aborted after writing it). */
const wroteImage = (r: HibernateRecord): boolean =>
  (r.outcome.op === 'hibernate' && r.outcome.result === 'poweredOff') ||
  (r.outcome.op === 'hibernate' && r.outcome.result === 'aborted' && r.outcome.image !== undefined);

/**
 * EveryPageSavedOnce: the image's PFN set equals the saveable set at the point the image is defined, each PFN
 * once (strictly ascending list), zero-flagged entries are zero pages, and the k-th data page is the content of
 * the k-th unflagged PFN. Its header (struct swsusp_info) counts it: image_pages = the unflagged entries, pages =
 * 1 + nr_meta_pages + image_pages, and num_physpages = the RAM frames of the machine that wrote it (formulas.ts,
 * from the scenario's map, not from the owner tags).
 */
/**
 * The system at the request against the image point: every page the original system had when hibernation was
 * requested is still its own, unchanged, when the image is defined, unless it was legitimately reclaimed: clean page
 * cache (shrink_all_memory(); the kexec region's reclaim), or dirty page cache in the kexec page-cache region,
 * which is written back to its file before it is dropped (the model keeps no file data: that write is unchecked).
 */
export function lostBeforeImage(
  s: RunTrace['scenario'],
  beforeSnap: Memory,
  atSnap: Memory,
): { message: string; expected: string; actual: string } | undefined {
  const before = readMemory(beforeSnap);
  const at = readMemory(atSnap);
  const region = saveRegion(s);
  const writeback = s.protocol.kind === 'kexec' && s.protocol.reservation === 'reclaimPageCache';
  for (let p = 0; p < before.nr; p++) {
    if (before.owner[p] !== OWNER.ORIG) continue;
    if (at.owner[p] === OWNER.ORIG && at.content[p] === before.content[p] && at.kind[p] === before.kind[p]) continue;
    const k = before.kind[p];
    if (at.owner[p] !== OWNER.ORIG && k === KIND.PC_CLEAN) continue;
    const inRegion = region !== undefined && p >= region.start && p < region.end;
    if (at.owner[p] !== OWNER.ORIG && k === KIND.PC_DIRTY && writeback && inRegion) continue;
    return {
      message: `PFN ${p} (kind ${k}) of the system at the request was lost before the image point`,
      expected: `owner ORIG, ${hex(before.content[p])}`,
      actual: `owner ${at.owner[p]}, ${hex(at.content[p])}`,
    };
  }
  return undefined;
}

/** The first header field that does not describe the image's entries and its writer's machine. */
function headerMismatch(
  s: RunTrace['scenario'],
  memPages: number,
  info: SwsuspInfo,
  entries: number,
  zeros: number,
): { field: string; expected: number; actual: number } | undefined {
  const want = stream(entries, zeros);
  const fields: readonly [string, number, number][] = [
    ['num_physpages', ramFrames(s, memPages), info.numPhyspages],
    ['image_pages', want.dataPages, info.imagePages],
    ['pages', want.streamPages, info.pages],
  ];
  for (const [field, expected, actual] of fields) if (expected !== actual) return { field, expected, actual };
  return undefined;
}

export function everyPageSavedOnce(t: RunTrace): Violation[] {
  const out: Violation[] = [];
  for (const r of hibernations(t)) {
    if (!wroteImage(r) || r.atImage === undefined) continue;
    const lost = lostBeforeImage(t.scenario, r.before, r.atImage);
    if (lost !== undefined) {
      out.push(violation('EveryPageSavedOnce', r.step, lost.message, lost.expected, lost.actual));
      return out;
    }
    const d = decodeSnapshot(r.storageAfter, t.scenario.storage.offset);
    if (!d.ok) continue; // an unreadable image is ImageCommittedAtomically's concern
    const m = readMemory(r.atImage);
    const { entries, data } = d.image;
    const seen = new Uint8Array(m.nr);
    let prev = -1;
    let k = 0;
    let zeros = 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as number;
      const pfn = e & ~PFN_ZERO_FLAG;
      if (pfn <= prev) {
        out.push(
          violation(
            'EveryPageSavedOnce',
            r.step,
            `PFN list not strictly ascending at entry ${i}`,
            `> ${prev}`,
            `${pfn}`,
          ),
        );
        return out;
      }
      prev = pfn;
      if (pfn >= m.nr || m.owner[pfn] !== OWNER.ORIG) {
        out.push(violation('EveryPageSavedOnce', r.step, `PFN ${pfn} is in the image but was not saveable`));
        return out;
      }
      seen[pfn] = 1;
      if ((e & PFN_ZERO_FLAG) !== 0) {
        zeros++;
        if (m.content[pfn] !== 0) {
          out.push(
            violation('EveryPageSavedOnce', r.step, `PFN ${pfn} flagged zero but is not`, '0', hex(m.content[pfn])),
          );
          return out;
        }
      } else {
        const tok = data[k++];
        if (tok !== m.content[pfn]) {
          out.push(
            violation('EveryPageSavedOnce', r.step, `data page of PFN ${pfn} differs`, hex(m.content[pfn]), hex(tok)),
          );
          return out;
        }
      }
    }
    let missing = 0;
    let first = -1;
    for (let p = 0; p < m.nr; p++) {
      if (m.owner[p] === OWNER.ORIG && seen[p] === 0) {
        if (first < 0) first = p;
        missing++;
      }
    }
    if (missing > 0) {
      out.push(
        violation('EveryPageSavedOnce', r.step, `${missing} saveable pages missing from the image, first PFN ${first}`),
      );
      continue;
    }
    const h = headerMismatch(t.scenario, m.nr, d.image.info, entries.length, zeros);
    if (h !== undefined) {
      out.push(
        violation(
          'EveryPageSavedOnce',
          r.step,
          `the header's ${h.field} does not count the image`,
          `${h.expected}`,
          `${h.actual}`,
        ),
      );
    }
  }
  return out;
}

/** The nosave frames of a map, ascending (a machine has few: the monitors walk these, not all of memory). */
function framesOf(map: Uint8Array): Uint32Array {
  const out: number[] = [];
  for (let p = map.indexOf(1); p >= 0; p = map.indexOf(1, p + 1)) out.push(p);
  return Uint32Array.from(out);
}

/** The first nosave frame whose content differs between two snapshots (read frame by frame: a few frames). */
function changedNosave(
  frames: Uint32Array,
  from: (p: number) => number,
  to: (p: number) => number,
): number | undefined {
  for (const p of frames) if (from(p) !== to(p)) return p;
  return undefined;
}

/**
 * NosaveNeverSaved: no image PFN lies in a nosave range (e820 holes, reserved, ACPI, NVS), and nothing writes one:
 * not hibernation (the kexec load, the exchange, the save kernel), not the loader, not the final copy. The ranges
 * come from the machine's map (spec/model nosaveMap), the writes from memory snapshots, the save kernel's region
 * from what kexec_load reports (a region over a hole is refused even if nothing was written there).
 */
export function nosaveNeverSaved(t: RunTrace): Violation[] {
  const out: Violation[] = [];
  const { memPages, e820 } = t.scenario.machine;
  const nosave = nosaveMap(memPages, e820);
  const frames = framesOf(nosave);
  for (const r of hibernations(t)) {
    const reg = r.region;
    if (reg !== undefined) {
      let hole = reg.end > memPages ? memPages : -1;
      for (let p = reg.start; hole < 0 && p < reg.end; p++) if (nosave[p]) hole = p;
      if (hole >= 0) {
        out.push(
          violation(
            'NosaveNeverSaved',
            r.step,
            `the save kernel's region [${reg.start}, ${reg.end}) covers nosave frame ${hole}`,
          ),
        );
      }
    }
    const phases: [string, ((p: number) => number) | undefined][] = [
      ['before the image point (kexec_load, the exchange staging)', frameReader(r.atImage, 'content')],
      ['at the jump (the region exchange)', frameReader(r, 'atJump')],
      ['while the save kernel ran', frameReader(r, 'atSaveKernelEnd')],
      ['by the time the original kernel ran again', frameReader(r.after, 'content')],
    ];
    const from = frameReader(r.before, 'content') as (p: number) => number;
    for (const [when, snap] of phases) {
      const p = snap === undefined ? undefined : changedNosave(frames, from, snap);
      if (p === undefined) continue;
      out.push(
        violation('NosaveNeverSaved', r.step, `nosave frame ${p} was written ${when}`, hex(from(p)), hex(snap?.(p))),
      );
      break;
    }
    if (!wroteImage(r)) continue;
    const d = decodeSnapshot(r.storageAfter, t.scenario.storage.offset);
    if (!d.ok) continue;
    for (const e of d.image.entries) {
      const pfn = e & ~PFN_ZERO_FLAG;
      if (pfn < nosave.length && nosave[pfn]) {
        out.push(violation('NosaveNeverSaved', r.step, `nosave PFN ${pfn} is in the image`));
        break;
      }
    }
  }
  for (const r of t.records) {
    const atBoot = r.kind === 'resume' ? frameReader(r, 'atBoot') : undefined;
    if (r.kind !== 'resume' || atBoot === undefined) continue;
    const bootFrames = r.memPages === memPages ? frames : framesOf(nosaveMap(r.memPages, e820));
    const phases: [string, ((p: number) => number) | undefined][] = [
      ['the loader', frameReader(r, 'atLoaded')],
      ['the final copy', frameReader(r.after, 'content')],
    ];
    for (const [who, snap] of phases) {
      const p = snap === undefined ? undefined : changedNosave(bootFrames, atBoot, snap);
      if (p === undefined) continue;
      out.push(violation('NosaveNeverSaved', r.step, `${who} wrote nosave frame ${p}`, hex(atBoot(p)), hex(snap?.(p))));
      break;
    }
  }
  return out;
}

/**
 * ImageCommittedAtomically: the header is signed iff a complete, durable image is on storage. After a power loss
 * at any write, a signed header must decode completely; a poweredOff step must leave a signed, decodable header;
 * a failed step must leave it unsigned.
 */
export function imageCommittedAtomically(t: RunTrace): Violation[] {
  const out: Violation[] = [];
  const off = t.scenario.storage.offset;
  for (const r of hibernations(t)) {
    const o = r.outcome;
    if (o.op !== 'hibernate') continue;
    const signed = isSigned(r.storageAfter.header.get(off));
    const during = signedDuring(r, off);
    const d = decodeSnapshot(r.storageAfter, off);
    const own = d.ok && d.image.info.imageId === r.imageId;
    if (during && !d.ok) {
      out.push(
        violation(
          'ImageCommittedAtomically',
          r.step,
          `header signed but the image is incomplete (${d.error}: ${d.detail})`,
          'complete image',
          o.result,
        ),
      );
    } else if (during && !own) {
      out.push(violation('ImageCommittedAtomically', r.step, 'header signed but points to another image'));
    } else if (o.result === 'poweredOff' && !(signed && own)) {
      out.push(
        violation('ImageCommittedAtomically', r.step, 'powered off without its signed image', 'signed', 'unsigned'),
      );
    } else if (o.result === 'aborted' && during) {
      out.push(
        violation(
          'ImageCommittedAtomically',
          r.step,
          `aborted at ${o.at} but its image stays signed (the system carries on)`,
        ),
      );
    } else if (o.result === 'failed' && during) {
      out.push(
        violation('ImageCommittedAtomically', r.step, `hibernation failed (${o.errno}) but its image is signed`),
      );
    }
    // an image is committed to its own swap area: a page outside it (another file's, the running system's swap)
    // overwritten is not an image on storage, as vm/image/observe.ts judges a swap file's extents (a failure's
    // overwrite is FailureLosesNothing's)
    const other = o.result === 'failed' ? undefined : overwroteOther(r, t);
    if (other !== undefined) {
      out.push(
        violation(
          'ImageCommittedAtomically',
          r.step,
          `the image overwrote storage page ${other} outside the swap area`,
        ),
      );
    }
  }
  return out;
}

/** The step left a signed header that was not there before it (an older image left alone does not count). */
function signedDuring(r: HibernateRecord, off: number): boolean {
  const a = r.storageAfter.header.get(off);
  const b = r.storageBefore.header.get(off);
  return isSigned(a) && (b === undefined || a?.sig !== b.sig || a.image !== b.image || a.crc32 !== b.crc32);
}

/** SwapSlotsFreedOnError: a failed hibernation frees every storage slot it allocated (free_all_swap_pages). */
export function swapSlotsFreedOnError(t: RunTrace): Violation[] {
  const out: Violation[] = [];
  for (const r of hibernations(t)) {
    if (r.outcome.op !== 'hibernate' || r.outcome.result !== 'failed') continue;
    // the slots this hibernation allocated: allocated after it and not before it (an earlier cycle's image may
    // still hold slots the model's device keeps after a resume; they are not this failure's)
    const a = readFrames<Uint8Array>(r.storageAfter, 'allocated') as Uint8Array;
    const b = readFrames<Uint8Array>(r.storageBefore, 'allocated') as Uint8Array;
    let n = 0;
    for (let i = 0; i < a.length; i++) if ((a[i] as number) > 0 && !((b[i] ?? 0) > 0)) n++;
    if (n > 0)
      out.push(violation('SwapSlotsFreedOnError', r.step, `${n} slots still allocated after failure`, '0', `${n}`));
  }
  return out;
}

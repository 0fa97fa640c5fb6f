// Monitors over resume: what the loader wrote, what came back, and which images it must refuse.

import { hibernationOf, limitRun } from '../limits.ts';
import { restoreKernelFrames } from '../model/boot.ts';
import { hasFrames, readFrames, readMemory } from '../model/chunks.ts';
import { isSigned } from '../model/image.ts';
import { nosaveMap } from '../model/init.ts';
import { isAgentKind, OWNER as OWNER_ } from '../model/state.ts';
import type { HibernateRecord, ResumeRecord, RunTrace } from '../model/trace.ts';
import type { StepOutcome, Violation } from '../outcome.ts';
import { diffWhere, hex, violation } from './util.ts';

// Local copies: imported bindings are getters under tsx/vitest transforms, and hot loops read these.
const OWNER = OWNER_;

const resumes = (t: RunTrace): ResumeRecord[] => t.records.filter((r): r is ResumeRecord => r.kind === 'resume');

/** The loader's maps, read without keeping copies in the trace. */
function readLoad(l: ResumeRecord['load']): ResumeRecord['load'] {
  if (l === undefined) return undefined;
  return {
    pbeSrc: l.pbeSrc,
    pbeDst: l.pbeDst,
    codeFrames: l.codeFrames,
    allocated: readFrames<Uint8Array>(l, 'allocated') as Uint8Array,
    written: readFrames<Uint8Array>(l, 'written') as Uint8Array,
    imageSet: readFrames<Uint8Array>(l, 'imageSet') as Uint8Array,
  };
}

function imageOf(t: RunTrace, id: number | undefined): HibernateRecord | undefined {
  if (id === undefined) return undefined;
  return t.records.find((r): r is HibernateRecord => r.kind === 'hibernate' && r.imageId === id);
}

const resumed = (r: ResumeRecord): boolean => r.outcome.op === 'resume' && r.outcome.result === 'resumed';

/**
 * The outcomes of the steps between the hibernation whose image `r` found and `r` (all earlier steps when it is not
 * known), from the run's records: what the monitors below judge "since the image" by, not the step's own flags.
 */
function outcomesSinceImage(t: RunTrace, r: ResumeRecord): StepOutcome[] {
  const lr = limitRun(t.scenario, { trace: t });
  const from = hibernationOf(lr, r.step) ?? -1;
  const out: StepOutcome[] = [];
  for (let i = from + 1; i < r.step; i++) {
    const o = lr.outcomes[i];
    if (o !== undefined) out.push(o);
  }
  return out;
}

/** The image was changed at rest since it was written: a corrupt step between them applied its bit flip. */
const corruptedSince = (t: RunTrace, r: ResumeRecord): boolean =>
  outcomesSinceImage(t, r).some((o) => o.op === 'corrupt' && o.applied);

/**
 * Filesystems were mounted read-write since the image was written: the original system booted afresh between them
 * (a noresume boot, or a resume attempt that did not resume and so booted the system).
 */
const staleSince = (t: RunTrace, r: ResumeRecord): boolean =>
  outcomesSinceImage(t, r).some((o) => o.op === 'bootNoresume' || (o.op === 'resume' && o.result !== 'resumed'));

/**
 * ResumeRestoresIdenticalMemory: after resuming an intact image, every page saved at the snapshot is back in its
 * frame with identical content, owned by the original kernel again.
 */
export function resumeRestoresIdenticalMemory(t: RunTrace): Violation[] {
  const out: Violation[] = [];
  for (const r of resumes(t)) {
    if (!resumed(r) || corruptedSince(t, r)) continue;
    const h = imageOf(t, r.imageId);
    if (h?.atImage === undefined || r.after === undefined) {
      out.push(violation('ResumeRestoresIdenticalMemory', r.step, 'resumed an image no hibernation made'));
      continue;
    }
    const m = readMemory(h.atImage);
    const after = readMemory(r.after);
    let count = 0;
    let agentCount = 0;
    let first = -1;
    for (let p = 0; p < m.nr; p++) {
      if (m.owner[p] !== OWNER.ORIG) continue;
      if (after.content[p] !== m.content[p] || after.owner[p] !== OWNER.ORIG) {
        if (first < 0) first = p;
        count++;
        if (isAgentKind(m.kind[p] as number)) agentCount++;
      }
    }
    if (count > 0) {
      out.push(
        violation(
          'ResumeRestoresIdenticalMemory',
          r.step,
          `${count} saved pages differ after resume, first PFN ${first}`,
          hex(m.content[first]),
          hex(after.content[first]),
        ),
      );
    }
    // The agent's own check must see exactly the corruption of its pages.
    if (r.outcome.op === 'resume' && r.outcome.result === 'resumed' && r.outcome.pagesCorrupt !== agentCount) {
      out.push(
        violation(
          'ResumeRestoresIdenticalMemory',
          r.step,
          "the agent's corrupt page count is wrong",
          `${agentCount}`,
          `${r.outcome.pagesCorrupt}`,
        ),
      );
    }
  }
  return out;
}

/**
 * RestoreNeverClobbers: while loading, the loader writes only frames it owns: frames free when the restore kernel
 * started, never its own (spec/model/boot.ts) nor a nosave one; the final copy writes only image destinations (the
 * saved set of the image it resumed, when intact). Both derived from memory snapshots around the loader, never from
 * its lists. Then its own lists are cross-checked: PBE sources are safe frames (never destinations), the final copy's
 * code, page tables and list live in safe frames, and every image PFN is covered once (in place, or by one PBE).
 */
export function restoreNeverClobbers(t: RunTrace): Violation[] {
  const out: Violation[] = [];
  const own = restoreKernelFrames(t.scenario);
  for (const r of resumes(t)) {
    const bad = (msg: string, expected?: string, actual?: string) =>
      out.push(violation('RestoreNeverClobbers', r.step, msg, expected, actual));
    const boot = readFrames<Uint32Array>(r, 'atBoot');
    const loaded = readFrames<Uint32Array>(r, 'atLoaded');
    if (boot !== undefined && loaded !== undefined) {
      const nosave = nosaveMap(r.memPages, t.scenario.machine.e820);
      const d = diffWhere(boot, loaded, boot.length, (p) => (p >= own.start && p < own.end) || nosave[p] === 1);
      if (d.count > 0) {
        const whose = d.first >= own.start && d.first < own.end ? "the restore kernel's own frame" : 'a nosave frame';
        bad(
          `loader wrote ${d.count} frames it did not own, first PFN ${d.first} (${whose})`,
          hex(boot[d.first]),
          hex(loaded[d.first]),
        );
      }
      const h = resumed(r) && !corruptedSince(t, r) ? imageOf(t, r.imageId) : undefined;
      if (h?.atImage !== undefined && r.after !== undefined) {
        const saved = readFrames<Uint8Array>(h.atImage, 'owner') as Uint8Array;
        const c = diffWhere(loaded, readMemory(r.after).content, loaded.length, (p) => saved[p] !== OWNER.ORIG);
        if (c.count > 0) bad(`the final copy wrote ${c.count} frames outside the image, first PFN ${c.first}`);
      }
    }
    const l = readLoad(r.load);
    if (l === undefined) continue;
    const n = l.written.length;
    const covered = new Uint8Array(n);
    for (let i = 0; i < l.pbeSrc.length; i++) {
      const s = l.pbeSrc[i] as number;
      const d = l.pbeDst[i] as number;
      if (l.imageSet[s]) {
        bad(`PBE source ${s} is an image destination (unsafe)`);
        break;
      }
      if (!l.allocated[s]) {
        bad(`PBE source ${s} is not a loader-owned frame`);
        break;
      }
      if (!l.imageSet[d]) {
        bad(`PBE destination ${d} is not in the image`);
        break;
      }
      if (covered[d]) {
        bad(`PFN ${d} has two PBEs`);
        break;
      }
      covered[d] = 1;
    }
    for (const c of l.codeFrames)
      if (l.imageSet[c]) {
        bad(`copy code/page-table frame ${c} is an image destination`);
        break;
      }
    if (resumed(r)) {
      // I4: each destination exactly once: written in place xor covered by one PBE.
      for (let p = 0; p < n; p++) {
        if (!l.imageSet[p]) continue;
        const inPlace = l.allocated[p] === 1 && (l.written[p] as number) > 0;
        const viaPbe = covered[p] === 1;
        if (inPlace && viaPbe) {
          bad(`PFN ${p} written in place and by a PBE`);
          break;
        }
        if (!inPlace && !viaPbe) {
          bad(`image PFN ${p} neither loaded in place nor covered by a PBE`);
          break;
        }
      }
    }
  }
  return out;
}

/**
 * ImageResumedAtMostOnce: the signature is reset before loading, so no image is resumed twice. A resume attempt is
 * one whose restore kernel booted to load an image (its boot snapshot is recorded), not one the loader's lists show.
 */
export function imageResumedAtMostOnce(t: RunTrace): Violation[] {
  const out: Violation[] = [];
  const count = new Map<number, number>();
  const off = t.scenario.storage.offset;
  for (const r of resumes(t)) {
    if (r.imageId !== undefined && hasFrames(r, 'atBoot') && isSigned(r.storageAfter.header.get(off))) {
      out.push(
        violation('ImageResumedAtMostOnce', r.step, 'signature still set after a resume attempt', 'reset', 'S1SUSPEND'),
      );
    }
    if (!resumed(r) || r.imageId === undefined) continue;
    const c = (count.get(r.imageId) ?? 0) + 1;
    count.set(r.imageId, c);
    if (c > 1)
      out.push(violation('ImageResumedAtMostOnce', r.step, `image ${r.imageId} resumed ${c} times`, '1', `${c}`));
  }
  return out;
}

/** MismatchedImageRefused: an image is never resumed on a machine with another memory size or memory map. */
export function mismatchedImageRefused(t: RunTrace): Violation[] {
  const out: Violation[] = [];
  const machine = t.scenario.machine;
  for (const r of resumes(t)) {
    if (!resumed(r)) continue;
    // the machine the resume booted on, from the scenario's step (not the record the step wrote)
    const st = t.scenario.steps[r.step];
    const memPages = st?.op === 'resume' ? (st.memPages ?? machine.memPages) : r.memPages;
    const e820Changed = st?.op === 'resume' ? st.e820Changed : r.e820Changed;
    if (memPages !== machine.memPages) {
      out.push(
        violation(
          'MismatchedImageRefused',
          r.step,
          'resumed with another memory size',
          `${machine.memPages}`,
          `${memPages}`,
        ),
      );
    }
    if (e820Changed) out.push(violation('MismatchedImageRefused', r.step, 'resumed with a changed memory map'));
  }
  return out;
}

/** CorruptImageNeverResumed: an image altered at rest is refused, or (if the change did not matter) resumes intact. */
export function corruptImageNeverResumed(t: RunTrace): Violation[] {
  const out: Violation[] = [];
  for (const r of resumes(t)) {
    if (!resumed(r) || !corruptedSince(t, r)) continue;
    const h = imageOf(t, r.imageId);
    if (h?.atImage === undefined || r.after === undefined) {
      out.push(violation('CorruptImageNeverResumed', r.step, 'resumed a corrupted image of unknown origin'));
      continue;
    }
    const m = readMemory(h.atImage);
    const after = readMemory(r.after);
    for (let p = 0; p < m.nr; p++) {
      if (m.owner[p] === OWNER.ORIG && (after.content[p] !== m.content[p] || after.owner[p] !== OWNER.ORIG)) {
        out.push(
          violation(
            'CorruptImageNeverResumed',
            r.step,
            `corrupted image resumed: PFN ${p} differs`,
            hex(m.content[p]),
            hex(after.content[p]),
          ),
        );
        break;
      }
    }
  }
  return out;
}

/** StaleImageNeverResumed: after a boot that mounted filesystems read-write, the older image is never resumed. */
export function staleImageNeverResumed(t: RunTrace): Violation[] {
  return resumes(t)
    .filter((r) => resumed(r) && staleSince(t, r))
    .map((r) => violation('StaleImageNeverResumed', r.step, 'resumed an image older than the last read-write boot'));
}

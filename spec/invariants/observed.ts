// Monitors over an Observation: the invariants judged from what a target reports it saw (a real kernel's console,
// its agent and an independent read of its storage; or the model's run in the same vocabulary). A runner never
// names an invariant: it reports facts (spec/outcome.ts) and these monitors decide.
//
// Judgement per invariant: violated (some fact contradicts it), held (at least one fact bears on it and none
// contradicts it), notObserved (nothing in the observation bears on it: never reported as held).
import type { MemoryCheck, Observation, StepOutcome, StorageFacts, Violation } from '../outcome.ts';
import type { Scenario } from '../scenario/schema.ts';
import { INVARIANT_NAMES, type InvariantName } from './names.ts';
import { violation } from './util.ts';

// keep-sorted start
export const OBSERVED_RESULTS = ['held', 'notObserved', 'violated'] as const;
// keep-sorted end
export type ObservedResult = (typeof OBSERVED_RESULTS)[number];

export interface ObservedJudgement {
  readonly invariant: InvariantName;
  readonly result: ObservedResult;
  /** how many facts of the observation bore on it */
  readonly judged: number;
  readonly violations: readonly Violation[];
}

/** The walk's state between steps: what storage holds as far as the observation tells. */
interface ImageState {
  /** an image is signed and no resume consumed it */
  pending: boolean;
  /** a boot with filesystems mounted ran since it was written */
  stale: boolean;
  /** a corrupt step changed it at rest */
  corrupted: boolean;
  /** the last image was already resumed once */
  resumedOnce: boolean;
}

class Judge {
  private readonly judged = new Map<InvariantName, number>();
  readonly violations: Violation[] = [];
  check(inv: InvariantName, step: number, holds: boolean, message: string, expected?: string, actual?: string) {
    this.judged.set(inv, (this.judged.get(inv) ?? 0) + 1);
    if (!holds) this.violations.push(violation(inv, step, message, expected, actual));
  }
  result(): ObservedJudgement[] {
    return INVARIANT_NAMES.map((invariant) => {
      const vs = this.violations.filter((v) => v.invariant === invariant);
      const judged = this.judged.get(invariant) ?? 0;
      const result: ObservedResult = vs.length > 0 ? 'violated' : judged > 0 ? 'held' : 'notObserved';
      return { invariant, result, judged, violations: vs };
    });
  }
}

/** Facts about the running system's memory after it came back from a failed or aborted hibernation. */
function judgeMemory(j: Judge, i: number, m: MemoryCheck | undefined, inv: InvariantName, what: string) {
  if (m === undefined) return;
  j.check(inv, i, m.corrupt === 0, `${m.corrupt} of ${m.checked} checked pages changed ${what}`, '0', `${m.corrupt}`);
  if (m.corruptOutside !== undefined) {
    j.check(
      'SaveKernelStaysInItsBox',
      i,
      m.corruptOutside === 0,
      `${m.corruptOutside} pages outside the save kernel's region changed`,
      '0',
      `${m.corruptOutside}`,
    );
  }
}

/** What an independent check of the signed image found (EveryPageSavedOnce, NosaveNeverSaved, atomic commit). */
function judgeStorage(j: Judge, i: number, st: StorageFacts | undefined, poweredOff: boolean) {
  if (st === undefined) return;
  const img = st.image;
  if (poweredOff) {
    j.check(
      'ImageCommittedAtomically',
      i,
      st.signed,
      'the kernel powered off reporting success, but no image is signed',
    );
  }
  if (img === undefined) return;
  const tagged = img.tagged;
  const lostTagged = tagged === undefined ? 0 : tagged.missing;
  if (st.signed) {
    j.check(
      'ImageCommittedAtomically',
      i,
      img.complete && lostTagged === 0,
      `the header is signed but the image is not complete: ${img.problem ?? `${lostTagged} tagged pages missing`}`,
      'a complete image',
      img.problem ?? `${lostTagged} missing`,
    );
  }
  // a complete image is judged whether or not it is signed (an aborted kexec image is marked stale, not signed)
  if (!img.complete) return;
  j.check('EveryPageSavedOnce', i, img.pfnsAscending, 'the PFN list is not strictly ascending (a PFN saved twice)');
  j.check(
    'EveryPageSavedOnce',
    i,
    img.countsConsistent,
    'image_pages / nr_meta_pages disagree with the PFN list',
    `${img.stats.dataPages} data pages`,
  );
  if (tagged !== undefined) {
    const bad = tagged.missing + tagged.duplicated + tagged.wrongData;
    j.check(
      'EveryPageSavedOnce',
      i,
      bad === 0,
      `tagged pages in the image: ${tagged.missing} missing, ${tagged.duplicated} duplicated, ${tagged.wrongData} with wrong data`,
      `${tagged.expected} once each`,
      `${bad} wrong`,
    );
  }
  if (img.physpages !== undefined) {
    j.check(
      'EveryPageSavedOnce',
      i,
      img.physpages.header === img.physpages.machine,
      "the header's num_physpages is not the RAM of the machine that wrote it",
      `${img.physpages.machine}`,
      `${img.physpages.header}`,
    );
  }
  if (img.nosavePfns !== undefined) {
    j.check(
      'NosaveNeverSaved',
      i,
      img.nosavePfns === 0,
      `${img.nosavePfns} listed PFNs lie outside the machine's RAM (nosave)`,
      '0',
      `${img.nosavePfns}`,
    );
  }
}

function judgeHibernate(j: Judge, s: Scenario, i: number, o: StepOutcome & { op: 'hibernate' }, img: ImageState) {
  if (o.result === 'crashed') {
    j.check('FailureLosesNothing', i, false, `the kernel died while hibernating (${o.boot}: ${o.title})`);
    img.pending = false;
    return;
  }
  judgeStorage(j, i, o.storage, o.result === 'poweredOff');
  switch (o.result) {
    case 'failed': {
      judgeMemory(j, i, o.memory, 'FailureLosesNothing', 'after a failed hibernation');
      // ENODEV: the area held no swap header (an earlier image kept by a noresume boot or a resume without the
      // dm-crypt key), so the writer never started and that image stays as it was (pending or stale)
      const keptEarlier = o.errno === 'ENODEV';
      // an image still signed from an earlier hibernation is not this failure's doing
      if (o.storage !== undefined && !img.pending && !keptEarlier) {
        j.check('FailureLosesNothing', i, !o.storage.signed, 'a failed hibernation left an image signed', 'unsigned');
      }
      if (o.slotsLeaked !== undefined) {
        j.check(
          'SwapSlotsFreedOnError',
          i,
          o.slotsLeaked === 0,
          `${o.slotsLeaked} swap slots still allocated after the failed write`,
          '0',
          `${o.slotsLeaked}`,
        );
      }
      // any other failure ends what was pending
      if (!keptEarlier) img.pending = false;
      break;
    }
    case 'aborted': {
      const st = s.steps[i];
      const testResume = st?.op === 'hibernate' && st.abortAt === 'testResume';
      judgeMemory(
        j,
        i,
        o.memory,
        testResume ? 'ResumeRestoresIdenticalMemory' : 'AbortCopiesNothing',
        `after the abort at ${o.at}`,
      );
      // an aborted image may stay on storage, but it is stale: the original system ran on
      img.pending = false;
      img.stale = o.storage?.signed === true;
      img.resumedOnce = false;
      img.corrupted = false;
      return;
    }
    case 'poweredOff':
    case 'powerLost':
      img.pending = o.result === 'poweredOff' || o.storage?.signed !== false;
      img.stale = false;
      img.corrupted = false;
      img.resumedOnce = false;
      break;
  }
}

function judgeResume(j: Judge, s: Scenario, i: number, o: StepOutcome & { op: 'resume' }, img: ImageState) {
  const st = s.steps[i];
  // another boot kernel is allowed: x86 has ARCH_HIBERNATION_HEADER, so the boot kernel checks only the restore
  // magic and the e820 checksum (arch/x86/power/hibernate.c arch_hibernation_header_restore), never its version
  const mismatched =
    st?.op === 'resume' && ((st.memPages !== undefined && st.memPages !== s.machine.memPages) || st.e820Changed);
  switch (o.result) {
    case 'resumed': {
      j.check('MismatchedImageRefused', i, !mismatched, 'resumed on another memory size or memory map');
      if (img.resumedOnce) j.check('ImageResumedAtMostOnce', i, false, 'an image was resumed a second time');
      else {
        j.check(
          'StaleImageNeverResumed',
          i,
          img.pending && !img.stale,
          img.pending
            ? 'resumed an image older than a boot that mounted filesystems read-write'
            : 'resumed an image although no hibernation was pending (stale image)',
          'refused or noImage',
          'resumed',
        );
      }
      if (o.pagesChecked > 0) {
        const inv: InvariantName = img.corrupted ? 'CorruptImageNeverResumed' : 'ResumeRestoresIdenticalMemory';
        j.check(inv, i, o.pagesCorrupt === 0, `${o.pagesCorrupt} of ${o.pagesChecked} pages differ after resume`);
      }
      if (o.storageAfter !== undefined) {
        j.check('ImageResumedAtMostOnce', i, !o.storageAfter.signed, 'the image is still signed after it was resumed');
      }
      img.resumedOnce = true;
      img.pending = false;
      return;
    }
    case 'crashed':
      if (o.at === 'load') j.check('RestoreNeverClobbers', i, false, `the loader died (${o.boot}: ${o.title})`);
      else {
        j.check(
          'ResumeRestoresIdenticalMemory',
          i,
          false,
          `the resumed system died before it verified its memory (${o.boot}: ${o.title})`,
        );
      }
      img.pending = false;
      return;
    case 'refused':
    case 'noImage':
      img.pending = false;
      img.resumedOnce = false;
      img.stale = false;
      return;
  }
}

/** Judge every invariant that the observation's facts bear on; one entry per InvariantName, in registry order. */
export function judgeObservation(s: Scenario, o: Observation): ObservedJudgement[] {
  const j = new Judge();
  const img: ImageState = { pending: false, stale: false, corrupted: false, resumedOnce: false };
  for (const [i, step] of o.steps.entries()) {
    switch (step.op) {
      case 'hibernate':
        judgeHibernate(j, s, i, step, img);
        break;
      case 'corrupt':
        if (step.applied) img.corrupted = true;
        break;
      case 'bootNoresume':
        if (img.pending) img.stale = true;
        break;
      case 'resume':
        judgeResume(j, s, i, step, img);
        break;
      case 'write':
      case 'skip':
        break;
    }
  }
  return j.result();
}

/** The violations of a judgement, flat (what judge() in verdict.ts takes). */
export const observedViolations = (js: readonly ObservedJudgement[]): Violation[] => js.flatMap((x) => x.violations);

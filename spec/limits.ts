// Known design limits: violations a protocol is known to have, each with the window in which it happens. A limit
// explains a violation only when the violation lies inside its window on THIS run: matched against the model's
// trace (events, records) or, for a real run that has no trace, against its observation's facts (outcome.ts).
// Anything else is a finding. A violation a limit explains is "violated, as predicted", never a pass.
import type { InvariantName } from './invariants/names.ts';
import type { ProtocolKind } from './invariants/registry.ts';
import type { HibernateRecord, RunTrace } from './model/trace.ts';
import type { Observation, StepOutcome, Violation } from './outcome.ts';
import type { Scenario } from './scenario/schema.ts';

// keep-sorted start
export const KNOWN_LIMIT_NAMES = [
  'crcSkipsInfoPage',
  'deviceDmaAfterStop',
  'freezerFreezesFuseServer',
  'noMountCheck',
  'nocompressNoCrc',
  'pfnCountUnchecked',
  'tornLastMapPage',
] as const;
// keep-sorted end
export type KnownLimitName = (typeof KNOWN_LIMIT_NAMES)[number];

/** What a limit is matched against: the model's run (its trace), or a real run (its observation; no trace). */
export type LimitEvidence = { readonly trace: RunTrace } | { readonly observation: Observation };

/** The run as the windows read it: one outcome per step, from the trace's records or the observation's steps. */
export interface LimitRun {
  readonly s: Scenario;
  readonly outcomes: readonly (StepOutcome | undefined)[];
  /** absent on a real run */
  readonly trace?: RunTrace;
}

export interface KnownLimitInfo {
  readonly protocols: readonly ProtocolKind[];
  readonly invariants: readonly InvariantName[];
  /** what happens (printed as the predicted violation's limit) */
  readonly reason: string;
  /** kernel code, commit or document */
  readonly source: string;
  /** the window, in words */
  readonly window: string;
  /** the violation lies inside the window on this run */
  readonly applies: (r: LimitRun, v: Violation) => boolean;
}

export function limitRun(s: Scenario, e: LimitEvidence): LimitRun {
  if ('observation' in e) return { s, outcomes: e.observation.steps };
  const outcomes: (StepOutcome | undefined)[] = new Array(s.steps.length);
  for (const rec of e.trace.records) outcomes[rec.step] = rec.outcome;
  return { s, outcomes, trace: e.trace };
}

const hibernateRecord = (t: RunTrace, step: number): HibernateRecord | undefined => {
  const r = t.records.find((x) => x.step === step);
  return r?.kind === 'hibernate' ? r : undefined;
};

/** The step left a signed image (observed) or powered off with one; a failed step's signed header is an earlier one's. */
const leftImage = (o: StepOutcome | undefined): boolean =>
  o?.op === 'hibernate' &&
  (o.result === 'poweredOff' || (o.result !== 'failed' && 'storage' in o && o.storage?.signed === true));

/**
 * The hibernate step a violation is about: its own step when it is a hibernate step; for a resume, the hibernation
 * whose image it found (trace: the record's image id; a real run: the last step before it that left an image).
 * undefined: not known (no step, or no image), and then a window that needs it is matched over the whole run.
 */
export function hibernationOf(r: LimitRun, step: number | undefined): number | undefined {
  if (step === undefined) return undefined;
  const st = r.s.steps[step];
  if (st?.op === 'hibernate') return step;
  if (st?.op !== 'resume') return undefined;
  if (r.trace !== undefined) {
    const rec = r.trace.records.find((x) => x.step === step);
    const id = rec?.kind === 'resume' ? rec.imageId : undefined;
    const h = r.trace.records.find((x) => x.kind === 'hibernate' && x.imageId === id);
    return id === undefined ? undefined : h?.step;
  }
  for (let i = step - 1; i >= 0; i--) if (leftImage(r.outcomes[i])) return i;
  return undefined;
}

/** Steps strictly after the image the violation's resume found and before that resume (all earlier steps if unknown). */
function sinceImage(r: LimitRun, v: Violation): number[] {
  const to = v.step ?? r.outcomes.length;
  const from = hibernationOf(r, v.step) ?? -1;
  return Array.from({ length: Math.max(0, to - from - 1) }, (_, k) => from + 1 + k);
}

/** A corrupt step changed the image at rest in the window, in one of `regions` (all: any region). */
function corruptedInWindow(r: LimitRun, v: Violation, regions?: readonly string[]): boolean {
  return sinceImage(r, v).some((i) => {
    const st = r.s.steps[i];
    const o = r.outcomes[i];
    return st?.op === 'corrupt' && o?.op === 'corrupt' && o.applied && (regions?.includes(st.region) ?? true);
  });
}

/**
 * A device wrote memory after it was stopped during hibernate step h: the step had the fault and got past the
 * point the image is defined. Trace: the step's 'snapshot' (swsusp) or 'jump' (kexec) event, after which the rogue
 * write is made. Real run (no events): the outcome says the step went past the snapshot (it powered off, lost
 * power, failed writing, or aborted after the jump / at test_resume).
 */
function dmaDuring(r: LimitRun, h: number): boolean {
  const st = r.s.steps[h];
  if (st?.op !== 'hibernate' || (st.dmaAfterStopPages ?? 0) === 0) return false;
  if (r.trace !== undefined) {
    const phase = r.s.protocol.kind === 'kexec' ? 'jump' : 'snapshot';
    return r.trace.events.some((e) => e.step === h && e.phase === phase);
  }
  const o = r.outcomes[h];
  if (o?.op !== 'hibernate') return false;
  switch (o.result) {
    case 'poweredOff':
    case 'powerLost':
      return true;
    case 'failed':
      return o.phase === 'write';
    case 'aborted':
      return o.at === 'afterJump' || o.at === 'afterImageWritten' || o.at === 'testResume';
    default:
      return false;
  }
}

/**
 * swsusp's torn window: the scheduled fault hit a write after the header was signed (the last map page flush).
 * Trace: the step's record carries the write index that signed the header and the one the fault hit. Real run (the
 * signature's write index is not observed), in facts: ioErrorAfterSignature fired; or an EIO fired and the kernel
 * still reported success (the only write whose error swsusp ignores is that flush); or a power loss fired and left
 * the header signed (swsusp signs only after every stream page, so the flush is all that can be lost; a kernel
 * that signs earlier is still a finding of the differential, which the model predicts no violation for).
 */
function faultAfterSignature(r: LimitRun, h: number): boolean {
  const st = r.s.steps[h];
  if (st?.op !== 'hibernate') return false;
  if (r.trace !== undefined) {
    const rec = hibernateRecord(r.trace, h);
    return rec?.signedAtWrite !== undefined && rec.faultAtWrite !== undefined && rec.faultAtWrite > rec.signedAtWrite;
  }
  const o = r.outcomes[h];
  if (o?.op !== 'hibernate' || o.result === 'crashed' || o.fault !== 'fired') return false;
  if (st.ioErrorAfterSignature === true) return true;
  if (st.ioErrorAtWrite !== undefined && o.result === 'poweredOff') return true;
  // a power loss at the last write (the last map page, after the signature) ends as poweredOff: the kernel ignored
  // that write's error and powered off
  return (
    st.powerLossAfterWrite !== undefined &&
    (o.result === 'powerLost' || o.result === 'poweredOff') &&
    o.storage?.signed === true
  );
}

/**
 * Hibernate step h hung with the image writer waiting on the frozen FUSE server. Trace: the step's 'write:blocked'
 * event. Real run: the crash cause the console's task dump names (vm/console/tasks.ts hangCause).
 */
function hungOnFrozenFuse(r: LimitRun, h: number): boolean {
  const o = r.outcomes[h];
  if (o?.op !== 'hibernate' || o.result !== 'crashed' || o.cause !== 'fuseServerFrozen') return false;
  if (r.trace === undefined) return true;
  return r.trace.events.some((e) => e.step === h && e.phase === 'write:blocked');
}

const nocompress = (r: LimitRun) => r.s.protocol.kind === 'swsusp' && r.s.protocol.compression === 'none';

/** Over the violation's hibernation, or over every hibernate step when it is not known. */
const overHibernation = (r: LimitRun, v: Violation, p: (h: number) => boolean): boolean => {
  const h = hibernationOf(r, v.step);
  if (h !== undefined) return p(h);
  return r.s.steps.some((st, i) => st.op === 'hibernate' && (v.step === undefined || i <= v.step) && p(i));
};

// keep-sorted start
export const knownLimitInfo = {
  crcSkipsInfoPage: {
    protocols: ['swsusp'],
    invariants: ['CorruptImageNeverResumed'],
    reason: "swsusp's CRC32 covers the stream after the header page only (load_compressed_image)",
    source: 'kernel/power/swap.c: save_compressed_image() / load_compressed_image() crc32 over the data chunks',
    window: 'a resume of an image whose header (info) page was changed at rest after it was written',
    applies: (r, v) => corruptedInWindow(r, v, ['header']),
  },
  deviceDmaAfterStop: {
    protocols: ['kexec', 'swsusp'],
    invariants: [
      'AbortCopiesNothing',
      'CorruptImageNeverResumed',
      'EveryPageSavedOnce',
      'FailureLosesNothing',
      'QuiescedMemoryUnchanged',
      'ResumeRestoresIdenticalMemory',
      'SaveKernelStaysInItsBox',
    ],
    reason: 'a device kept doing DMA after it was stopped: memory moved under the snapshot (bug class 6)',
    source: 'any design: dpm_suspend_end() cannot stop a device that ignores it',
    window: 'the hibernation in which the device wrote after the image point, and the resume of its image',
    applies: (r, v) => overHibernation(r, v, (h) => dmaDuring(r, h)),
  },
  freezerFreezesFuseServer: {
    protocols: ['swsusp'],
    invariants: ['FailureLosesNothing'],
    reason:
      "the freezer froze the FUSE server the image file lives on: uswsusp's writer waits forever for its reply (the 2007 proposal's argument against the freezer)",
    source:
      'kernel/power/user.c SNAPSHOT_FREEZE (freeze_processes), fs/fuse/dev.c request_wait_answer; measured on Debian 6.1 and 6.12 (vm/README.md)',
    window: 'a uswsusp hibernation to a file on FUSE that hung with its writer waiting on the frozen server',
    applies: (r, v) => {
      const h = hibernationOf(r, v.step);
      return h !== undefined && r.s.storage.kind === 'fuseFile' && hungOnFrozenFuse(r, h);
    },
  },
  noMountCheck: {
    protocols: ['swsusp'],
    invariants: ['StaleImageNeverResumed'],
    reason: 'the kernel does not check for filesystems mounted since the snapshot (Documentation/power/swsusp.rst)',
    source: 'Documentation/power/swsusp.rst ("mount ... before resume ... you will lose data")',
    window: 'a resume of an image with a read-write (noresume) boot between its hibernation and the resume',
    applies: (r, v) => sinceImage(r, v).some((i) => r.outcomes[i]?.op === 'bootNoresume'),
  },
  nocompressNoCrc: {
    protocols: ['swsusp'],
    invariants: ['CorruptImageNeverResumed'],
    reason: 'hibernate=nocompress writes no CRC32 (kernel/power/swap.c save_image): corruption is not detected',
    source: 'kernel/power/swap.c: save_image() / load_image() (no crc32 in the uncompressed path)',
    window: 'a resume of a nocompress image changed at rest after it was written',
    applies: (r, v) => nocompress(r) && corruptedInWindow(r, v),
  },
  pfnCountUnchecked: {
    protocols: ['swsusp'],
    invariants: ['RestoreNeverClobbers'],
    reason:
      'the kernel never checks that the PFN count equals image_pages (snapshot_image_loaded tests only the page counter): extra PFNs of a corrupted list stay unrestored',
    source: 'kernel/power/snapshot.c: snapshot_image_loaded(), unpack_orig_pfns()',
    window: 'a resume of a nocompress image whose metadata, map or header page was changed at rest',
    applies: (r, v) => nocompress(r) && corruptedInWindow(r, v, ['meta', 'map', 'header']),
  },
  tornLastMapPage: {
    protocols: ['swsusp'],
    invariants: ['ImageCommittedAtomically'],
    reason:
      'swsusp flushes the last swap map page after signing the header (fef9c8d28e28) and ignores the error of that write: a power loss or EIO there leaves a signed, torn image',
    source: 'kernel/power/swap.c: swap_writer_finish() (mark_swapfiles, then flush_swap_writer; its error dropped)',
    window: 'a fault between signing the header and flushing the last swap map page, in the same hibernation',
    applies: (r, v) => {
      const h = hibernationOf(r, v.step);
      return h !== undefined && faultAfterSignature(r, h);
    },
  },
} as const satisfies Record<KnownLimitName, KnownLimitInfo>;
// keep-sorted end

/** The known limit that explains `v` on this run, if any. */
export function limitFor(r: LimitRun, v: Violation): KnownLimitName | undefined {
  for (const name of KNOWN_LIMIT_NAMES) {
    const l: KnownLimitInfo = knownLimitInfo[name];
    if (l.protocols.includes(r.s.protocol.kind) && l.invariants.includes(v.invariant) && l.applies(r, v)) return name;
  }
  return undefined;
}

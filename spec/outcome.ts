// What a run did, step by step: the vocabulary shared by the model (impl/) and the real-kernel runner (vm/).
// The differential verdict (verdict.ts) compares a predicted Observation with an observed one.
import type { InvariantName } from './invariants/names.ts';
import type { MachineObservation } from './machine.ts';

// keep-sorted start
export const ERRNOS = [
  'EBUSY',
  'EFAULT',
  'EINVAL',
  'EIO',
  'ENODATA',
  'ENODEV',
  'ENOKEY',
  'ENOMEM',
  'ENOSPC',
  'EPERM',
] as const;
export const REFUSAL_REASONS = [
  'badHeader',
  'crcMismatch',
  'decompressFailed',
  'keyUnavailable',
  'kernelMismatch',
  'memoryMapMismatch',
  'memorySizeMismatch',
  'outOfMemory',
  'pfnInvalid',
  'staleImage',
  'truncatedImage',
] as const;
export const TARGETS = ['model', 'vm'] as const;
// keep-sorted end

export type Errno = (typeof ERRNOS)[number];
export type RefusalReason = (typeof REFUSAL_REASONS)[number];
export type Target = (typeof TARGETS)[number];

/** Expected failures are values, as the kernel's negative errno returns. */
export type KResult<T> = { ok: true; value: T } | { ok: false; errno: Errno };
export const ok = <T>(value: T): KResult<T> => ({ ok: true, value });
export const fail = <T = never>(errno: Errno): KResult<T> => ({ ok: false, errno });

/** Counts describing an image stream (swsusp_info fields and what was written). */
export interface ImageStats {
  /** data pages in the stream (image_pages; non-zero pages only when zero pages are elided) */
  readonly dataPages: number;
  /** entries flagged as zero pages (0 when the profile stores zero pages) */
  readonly zeroPages: number;
  /** PFN metadata pages (nr_meta_pages) */
  readonly metaPages: number;
  /** stream pages including the header (swsusp_info.pages) */
  readonly streamPages: number;
  /** storage pages written, map pages and the swap header included */
  readonly writes: number;
}

// keep-sorted start
export const BOOT_VERDICTS = [
  'bootFailed',
  'hang',
  'infraError',
  'invariantViolated',
  'kernelPanic',
  'pass',
  'unexpectedReboot',
] as const;
export const COMPRESSORS = ['lz4', 'lzo', 'none'] as const;
export const CRASH_CAUSES = ['fuseServerFrozen'] as const;
export const CRASH_POINTS = ['afterResume', 'hibernating', 'load'] as const;
export const FAULT_STATES = ['fired', 'notFired'] as const;
// keep-sorted end
/** How one boot of a real kernel ended, from its console and QEMU's exit (vm/console/classify.ts). */
export type BootVerdictKind = (typeof BOOT_VERDICTS)[number];
export type Compressor = (typeof COMPRESSORS)[number];
/**
 * Why a kernel stopped, when the evidence names it (a real run: the task dump; the model: its trace).
 * fuseServerFrozen: the image writer waits for a FUSE server the freezer froze (the 2007 proposal's argument).
 */
export type CrashCause = (typeof CRASH_CAUSES)[number];
/** hibernating: the original kernel died while it hibernated; load: the resume kernel died loading the image;
 * afterResume: the resumed system died before it verified its memory */
export type CrashPoint = (typeof CRASH_POINTS)[number];
/** Whether the fault a hibernate step scheduled (ioErrorAtWrite, powerLossAfterWrite, ioErrorAfterSignature) hit. */
export type FaultState = (typeof FAULT_STATES)[number];

/** The original system's own check of its memory (the agent's tagged pages; the model's agent-kind frames). */
export interface MemoryCheck {
  readonly checked: number;
  readonly corrupt: number;
  /** kexec: tagged pages outside the save kernel's region that changed (SaveKernelStaysInItsBox) */
  readonly corruptOutside?: number;
}

/** The agent's pages as an independent reader finds them in the image's data pages. */
export interface TaggedCheck {
  /** tagged pages the image must hold (every tagged page the agent owned at the snapshot) */
  readonly expected: number;
  readonly missing: number;
  readonly duplicated: number;
  /** present, at the right PFN, with other contents */
  readonly wrongData: number;
}

/**
 * A signed image on storage as a reader that shares no code with the writer sees it (vm/image for swsusp,
 * vm/kjump/image.ts for the kexec container). EveryPageSavedOnce, NosaveNeverSaved and ImageCommittedAtomically are
 * judged on it (spec/invariants/observed.ts).
 */
export interface ImageCheck {
  /** parsed end to end: header, map chain, info, metadata, every chunk, the CRC when the format has one */
  readonly complete: boolean;
  /** the first problem found, when something is wrong */
  readonly problem?: string;
  readonly compressor: Compressor;
  readonly stats: ImageStats;
  /** the PFN list is strictly ascending (so each PFN at most once) */
  readonly pfnsAscending: boolean;
  /** image_pages and nr_meta_pages agree with the PFN list */
  readonly countsConsistent: boolean;
  /** listed PFNs outside the RAM of the machine's own memory map (reserved, ACPI, NVS, holes); absent when the map
   * is not known (a real guest's console tore it): not observed */
  readonly nosavePfns?: number;
  /** the header's num_physpages, and the RAM frames of the machine that wrote it as that machine counts them (a
   * real kernel: get_num_physpages() in its boot line "Memory: …K/…K available"); absent: not observed */
  readonly physpages?: { readonly header: number; readonly machine: number };
  readonly tagged?: TaggedCheck;
}

/** Storage after a step: is an image signed, and what a check of it found. */
export interface StorageFacts {
  readonly signed: boolean;
  /** present when signed and the target can read its format */
  readonly image?: ImageCheck;
}

/** Facts a hibernate step may carry on either target; absent = not observed (never "held"). */
export interface HibernateFacts {
  readonly fault?: FaultState;
  readonly storage?: StorageFacts;
  /** the running system's check of its memory after it came back (failed or aborted) */
  readonly memory?: MemoryCheck;
  /** swap pages still allocated after a failed write, beyond those in use before it (SwapSlotsFreedOnError) */
  readonly slotsLeaked?: number;
}

export type StepOutcome =
  | { readonly op: 'write'; readonly pages: number }
  | ({ readonly op: 'hibernate'; readonly result: 'poweredOff'; readonly image: ImageStats } & HibernateFacts)
  | ({
      readonly op: 'hibernate';
      readonly result: 'aborted';
      readonly at: string;
      readonly image?: ImageStats;
    } & HibernateFacts)
  | ({
      readonly op: 'hibernate';
      readonly result: 'failed';
      readonly errno: Errno;
      readonly phase: string;
    } & HibernateFacts)
  | ({ readonly op: 'hibernate'; readonly result: 'powerLost'; readonly writes: number } & HibernateFacts)
  /** the kernel died (panic, oops, hang, triple fault) during the step: a finding unless the model predicts it */
  | {
      readonly op: 'hibernate';
      readonly result: 'crashed';
      readonly at: CrashPoint;
      readonly boot: BootVerdictKind;
      readonly title: string;
      /** absent: no known cause (a finding whatever the model said) */
      readonly cause?: CrashCause;
    }
  | { readonly op: 'corrupt'; readonly applied: boolean }
  | { readonly op: 'bootNoresume' }
  | {
      readonly op: 'resume';
      readonly result: 'resumed';
      /** pages of the original system checked after resume, and how many differed; 0 checked = not verified */
      readonly pagesChecked: number;
      readonly pagesCorrupt: number;
      /** storage after the resumed system ran: the signature must be gone (ImageResumedAtMostOnce) */
      readonly storageAfter?: StorageFacts;
    }
  | { readonly op: 'resume'; readonly result: 'refused'; readonly reason: RefusalReason; readonly errno: Errno }
  | { readonly op: 'resume'; readonly result: 'noImage' }
  | {
      readonly op: 'resume';
      readonly result: 'crashed';
      readonly at: CrashPoint;
      readonly boot: BootVerdictKind;
      readonly title: string;
    }
  /** a step that needs a running machine while it is off (or vice versa) is not run */
  | { readonly op: 'skip'; readonly step: string; readonly reason: string };

/** One invariant violation, as data (zod-issue shaped), never an exception. */
export interface Violation {
  readonly invariant: InvariantName;
  /** index of the scenario step where it was detected, when known */
  readonly step?: number;
  readonly message: string;
  readonly expected?: string;
  readonly actual?: string;
}

/** What one target did with one scenario. */
export interface Observation {
  readonly target: Target;
  /** kernel profile or exact kernel version (vm: the Debian package version) */
  readonly kernel: string;
  readonly steps: readonly StepOutcome[];
  readonly violations: readonly Violation[];
  /** a real run: the first kernel's machine as its console showed it (absent: not observed, e.g. a torn line) */
  readonly machine?: MachineObservation;
}

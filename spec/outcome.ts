// What a run did, step by step: the vocabulary shared by the model (impl/) and the real-kernel runner (vm/).
// The differential verdict (verdict.ts) compares a predicted Observation with an observed one.
import type { InvariantName } from './invariants/names.ts';

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

export type StepOutcome =
  | { readonly op: 'write'; readonly pages: number }
  | { readonly op: 'hibernate'; readonly result: 'poweredOff'; readonly image: ImageStats }
  | { readonly op: 'hibernate'; readonly result: 'aborted'; readonly at: string; readonly image?: ImageStats }
  | { readonly op: 'hibernate'; readonly result: 'failed'; readonly errno: Errno; readonly phase: string }
  | { readonly op: 'hibernate'; readonly result: 'powerLost'; readonly writes: number }
  | { readonly op: 'corrupt'; readonly applied: boolean }
  | { readonly op: 'bootNoresume' }
  | {
      readonly op: 'resume';
      readonly result: 'resumed';
      /** pages of the original system checked after resume, and how many differed */
      readonly pagesChecked: number;
      readonly pagesCorrupt: number;
    }
  | { readonly op: 'resume'; readonly result: 'refused'; readonly reason: RefusalReason; readonly errno: Errno }
  | { readonly op: 'resume'; readonly result: 'noImage' }
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
}

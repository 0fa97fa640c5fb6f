// The closed set of invariant names (PascalCase claims). The registry (registry.ts) gives each its entry;
// any table keyed by InvariantName is written `satisfies Record<InvariantName, …>` so a missing name fails to compile.

// keep-sorted start
export const INVARIANT_NAMES = [
  'AbortCopiesNothing',
  'CorruptImageNeverResumed',
  'EveryPageSavedOnce',
  'FailureLosesNothing',
  'ImageCommittedAtomically',
  'ImageResumedAtMostOnce',
  'MismatchedImageRefused',
  'NosaveNeverSaved',
  'QuiescedMemoryUnchanged',
  'RestoreNeverClobbers',
  'ResumeRestoresIdenticalMemory',
  'SaveKernelStaysInItsBox',
  'StaleImageNeverResumed',
  'SwapSlotsFreedOnError',
] as const;
// keep-sorted end

export type InvariantName = (typeof INVARIANT_NAMES)[number];

export function isInvariantName(s: string): s is InvariantName {
  return (INVARIANT_NAMES as readonly string[]).includes(s);
}

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

/** Claims checked on every run and reported like an invariant that are not trace monitors both targets judge: the
 * outcome oracle (spec/protocol/abstract.ts). Its registry entry runs it in checkAll; per-target reports that list
 * INVARIANT_NAMES (KTAP, observation judgements) stay one line per monitor. */
export const ORACLE_NAMES = ['OutcomeAllowed'] as const;

/** The one set of claim names: every name a violation may carry. */
export const CLAIM_NAMES = [...INVARIANT_NAMES, ...ORACLE_NAMES] as const;
export type InvariantName = (typeof CLAIM_NAMES)[number];
export type OracleName = (typeof ORACLE_NAMES)[number];

export function isInvariantName(s: string): s is InvariantName {
  return (CLAIM_NAMES as readonly string[]).includes(s);
}

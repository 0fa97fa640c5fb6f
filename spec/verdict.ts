// Verdicts: the model's (held / violated / violated as predicted by a known design limit) and the differential one
// (the model's prediction against what a real kernel did: agree / diverge).
import type { InvariantName } from './invariants/names.ts';
import type { Observation, RefusalReason, StepOutcome, Violation } from './outcome.ts';
import type { Scenario } from './scenario/schema.ts';

// keep-sorted start
export const MODEL_VERDICTS = ['held', 'violated', 'violatedAsPredicted'] as const;
export const DIFF_VERDICTS = ['agree', 'diverge'] as const;
// keep-sorted end
export type ModelVerdict = (typeof MODEL_VERDICTS)[number];
export type DiffVerdict = (typeof DIFF_VERDICTS)[number];

/**
 * Known design limits: invariants a protocol variant is known to break under a scenario's conditions. A violation
 * that a limit explains is reported "violated, as predicted", never as a pass and never as a finding.
 */
export function knownLimit(s: Scenario, inv: InvariantName): string | undefined {
  const dma = s.steps.some((st) => st.op === 'hibernate' && (st.dmaAfterStopPages ?? 0) > 0);
  if (
    dma &&
    (
      [
        'QuiescedMemoryUnchanged',
        'EveryPageSavedOnce',
        'ResumeRestoresIdenticalMemory',
        'CorruptImageNeverResumed',
        'FailureLosesNothing',
        'AbortCopiesNothing',
        'SaveKernelStaysInItsBox',
      ] as InvariantName[]
    ).includes(inv)
  ) {
    return 'a device kept doing DMA after it was stopped: memory moved under the snapshot (bug class 6)';
  }
  if (s.protocol.kind !== 'swsusp') return undefined;
  const corrupts = s.steps.filter((st) => st.op === 'corrupt');
  switch (inv) {
    case 'CorruptImageNeverResumed':
      if (s.protocol.compression === 'none' && corrupts.length > 0) {
        return 'hibernate=nocompress writes no CRC32 (kernel/power/swap.c save_image): corruption is not detected';
      }
      if (corrupts.some((c) => c.op === 'corrupt' && c.region === 'header')) {
        return "swsusp's CRC32 covers the stream after the header page only (load_compressed_image)";
      }
      return undefined;
    case 'RestoreNeverClobbers':
      return s.protocol.compression === 'none' && corrupts.some((c) => c.op === 'corrupt' && c.region !== 'data')
        ? 'the kernel never checks that the PFN count equals image_pages (snapshot_image_loaded tests only the page counter): extra PFNs of a corrupted list stay unrestored'
        : undefined;
    case 'StaleImageNeverResumed':
      return s.steps.some((st) => st.op === 'bootNoresume')
        ? 'the kernel does not check for filesystems mounted since the snapshot (Documentation/power/swsusp.rst)'
        : undefined;
    case 'ImageCommittedAtomically':
      return s.steps.some(
        (st) =>
          st.op === 'hibernate' &&
          (st.powerLossAfterWrite !== undefined ||
            st.ioErrorAtWrite !== undefined ||
            st.ioErrorAfterSignature === true),
      )
        ? 'swsusp flushes the last swap map page after signing the header (fef9c8d28e28) and ignores the error of that write: a power loss or EIO there leaves a signed, torn image'
        : undefined;
    default:
      return undefined;
  }
}

export interface ModelJudgement {
  readonly verdict: ModelVerdict;
  /** violations no known limit explains: findings */
  readonly unexpected: readonly Violation[];
  /** violations a known limit explains, with the limit */
  readonly predicted: readonly (Violation & { readonly limit: string })[];
}

export function judge(s: Scenario, violations: readonly Violation[]): ModelJudgement {
  const unexpected: Violation[] = [];
  const predicted: (Violation & { limit: string })[] = [];
  for (const v of violations) {
    const limit = knownLimit(s, v.invariant);
    if (limit === undefined) unexpected.push(v);
    else predicted.push({ ...v, limit });
  }
  const verdict: ModelVerdict =
    unexpected.length > 0 ? 'violated' : predicted.length > 0 ? 'violatedAsPredicted' : 'held';
  return { verdict, unexpected, predicted };
}

/** One line per step outcome, for side-by-side printing. */
export function describeOutcome(o: StepOutcome | undefined): string {
  if (o === undefined) return '(not reached)';
  switch (o.op) {
    case 'write':
      return `write ${o.pages} pages`;
    case 'corrupt':
      return o.applied ? 'corrupted image page' : 'corrupt: no image to corrupt';
    case 'bootNoresume':
      return 'booted with noresume';
    case 'skip':
      return `${o.step} skipped: ${o.reason}`;
    case 'hibernate':
      switch (o.result) {
        case 'poweredOff':
          return `hibernated, powered off (image: ${o.image.dataPages} data + ${o.image.zeroPages} zero + ${o.image.metaPages} meta pages)`;
        case 'aborted':
          return `aborted at ${o.at}${o.image ? ` (image of ${o.image.dataPages} data pages written)` : ''}`;
        case 'failed':
          return `hibernation failed: ${o.errno} in ${o.phase}`;
        case 'powerLost':
          return `power lost after ${o.writes} writes`;
      }
      break;
    case 'resume':
      switch (o.result) {
        case 'resumed':
          return `resumed: ${o.pagesChecked} pages checked, ${o.pagesCorrupt} corrupt`;
        case 'refused':
          return `resume refused: ${o.reason} (${o.errno})`;
        case 'noImage':
          return 'no image: fresh boot';
      }
  }
  return 'unknown';
}

/**
 * Refusal reasons grouped by what both targets can tell apart: a compressed image corrupted at rest fails LZO
 * decompression on a real kernel and the CRC on the model (which does not compress); both are "integrity".
 */
// keep-sorted start
export const REFUSAL_GROUP = {
  badHeader: 'integrity',
  crcMismatch: 'integrity',
  decompressFailed: 'integrity',
  keyUnavailable: 'key',
  kernelMismatch: 'mismatch',
  memoryMapMismatch: 'mismatch',
  memorySizeMismatch: 'mismatch',
  outOfMemory: 'outOfMemory',
  pfnInvalid: 'integrity',
  staleImage: 'stale',
  truncatedImage: 'integrity',
} as const satisfies Record<RefusalReason, string>;
// keep-sorted end

/**
 * The class of a step outcome that both targets can observe. Page counts of kernel memory are not compared; after
 * corruption at rest, which pages a flipped bit hits differs between the model and a real image, so only
 * "resumed" is compared.
 */
function outcomeClass(o: StepOutcome | undefined, corrupted: boolean): string {
  if (o === undefined) return 'missing';
  switch (o.op) {
    case 'hibernate':
      return o.result === 'failed' ? `hibernate:failed:${o.errno}` : `hibernate:${o.result}`;
    case 'resume':
      if (o.result === 'resumed')
        return corrupted ? 'resume:resumed' : `resume:resumed:${o.pagesCorrupt === 0 ? 'intact' : 'corrupt'}`;
      return o.result === 'refused' ? `resume:refused:${REFUSAL_GROUP[o.reason]}` : 'resume:noImage';
    default:
      return o.op;
  }
}

export interface DiffJudgement {
  readonly verdict: DiffVerdict;
  readonly differences: readonly string[];
}

/**
 * Compare the model's prediction with a real kernel's observation, step by step. A real run can check fewer
 * invariants than the model, so only violations the real run reports and the model did not predict diverge.
 */
export function compareObservations(predicted: Observation, observed: Observation): DiffJudgement {
  const differences: string[] = [];
  const n = Math.max(predicted.steps.length, observed.steps.length);
  let corrupted = false;
  for (let i = 0; i < n; i++) {
    const p = predicted.steps[i];
    if (p?.op === 'corrupt' && p.applied) corrupted = true;
    if (p?.op === 'hibernate') corrupted = false;
    const a = outcomeClass(p, corrupted);
    const b = outcomeClass(observed.steps[i], corrupted);
    if (a !== b) differences.push(`step ${i}: model ${a}, ${observed.target} ${b}`);
  }
  const modelInv = new Set(predicted.violations.map((v) => v.invariant));
  const extra = [...new Set(observed.violations.map((v) => v.invariant))].filter((i) => !modelInv.has(i)).sort();
  if (extra.length > 0) differences.push(`${observed.target} violated [${extra.join(', ')}], the model predicted not`);
  return { verdict: differences.length === 0 ? 'agree' : 'diverge', differences };
}

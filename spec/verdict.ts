// Verdicts: the model's (held / violated / violated as predicted by a known design limit) and the differential one
// (the model's prediction against what a real kernel did: agree / diverge).
import { judgeObservation, type ObservedJudgement, observedViolations } from './invariants/observed.ts';
import { type KnownLimitName, knownLimitInfo, type LimitEvidence, limitFor, limitRun } from './limits.ts';
import { judgeMachine, type MachineJudgement } from './machine.ts';
import type { BootVerdictKind, CrashCause, Observation, RefusalReason, StepOutcome, Violation } from './outcome.ts';
import type { Scenario } from './scenario/schema.ts';

// keep-sorted start
export const MODEL_VERDICTS = ['held', 'violated', 'violatedAsPredicted'] as const;
export const DIFF_VERDICTS = ['agree', 'diverge'] as const;
// keep-sorted end
export type ModelVerdict = (typeof MODEL_VERDICTS)[number];
export type DiffVerdict = (typeof DIFF_VERDICTS)[number];

export interface ModelJudgement {
  readonly verdict: ModelVerdict;
  /** violations no known limit explains: findings */
  readonly unexpected: readonly Violation[];
  /** violations a known limit explains, with the limit's reason and name */
  readonly predicted: readonly PredictedViolation[];
}

export type PredictedViolation = Violation & { readonly limit: string; readonly limitName: KnownLimitName };

/**
 * Split violations into findings and known design limits (limits.ts), each limit matched against this run: the
 * model's trace, or a real run's observation (a limit applies only when the violation lies inside its window).
 */
export function judge(s: Scenario, violations: readonly Violation[], evidence: LimitEvidence): ModelJudgement {
  const unexpected: Violation[] = [];
  const predicted: PredictedViolation[] = [];
  const run = violations.length > 0 ? limitRun(s, evidence) : undefined;
  for (const v of violations) {
    const name = run === undefined ? undefined : limitFor(run, v);
    if (name === undefined) unexpected.push(v);
    else predicted.push({ ...v, limit: knownLimitInfo[name].reason, limitName: name });
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
        case 'crashed':
          return `kernel died while hibernating: ${o.boot}: ${o.title}${o.cause === undefined ? '' : ` (${o.cause})`}`;
      }
      break;
    case 'resume':
      switch (o.result) {
        case 'resumed':
          return `resumed: ${o.pagesChecked} pages checked, ${o.pagesCorrupt} corrupt`;
        case 'crashed':
          return `kernel died (${o.at}): ${o.boot}: ${o.title}`;
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
 * The class of a step outcome that both targets can observe. After corruption at rest, which pages a flipped bit
 * hits differs between the model and a real image, so only "resumed" is compared; a resume that verified no page is
 * never "intact".
 */
function outcomeClass(o: StepOutcome | undefined, corrupted: boolean): string {
  if (o === undefined) return 'missing';
  switch (o.op) {
    case 'hibernate':
      if (o.result === 'failed') return `hibernate:failed:${o.errno}`;
      // a crash with a known cause is its own class: a predicted hang matches only a hang with the same cause
      if (o.result === 'crashed') return `hibernate:crashed:${o.at}${o.cause === undefined ? '' : `:${o.cause}`}`;
      return `hibernate:${o.result}`;
    case 'resume':
      if (o.result === 'resumed') {
        if (o.pagesChecked === 0) return 'resume:resumed:unverified';
        return corrupted ? 'resume:resumed' : `resume:resumed:${o.pagesCorrupt === 0 ? 'intact' : 'corrupt'}`;
      }
      if (o.result === 'crashed') return `resume:crashed:${o.at}`;
      return o.result === 'refused' ? `resume:refused:${REFUSAL_GROUP[o.reason]}` : 'resume:noImage';
    default:
      return o.op;
  }
}

export interface DiffJudgement {
  readonly verdict: DiffVerdict;
  readonly differences: readonly string[];
}

export interface CompareOptions {
  /**
   * Image page counts (data, zero, meta) may differ by this many pages: the part of a real guest's own memory the
   * model cannot know exactly (the measured spread of the guest baseline). Default 0: counts must be equal.
   */
  readonly imageTolerancePages?: number;
  /** false: the image counts are not compared (the caller says why in its report) */
  readonly compareImageCounts?: boolean;
  /**
   * Zero pages of the real guest's own memory that the prediction counts as data pages (the model has no
   * kernel-owned zero page): moved from data to zero before the counts are compared.
   */
  readonly kernelZeroPages?: number;
}

const imageOf = (o: StepOutcome | undefined) =>
  o?.op === 'hibernate' && (o.result === 'poweredOff' || o.result === 'aborted') ? o.image : undefined;

/** Counts both targets report for one step, compared (pages checked, image counts, whether the fault fired). */
function countDifferences(
  i: number,
  p: StepOutcome | undefined,
  q: StepOutcome | undefined,
  target: string,
  tol: number | undefined,
  kernelZero: number,
): string[] {
  const out: string[] = [];
  if (p?.op === 'resume' && p.result === 'resumed' && q?.op === 'resume' && q.result === 'resumed') {
    if (p.pagesChecked !== q.pagesChecked)
      out.push(`step ${i}: model checked ${p.pagesChecked} pages after resume, ${target} ${q.pagesChecked}`);
  }
  const pa = imageOf(p);
  const a =
    pa === undefined || kernelZero === 0
      ? pa
      : { ...pa, dataPages: pa.dataPages - kernelZero, zeroPages: pa.zeroPages + kernelZero };
  const b = imageOf(q);
  if (a !== undefined && b !== undefined && tol !== undefined) {
    for (const k of ['dataPages', 'zeroPages', 'metaPages'] as const) {
      if (Math.abs(a[k] - b[k]) > tol) out.push(`step ${i}: model image ${k} ${a[k]}, ${target} ${b[k]} (±${tol})`);
    }
  }
  if (p?.op === 'hibernate' && q?.op === 'hibernate' && p.result !== 'crashed' && q.result !== 'crashed') {
    if (p.fault !== undefined && q.fault !== undefined && p.fault !== q.fault)
      out.push(`step ${i}: the scheduled fault ${p.fault} on the model, ${q.fault} on ${target}`);
  }
  return out;
}

/**
 * Compare the model's prediction with a real kernel's observation, step by step: the outcome class, then the counts
 * both report. A real run can check fewer invariants than the model, so only violations the real run reports and
 * the model did not predict diverge.
 */
export function compareObservations(
  predicted: Observation,
  observed: Observation,
  opts: CompareOptions = {},
): DiffJudgement {
  const differences: string[] = [];
  const n = Math.max(predicted.steps.length, observed.steps.length);
  const tol = opts.compareImageCounts === false ? undefined : (opts.imageTolerancePages ?? 0);
  let corrupted = false;
  for (let i = 0; i < n; i++) {
    const p = predicted.steps[i];
    if (p?.op === 'corrupt' && p.applied) corrupted = true;
    if (p?.op === 'hibernate') corrupted = false;
    const a = outcomeClass(p, corrupted);
    const b = outcomeClass(observed.steps[i], corrupted);
    if (a !== b) differences.push(`step ${i}: model ${a}, ${observed.target} ${b}`);
    else
      differences.push(...countDifferences(i, p, observed.steps[i], observed.target, tol, opts.kernelZeroPages ?? 0));
  }
  const modelInv = new Set(predicted.violations.map((v) => v.invariant));
  const extra = [...new Set(observed.violations.map((v) => v.invariant))].filter((i) => !modelInv.has(i)).sort();
  if (extra.length > 0) differences.push(`${observed.target} violated [${extra.join(', ')}], the model predicted not`);
  return { verdict: differences.length === 0 ? 'agree' : 'diverge', differences };
}

/**
 * The image is what the scenario asked for: a kernel that writes another compressor than the one selected (a 6.1
 * kernel keeps LZO when asked for LZ4) ran another scenario than the one judged.
 */
function asAsked(s: Scenario, o: Observation): string[] {
  if (s.protocol.kind !== 'swsusp' || s.protocol.interface !== 'sysfs') return [];
  const asked = s.protocol.compression;
  const out: string[] = [];
  for (const [i, st] of o.steps.entries()) {
    if (st.op !== 'hibernate' || st.result === 'crashed') continue;
    const got = st.storage?.image?.compressor;
    if (got !== undefined && got !== asked)
      out.push(`image: step ${i} was written with ${got}, the scenario asked ${asked}`);
  }
  return out;
}

// ---- the verdict of one real run --------------------------------------------------------------------------------

// keep-sorted start
export const RUN_VERDICTS = ['error', 'finding', 'pass'] as const;
// keep-sorted end
/**
 * pass: every boot ended as planned, no unexplained violation, the model agrees; finding: anything else the kernel
 * did; error: not the kernel's doing (the host, or the model could not predict): exit 2, never saved as a finding.
 */
export type RunVerdict = (typeof RUN_VERDICTS)[number];

export interface BootSummary {
  readonly kind: BootVerdictKind;
  readonly title: string;
  /** the cause the console named (a hang's task dump), if any */
  readonly cause?: CrashCause;
}

/**
 * A boot that died as the model predicted: the run's crashed hibernation has a known cause, the model predicted a
 * crash of that cause at that step, and the boot's own verdict names the same kind and cause. Anything else that
 * died is a finding.
 */
function predictedCrash(b: BootSummary, predicted: Observation | undefined, observed: Observation): boolean {
  if (b.cause === undefined || predicted === undefined) return false;
  return observed.steps.some((o, i) => {
    const p = predicted.steps[i];
    return (
      o.op === 'hibernate' &&
      o.result === 'crashed' &&
      o.boot === b.kind &&
      o.cause === b.cause &&
      p?.op === 'hibernate' &&
      p.result === 'crashed' &&
      p.boot === b.kind &&
      p.cause === b.cause
    );
  });
}

export interface RealRunJudgement {
  readonly verdict: RunVerdict;
  /** why it is not a pass, one line each */
  readonly reasons: readonly string[];
  /** each invariant as judged on the real run's observation */
  readonly invariants: readonly ObservedJudgement[];
  /** the real violations with the model's known limits applied */
  readonly judgement: ModelJudgement;
  readonly diff: DiffJudgement | undefined;
  /** the model's machine against the first kernel's (undefined: the console did not show it whole) */
  readonly machine: MachineJudgement | undefined;
}

/**
 * The one policy for a real run. Inputs: the model's prediction (undefined: the model could not run it), the real
 * observation, and how each boot ended. A boot that did not end as planned is a finding whatever the steps say; an
 * unexplained violation is a finding; a divergence from the model is a finding.
 */
export function judgeRealRun(
  s: Scenario,
  predicted: Observation | undefined,
  observed: Observation,
  boots: readonly BootSummary[],
  opts: CompareOptions = {},
): RealRunJudgement {
  const invariants = judgeObservation(s, observed);
  // the monitors' violations; a backend reports none (vm/backend.ts), but any it does is judged too, never dropped
  const seen = new Set<string>();
  const violations = [...observedViolations(invariants), ...observed.violations].filter((v) => {
    const key = `${v.invariant}@${v.step ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  // a real run has no trace: limits are matched against its observation's facts (limits.ts says how, per limit)
  const judgement = judge(s, violations, { observation: observed });
  const judged = { ...observed, violations };
  const machine = observed.machine === undefined ? undefined : judgeMachine(s, observed.machine);
  const diff = withMachine(
    predicted === undefined ? undefined : compareObservations(predicted, judged, opts),
    machine?.differences ?? [],
  );
  const reasons: string[] = [];
  let infra = false;
  for (const [n, b] of boots.entries()) {
    if (b.kind === 'infraError') infra = true;
    // the agent's own "pages corrupt" verdict must be explained by a judged violation (a known limit included)
    const explained =
      (b.kind === 'invariantViolated' && violations.length > 0) || predictedCrash(b, predicted, observed);
    if (b.kind !== 'pass' && !explained) reasons.push(`boot ${n + 1}: ${b.kind}: ${b.title}`);
  }
  for (const v of judgement.unexpected) reasons.push(`${v.invariant}: ${v.message}`);
  reasons.push(...asAsked(s, observed));
  if (diff?.verdict === 'diverge') reasons.push(...diff.differences.map((d) => `differential: ${d}`));
  if (predicted === undefined) reasons.push('the model could not predict this scenario');
  const verdict: RunVerdict = infra || predicted === undefined ? 'error' : reasons.length > 0 ? 'finding' : 'pass';
  return { verdict, reasons, invariants, judgement, diff, machine };
}

/** A machine that differs from the model's is a divergence: the model predicted another machine's hibernation. */
function withMachine(diff: DiffJudgement | undefined, machine: readonly string[]): DiffJudgement | undefined {
  if (diff === undefined || machine.length === 0) return diff;
  return { verdict: 'diverge', differences: [...diff.differences, ...machine.map((d) => `machine: ${d}`)] };
}

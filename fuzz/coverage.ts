// Campaign coverage: which protocols, phases, step outcomes, fault kinds, invariants and formula boundaries the runs
// exercised, against the universe of each, so the summary can say what was NOT reached.
import {
  CLAIM_NAMES,
  FAULT_REGIONS,
  type InvariantName,
  KEXEC_ABORT_POINTS,
  type ModelJudgement,
  type Observation,
  REFUSAL_REASONS,
  type RunTrace,
  type Scenario,
  type StepOutcome,
  SWSUSP_ABORT_POINTS,
} from '../spec/index.ts';
import { restoreKernelFrames } from '../spec/model/boot.ts';
import { nosaveMap } from '../spec/model/init.ts';
import { restoreShortfall } from '../spec/protocol/formulas.ts';

// Phases the model emits (impl/: event(ctx, step, phase)); `pm_test:<level>` collapses to `pm_test`.
export const KNOWN_PHASES = [
  'bootNoresume',
  'corrupt',
  'freeze:failed',
  'frozen',
  'jump',
  'jumpBack',
  'kexec_load',
  'kexec_load:failed',
  'pm_test',
  'powerLost',
  'poweredOff',
  'preallocate:failed',
  'preallocated',
  'resume:jumped',
  'resume:loaded',
  'resume:noImage',
  'resume:refused',
  'resume:signatureReset',
  'snapshot',
  'stopDevices',
  'test_resume',
  'write',
  'write:failed',
  'written',
] as const;

export const KNOWN_OUTCOMES = [
  'bootNoresume',
  'corrupt:applied',
  'corrupt:noImage',
  'hibernate:aborted',
  'hibernate:failed',
  'hibernate:powerLost',
  'hibernate:poweredOff',
  'resume:noImage',
  'resume:resumed:corrupt',
  'resume:resumed:intact',
  ...REFUSAL_REASONS.map((r) => `resume:refused:${r}`),
  'skip',
  'write',
] as const;

export const KNOWN_FAULTS = [
  ...new Set([...KEXEC_ABORT_POINTS, ...SWSUSP_ABORT_POINTS].map((p) => `abort:${p}`)),
  ...FAULT_REGIONS.map((r) => `corrupt:${r}`),
  'dma',
  'eio',
  'key:missing',
  'key:wrong',
  'mismatch:e820',
  'mismatch:kernel',
  'mismatch:memory',
  'none',
  'powerLoss',
  'stale',
  'twice',
] as const;

export const KNOWN_PROTOCOLS = ['kexec', 'swsusp'] as const;

/**
 * The boundaries of impl/'s formulas, each at n-1, n, n+1 (from the phase events' counts; restoreSafe from the
 * resume records):
 *   halfOfRam    saveable pages - max_size of hibernate_preallocate_memory() (the half-of-RAM limit)
 *   mapPage      stream pages around 511 k (a swap map page fills; k >= 1)
 *   metaPage     PFN entries around 512 k (a metadata page fills; k >= 1)
 *   restoreSafe  safe frames the loader needs - those it has (prepare_image / get_buffer: ENOMEM above 0)
 *   storage      free swap slots - what the image needs (enough_swap in nocompress mode; the slots otherwise)
 */
// keep-sorted start
export const BOUNDARY_KINDS = ['halfOfRam', 'mapPage', 'metaPage', 'restoreSafe', 'storage'] as const;
// keep-sorted end
export const KNOWN_BOUNDARIES = BOUNDARY_KINDS.flatMap((k) => [`${k}:-1`, `${k}:0`, `${k}:+1`]);

const OFFSET_KEY = { '-1': ':-1', '0': ':0', '1': ':+1' } as Readonly<Record<string, string>>;

/** `n` against multiples of `per` (k >= 1): -1, 0, +1 or undefined when not next to one. */
function aroundMultiple(n: number, per: number): number | undefined {
  if (n < per - 1) return undefined;
  const r = n % per;
  if (r === per - 1) return -1;
  if (r === 0) return 0;
  return r === 1 && n > per ? 1 : undefined;
}

/** The formula boundaries a run met (KNOWN_BOUNDARIES keys). */
export function boundariesOf(trace: RunTrace): string[] {
  const out = new Set<string>();
  const at = (kind: string, d: number | undefined) => {
    const k = d === undefined ? undefined : OFFSET_KEY[String(d)];
    if (k !== undefined) out.add(kind + k);
  };
  for (const e of trace.events) {
    const c = e.counts;
    if (c === undefined) continue;
    if ((e.phase === 'preallocated' || e.phase === 'preallocate:failed') && c['maxSize'] !== undefined)
      at('halfOfRam', (c['saveable'] ?? 0) - c['maxSize']);
    if (c['storageMargin'] !== undefined) {
      at('storage', c['storageMargin']);
      at('mapPage', aroundMultiple(c['streamPages'] ?? 0, 511));
      at('metaPage', aroundMultiple(c['entries'] ?? 0, 512));
    }
  }
  for (const r of trace.records)
    if (r.kind === 'resume' && r.load !== undefined)
      at('restoreSafe', restoreMargin(trace.scenario, r.memPages, r.load.imageSet));
  return [...out];
}

/**
 * restoreShortfall() of a resume that started loading, from the image PFN set it loaded and the machine's map (the
 * loader's frames: spec/model/boot.ts), so a campaign reports how close restore came to running out of safe frames.
 */
export function restoreMargin(s: Scenario, memPages: number, imageSet: Uint8Array): number {
  const nosave = nosaveMap(memPages, s.machine.e820);
  const own = restoreKernelFrames(s);
  let ram = 0;
  let entries = 0;
  let loaderFrames = 0;
  let busy = 0;
  for (let p = 0; p < memPages; p++) {
    if (nosave[p] === 1) continue;
    ram++;
    const mine = p >= own.start && p < own.end;
    if (mine) loaderFrames++;
    if (imageSet[p] !== 1) continue;
    entries++;
    if (mine) busy++;
  }
  return restoreShortfall({ entries, loaderFrames, busy, ram });
}

export function outcomeKey(o: StepOutcome): string {
  switch (o.op) {
    case 'hibernate':
      return `hibernate:${o.result}`;
    case 'resume':
      if (o.result === 'resumed') return `resume:resumed:${o.pagesCorrupt === 0 ? 'intact' : 'corrupt'}`;
      return o.result === 'refused' ? `resume:refused:${o.reason}` : 'resume:noImage';
    case 'corrupt':
      return o.applied ? 'corrupt:applied' : 'corrupt:noImage';
    default:
      return o.op;
  }
}

export function phaseKey(phase: string): string {
  return phase.startsWith('pm_test:') ? 'pm_test' : phase;
}

/** The fault kinds a scenario injects (`none` when it injects nothing). */
export function faultsOf(s: Scenario): string[] {
  const out = new Set<string>();
  let resumes = 0;
  for (const st of s.steps) {
    switch (st.op) {
      case 'hibernate':
        if (st.powerLossAfterWrite !== undefined) out.add('powerLoss');
        if (st.ioErrorAtWrite !== undefined) out.add('eio');
        if ((st.dmaAfterStopPages ?? 0) > 0) out.add('dma');
        if (st.abortAt !== undefined) out.add(`abort:${st.abortAt}`);
        break;
      case 'corrupt':
        out.add(`corrupt:${st.region}`);
        break;
      case 'bootNoresume':
        out.add('stale');
        break;
      case 'resume':
        resumes++;
        if (st.memPages !== undefined && st.memPages !== s.machine.memPages) out.add('mismatch:memory');
        if (st.e820Changed) out.add('mismatch:e820');
        if (st.kernel !== undefined) out.add('mismatch:kernel');
        break;
      default:
        break;
    }
  }
  if (resumes > 1) out.add('twice');
  if (s.storage.keyAtResume !== 'same') out.add(`key:${s.storage.keyAtResume}`);
  if (out.size === 0) out.add('none');
  return [...out];
}

/** When a run gives an invariant something to check (otherwise the monitor holds vacuously). */
const EXERCISED = {
  AbortCopiesNothing: (r) => r.outcomes.has('hibernate:aborted'),
  CorruptImageNeverResumed: (r) => r.outcomes.has('corrupt:applied') && r.resumed,
  EveryPageSavedOnce: (r) => r.phases.has('written'),
  FailureLosesNothing: (r) => r.outcomes.has('hibernate:failed'),
  ImageCommittedAtomically: (r) => r.phases.has('written') || r.phases.has('powerLost') || r.phases.has('write:failed'),
  ImageResumedAtMostOnce: (r) => r.resumeAttempts > 1 && r.phases.has('written'),
  MismatchedImageRefused: (r) => r.faults.some((f) => f.startsWith('mismatch:')) && r.phases.has('written'),
  NosaveNeverSaved: (r) => r.holes && r.phases.has('written'),
  OutcomeAllowed: (r) => r.outcomes.size > 0,
  QuiescedMemoryUnchanged: (r) => r.phases.has('written'),
  RestoreNeverClobbers: (r) => r.phases.has('resume:loaded'),
  ResumeRestoresIdenticalMemory: (r) => r.phases.has('resume:jumped'),
  SaveKernelStaysInItsBox: (r) => r.phases.has('jump'),
  StaleImageNeverResumed: (r) => r.faults.includes('stale') && r.phases.has('written') && r.resumeAttempts > 0,
  SwapSlotsFreedOnError: (r) => r.phases.has('write:failed'),
} satisfies Record<InvariantName, (r: RunFacts) => boolean>;

interface RunFacts {
  readonly phases: ReadonlySet<string>;
  readonly outcomes: ReadonlySet<string>;
  readonly faults: readonly string[];
  readonly resumeAttempts: number;
  readonly resumed: boolean;
  readonly holes: boolean;
}

export interface InvariantCoverage {
  /** runs where the invariant had something to check */
  exercised: number;
  /** unexplained violations (findings) and violations a known limit explains */
  violated: number;
  predicted: number;
}

export interface Coverage {
  runs: number;
  readonly protocols: Map<string, number>;
  readonly phases: Map<string, number>;
  readonly outcomes: Map<string, number>;
  readonly faults: Map<string, number>;
  /** formula boundaries met (KNOWN_BOUNDARIES) */
  readonly boundaries: Map<string, number>;
  readonly invariants: Map<InvariantName, InvariantCoverage>;
}

export function newCoverage(): Coverage {
  return {
    runs: 0,
    protocols: new Map(),
    phases: new Map(),
    outcomes: new Map(),
    faults: new Map(),
    boundaries: new Map(),
    invariants: new Map(CLAIM_NAMES.map((n) => [n, { exercised: 0, violated: 0, predicted: 0 }])),
  };
}

const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

/** Account one model run. */
export function addRun(c: Coverage, trace: RunTrace, obs: Observation, j: ModelJudgement): void {
  const s = trace.scenario;
  c.runs++;
  bump(c.protocols, s.protocol.kind);
  const phases = new Set(trace.events.map((e) => phaseKey(e.phase)));
  const outcomes = new Set(obs.steps.map(outcomeKey));
  const faults = faultsOf(s);
  for (const p of phases) bump(c.phases, p);
  for (const o of outcomes) bump(c.outcomes, o);
  for (const f of faults) bump(c.faults, f);
  for (const b of boundariesOf(trace)) bump(c.boundaries, b);
  const facts: RunFacts = {
    phases,
    outcomes,
    faults,
    resumeAttempts: obs.steps.filter((o) => o.op === 'resume').length,
    resumed: outcomes.has('resume:resumed:intact') || outcomes.has('resume:resumed:corrupt'),
    holes: (s.machine.e820 ?? []).length > 0,
  };
  for (const name of CLAIM_NAMES) {
    const ic = c.invariants.get(name) as InvariantCoverage;
    if (EXERCISED[name](facts)) ic.exercised++;
  }
  for (const v of new Set(j.unexpected.map((v) => v.invariant))) (c.invariants.get(v) as InvariantCoverage).violated++;
  for (const v of new Set(j.predicted.map((v) => v.invariant))) (c.invariants.get(v) as InvariantCoverage).predicted++;
}

export function mergeCoverage(into: Coverage, from: Coverage): void {
  into.runs += from.runs;
  for (const k of ['protocols', 'phases', 'outcomes', 'faults', 'boundaries'] as const) {
    for (const [x, n] of from[k]) into[k].set(x, (into[k].get(x) ?? 0) + n);
  }
  for (const [n, ic] of from.invariants) {
    const t = into.invariants.get(n) as InvariantCoverage;
    t.exercised += ic.exercised;
    t.violated += ic.violated;
    t.predicted += ic.predicted;
  }
}

/** `reached/total` and the names not reached, per dimension. */
export function coverageLines(c: Coverage): string[] {
  const dim = (label: string, seen: Map<string, number>, universe: readonly string[]) => {
    const missing = universe.filter((u) => !seen.has(u));
    const extra = [...seen.keys()].filter((k) => !universe.includes(k));
    const reached = universe.length - missing.length;
    let line = `  ${label.padEnd(11)} ${reached}/${universe.length}`;
    if (missing.length > 0) line += `; not reached: ${missing.join(', ')}`;
    if (extra.length > 0) line += `; also: ${extra.join(', ')}`;
    return line;
  };
  const inv = new Map([...c.invariants].filter(([, ic]) => ic.exercised > 0).map(([n, ic]) => [n, ic.exercised]));
  return [
    `coverage over ${c.runs} runs:`,
    dim('protocols', c.protocols, KNOWN_PROTOCOLS),
    dim('phases', c.phases, KNOWN_PHASES),
    dim('outcomes', c.outcomes, KNOWN_OUTCOMES),
    dim('faults', c.faults, KNOWN_FAULTS),
    dim('boundaries', c.boundaries, KNOWN_BOUNDARIES),
    dim('invariants', inv, CLAIM_NAMES),
  ];
}

/** Short form for the progress line. */
export function coverageShort(c: Coverage): string {
  const n = (m: Map<string, number>, u: readonly string[]) => u.filter((x) => m.has(x)).length;
  const inv = [...c.invariants.values()].filter((ic) => ic.exercised > 0).length;
  return (
    `phases ${n(c.phases, KNOWN_PHASES)}/${KNOWN_PHASES.length} outcomes ${n(c.outcomes, KNOWN_OUTCOMES)}/${KNOWN_OUTCOMES.length} ` +
    `faults ${n(c.faults, KNOWN_FAULTS)}/${KNOWN_FAULTS.length} boundaries ${n(c.boundaries, KNOWN_BOUNDARIES)}/${KNOWN_BOUNDARIES.length} ` +
    `invariants ${inv}/${CLAIM_NAMES.length}`
  );
}

/** JSON-friendly form. */
export function coverageJson(c: Coverage): Record<string, unknown> {
  return {
    runs: c.runs,
    protocols: Object.fromEntries(c.protocols),
    phases: Object.fromEntries(c.phases),
    outcomes: Object.fromEntries(c.outcomes),
    faults: Object.fromEntries(c.faults),
    boundaries: Object.fromEntries(c.boundaries),
    invariants: Object.fromEntries(c.invariants),
  };
}

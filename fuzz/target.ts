// What a campaign runs its scenarios on (campaign.ts has the one loop): the model in-process (this file), or a
// real kernel through a backend (vm-target.ts). A target turns a scenario into a TargetRun: pass, skipped (does not
// fit / unsupported), error (the host's trouble: never a finding) or finding, with one Hit per distinct finding of
// the run. Everything else (corpus, replay, dedup, records, shrinking, budgets) is the loop's and is shared.
import { defaultParts, type Parts, runAndJudge } from '../impl/index.ts';
import { describeOutcome, type PhaseEvent, type Scenario, type Violation } from '../spec/index.ts';
import type { FindingRecord } from './corpus.ts';
import { addRun, type Coverage } from './coverage.ts';
import { writeFaultRealigner } from './realign.ts';
import { violationLines } from './replay.ts';
import type { Realign } from './shrink.ts';
import { printScenarioText } from './text.ts';

/** One distinct finding of a run: what names it (invariant, signature) and what its record shows. */
export interface Hit {
  /** an InvariantName, or ModelAgreesWithKernel / KernelBootsAndRuns (target vm) */
  readonly invariant: string;
  readonly verdict: 'violated' | 'diverge';
  /** dedup key (corpus.ts signatureOf) */
  readonly signature: string;
  readonly violations: readonly Violation[];
  readonly outcomes: readonly string[];
  readonly events: readonly PhaseEvent[];
  readonly differences?: readonly string[];
  /** the real run's reasons (judgeRealRun), one line each */
  readonly reasons?: readonly string[];
  /** where the run's artifacts are (console logs) */
  readonly artifacts?: string;
}

export type TargetRun =
  | { readonly status: 'pass' }
  | { readonly status: 'finding'; readonly hits: readonly Hit[] }
  /** the model cannot set it up (does not fit), or the kernel cannot run it (unsupported) */
  | { readonly status: 'skipped'; readonly reason?: string }
  /** the host's trouble (InfraError, RealResult status error): never saved, never a finding */
  | { readonly status: 'error'; readonly reason: string };

export type RunPurpose = 'replay' | 'generate' | 'shrink';

export interface RunContext {
  readonly coverage: Coverage;
  readonly purpose: RunPurpose;
  /** which concurrent worker runs it (logs) */
  readonly worker: number;
}

export interface Target {
  readonly kind: 'model' | 'vm';
  /** concurrent runs (the model: 1, in-process) */
  readonly jobs: number;
  /** the scenario to run for a generated one (vm: bent into what a real guest can be); undefined: not here */
  generated(s: Scenario): Scenario | undefined;
  /** a corpus or seed scenario as written; undefined: this target cannot run it (counted as unsupported) */
  replayed(s: Scenario): Scenario | undefined;
  run(s: Scenario, ctx: RunContext): TargetRun | Promise<TargetRun>;
  /** a shrink candidate still shows `want` when one of its hits is `got` */
  sameHit(want: Hit, got: Hit): boolean;
  readonly shrink: {
    readonly evals: number;
    /** wall-clock cap per finding (ms); the campaign's own deadline caps it too */
    readonly ms?: number;
    readonly realign?: Realign;
    /** candidates this target can run at all (never counted as an eval) */
    readonly admissible?: (s: Scenario) => boolean;
  };
  /** ' on debian-6.1' (vm), '' (model): in a shrunk scenario's description */
  readonly where: string;
  /** fields of every record of this target (kernel, kernelVersion) */
  readonly recordFields: { readonly kernel?: string; readonly kernelVersion?: string };
  replayCommand(file: string): string;
}

export function modelReplayCommand(file: string, plant: string | undefined): string {
  return `node bin/hibfuzz.mjs replay ${file}${plant !== undefined ? ` --plant ${plant}` : ''}`;
}

/** The signature protocol tag of a model finding is the protocol; a vm finding's is `vm:` + the protocol. */
export const signatureTag = (target: Target['kind'], s: Scenario) =>
  target === 'vm' ? `vm:${s.protocol.kind}` : s.protocol.kind;

export interface ModelTargetOptions {
  readonly parts?: Parts;
  readonly plant?: string;
  readonly shrinkEvals?: number;
  /** signatures (corpus.ts signatureOf) */
  readonly signature: (invariant: string, protocol: string, message: string) => string;
}

/** The reference model in-process: runAndJudge; one hit per violated invariant (its first unexpected violation). */
export function modelTarget(o: ModelTargetOptions): Target {
  const parts = o.parts ?? defaultParts;
  const run = (s: Scenario, ctx: RunContext): TargetRun => {
    const r = runAndJudge(s, parts);
    if (!r.ok) return { status: 'skipped' };
    if (ctx.purpose !== 'shrink') addRun(ctx.coverage, r.trace, r.observation, r.judgement);
    if (r.judgement.verdict !== 'violated') return { status: 'pass' };
    const first = new Map<string, Violation>();
    for (const v of r.judgement.unexpected) if (!first.has(v.invariant)) first.set(v.invariant, v);
    const outcomes = r.observation.steps.map(describeOutcome);
    const hits = [...first].map(
      ([inv, v]): Hit => ({
        invariant: inv,
        verdict: 'violated',
        signature: o.signature(inv, s.protocol.kind, v.message),
        violations: r.judgement.unexpected.filter((x) => x.invariant === inv),
        outcomes,
        events: r.trace.events,
      }),
    );
    // a violated verdict with only predicted violations is no finding (nothing unexpected)
    return hits.length > 0 ? { status: 'finding', hits } : { status: 'pass' };
  };
  return {
    kind: 'model',
    jobs: 1,
    generated: (s) => s,
    replayed: (s) => s,
    run,
    sameHit: (want, got) => want.invariant === got.invariant,
    shrink: { evals: o.shrinkEvals ?? 3000, realign: writeFaultRealigner(parts) },
    where: '',
    recordFields: {},
    replayCommand: (file) => modelReplayCommand(file, o.plant),
  };
}

/** The text file stored next to a finding: scenario text form, verdict, violations, replay command. */
export function findingText(rec: FindingRecord, s: Scenario): string {
  const on = rec.kernel !== undefined ? ` ${rec.kernel}${rec.kernelVersion ? ` ${rec.kernelVersion}` : ''}` : '';
  const lines = [
    printScenarioText(s).trimEnd(),
    '',
    `# finding: ${rec.invariant} (${rec.target}${on}, ${rec.verdict})`,
  ];
  if (rec.plant !== undefined) lines.push(`# plant: ${rec.plant}`);
  for (const [i, o] of rec.outcomes.entries()) lines.push(`# step ${i}: ${o}`);
  for (const v of rec.violations) lines.push(...violationLines(v, '# '));
  if (rec.reasons !== undefined) for (const r of rec.reasons) lines.push(`# reason: ${r}`);
  else for (const d of rec.differences ?? []) lines.push(`# ${d}`);
  if (rec.artifacts !== undefined) lines.push(`# artifacts (console logs): ${rec.artifacts}`);
  lines.push(`# replay: ${rec.replay}`);
  return `${lines.join('\n')}\n`;
}

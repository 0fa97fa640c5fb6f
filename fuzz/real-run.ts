// One scenario on one real kernel, next to the model's prediction for that kernel: the one result type every
// real-kernel command reports (vm run, vm suite, fuzz --target vm, gate). The verdict comes from
// spec/verdict.ts judgeRealRun(); this module only wires the backend, the model and the clock.
import { rmSync } from 'node:fs';
import { defaultParts, type Parts, runAndJudge } from '../impl/index.ts';
import {
  describeOutcome,
  judgeRealRun,
  type ModelVerdict,
  type Observation,
  type ObservedJudgement,
  type RunVerdict,
  type Scenario,
  type Violation,
} from '../spec/index.ts';
import type { MachineJudgement } from '../spec/machine.ts';
import type { Backend, BootRecord, KernelIdentity } from '../vm/backend.ts';

export const REAL_RESULT_FORMAT = 'hibfuzz-real-run/1' as const;

/** A real run's status: the verdict of judgeRealRun, or unsupported (skipped with its reason, never run). */
export type RealStatus = RunVerdict | 'unsupported';

export interface RealResult {
  readonly format: typeof REAL_RESULT_FORMAT;
  readonly scenario: string;
  readonly file?: string;
  readonly kernel: {
    readonly spec: string;
    readonly version: string;
    readonly release: string;
    readonly line: string;
    readonly bzImageSha256: string;
    readonly configSha256?: string;
    readonly patchSetSha256?: string;
    readonly capabilities: readonly string[];
  };
  readonly status: RealStatus;
  /** why it is not a pass (finding or error), or why it is unsupported; one line each */
  readonly reasons: readonly string[];
  readonly model?: {
    readonly verdict: ModelVerdict;
    readonly outcomes: readonly string[];
    readonly violations: readonly Violation[];
    readonly observation: Observation;
  };
  readonly real?: {
    readonly outcomes: readonly string[];
    readonly observation: Observation;
    readonly boots: readonly BootRecord[];
    /** every invariant as judged on the real run: held, violated or notObserved */
    readonly invariants: readonly ObservedJudgement[];
    /** violations a known design limit explains */
    readonly predicted: readonly (Violation & { readonly limit: string })[];
  };
  readonly differences: readonly string[];
  /** how the image page counts were compared with the model's */
  readonly imageCounts?: string;
  /** how the model's machine was compared with the first kernel's (spec/machine.ts judgeMachine) */
  readonly machine?: string;
  readonly timings: { readonly modelMs: number; readonly realSeconds: number; readonly phases: Record<string, number> };
  readonly workDir: string;
}

export interface RealRunOptions {
  readonly workDir: string;
  readonly parts?: Parts;
  readonly file?: string;
  readonly timeoutMs?: number;
  readonly fast?: boolean;
  readonly log?: (line: string) => void;
  /** delete the disk image after the run (console logs stay); default true */
  readonly dropDisk?: boolean;
}

const kernelOf = (id: KernelIdentity): RealResult['kernel'] => ({
  spec: id.spec,
  version: id.version,
  release: id.release,
  line: id.line,
  bzImageSha256: id.bzImageSha256,
  ...(id.configSha256 !== undefined ? { configSha256: id.configSha256 } : {}),
  ...(id.patchSetSha256 !== undefined ? { patchSetSha256: id.patchSetSha256 } : {}),
  capabilities: id.capabilities,
});

/**
 * Run `s` on the backend's kernel and on the model (predicting that kernel), and judge. Throws only InfraError
 * (from the backend): the caller reports it as an error, never as a finding.
 */
export async function runReal(
  backend: Backend,
  id: KernelIdentity,
  s: Scenario,
  o: RealRunOptions,
): Promise<RealResult> {
  const base = {
    format: REAL_RESULT_FORMAT,
    scenario: s.id,
    ...(o.file !== undefined ? { file: o.file } : {}),
    kernel: kernelOf(id),
    workDir: o.workDir,
  };
  const pre = backend.precheck(s);
  const support = pre.ok ? backend.supports(s, id) : pre;
  if (!support.ok) {
    return {
      ...base,
      status: 'unsupported',
      reasons: [support.reason],
      differences: [],
      timings: { modelMs: 0, realSeconds: 0, phases: {} },
    };
  }
  const ms = backend.modelScenario(s, id);
  const t0 = performance.now();
  const m = runAndJudge(ms, o.parts ?? defaultParts);
  const modelMs = performance.now() - t0;
  const t1 = performance.now();
  let real: Awaited<ReturnType<Backend['run']>>;
  try {
    // the kernel runs the scenario as written; only the prediction carries the guest's own memory
    real = await backend.run(s, id, {
      workDir: o.workDir,
      ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
      ...(o.fast === undefined ? {} : { fast: o.fast }),
      ...(o.log === undefined ? {} : { log: o.log }),
    });
  } finally {
    if (o.dropDisk ?? true) rmSync(`${o.workDir}/disk.img`, { force: true });
  }
  const realSeconds = (performance.now() - t1) / 1000;
  const predicted = m.ok ? m.observation : undefined;
  const counts = backend.imageCounts(ms, id);
  const j = judgeRealRun(
    ms,
    predicted,
    real.observation,
    real.boots,
    'tolerancePages' in counts
      ? { imageTolerancePages: counts.tolerancePages, kernelZeroPages: counts.kernelZeroPages ?? 0 }
      : { compareImageCounts: false },
  );
  const reasons = m.ok ? j.reasons : [`the model cannot run this scenario: ${m.error}`];
  return {
    ...base,
    status: j.verdict,
    reasons,
    ...(m.ok
      ? {
          model: {
            verdict: m.judgement.verdict,
            outcomes: m.observation.steps.map(describeOutcome),
            violations: m.observation.violations,
            observation: m.observation,
          },
        }
      : {}),
    real: {
      outcomes: real.observation.steps.map(describeOutcome),
      observation: real.observation,
      boots: real.boots,
      invariants: j.invariants,
      predicted: j.judgement.predicted,
    },
    differences: j.diff?.differences ?? [],
    imageCounts:
      'tolerancePages' in counts
        ? `compared within ±${counts.tolerancePages} pages`
        : `not compared: ${counts.notCompared}`,
    machine: describeMachine(j.machine),
    timings: { modelMs, realSeconds, phases: { ...real.timings } },
  };
}

function describeMachine(m: MachineJudgement | undefined): string {
  if (m === undefined)
    return "not compared: the first kernel's console did not show its memory map and nosave ranges whole";
  if (m.differences.length > 0) return `differs in ${m.differences.length} ranges (see the differences)`;
  const t = m.tolerated.map((x) => `${x.tolerance} [0x${x.range.start.toString(16)}, 0x${x.range.end.toString(16)})`);
  return `agrees${t.length === 0 ? '' : `, tolerated: ${t.join(', ')}`}`;
}

/** Exit status over results: 1 any finding, else 2 any error, else 0 (unsupported rows are skips). */
export function realExitCode(rs: readonly Pick<RealResult, 'status'>[]): 0 | 1 | 2 {
  if (rs.some((r) => r.status === 'finding')) return 1;
  if (rs.some((r) => r.status === 'error')) return 2;
  return 0;
}

/** Human-readable lines of one result (vm run's text output). */
export function realResultLines(r: RealResult): string[] {
  const out = [`${r.scenario} on ${r.kernel.spec} (${r.kernel.version}): ${r.status.toUpperCase()}`];
  for (const x of r.reasons) out.push(`  ${r.status === 'unsupported' ? 'unsupported' : 'reason'}: ${x}`);
  if (r.model !== undefined) {
    const why = r.model.violations.map((v) => v.invariant);
    out.push(`  model prediction: ${r.model.verdict}${why.length > 0 ? ` [${[...new Set(why)].join(', ')}]` : ''}`);
  }
  if (r.real !== undefined) {
    for (const b of r.real.boots) out.push(`  boot ${b.role}: ${b.kind} (${b.title}) ${b.seconds.toFixed(1)} s`);
    const n = Math.max(r.real.outcomes.length, r.model?.outcomes.length ?? 0);
    for (let i = 0; i < n; i++) {
      out.push(`  step ${i}: real ${r.real.outcomes[i] ?? '(not reached)'} | model ${r.model?.outcomes[i] ?? '?'}`);
    }
    const by = (k: string) => r.real?.invariants.filter((x) => x.result === k).map((x) => x.invariant) ?? [];
    out.push(`  invariants on the real kernel: held [${by('held').join(', ')}]`);
    if (by('violated').length > 0) out.push(`    violated [${by('violated').join(', ')}]`);
    out.push(`    not observed [${by('notObserved').join(', ')}]`);
    for (const p of r.real.predicted) out.push(`    as predicted: ${p.invariant} (${p.limit})`);
  }
  out.push(`  artifacts: ${r.workDir}`);
  return out;
}

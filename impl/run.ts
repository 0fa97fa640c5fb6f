// Runs one scenario on the reference implementation: builds the initial state, applies each step with the
// protocol's code, and returns the trace (for the invariant monitors) and the observation (for the verdicts).
import {
  checkAll,
  cloneMemory,
  initialDevice,
  initialMemory,
  judge,
  type Memory,
  type ModelJudgement,
  type Observation,
  type RunTrace,
  type Scenario,
  type StepOutcome,
  type StepRecord,
  type Violation,
} from '../spec/index.ts';
import { staleGarbage } from '../spec/model/chunks.ts';
import { observedSteps } from '../spec/model/facts.ts';
import { type Ctx, deviceSnapshot } from './context.ts';
import { kexecHibernate } from './kexec/kexec.ts';
import { defaultParts, type Parts } from './parts.ts';
import { swsuspHibernate } from './power/hibernate.ts';
import { profileOf } from './power/power.ts';
import { bootNoresumeStep, corruptStep, resumeStep, writeStep } from './steps.ts';

export interface RunResult {
  readonly trace: RunTrace;
  readonly observation: Observation;
}

export type RunError = { readonly ok: false; readonly error: string };

export interface RunOptions {
  /** the machine at boot, when the caller built it already (initialMemory(s)); it is never mutated */
  readonly initial?: Memory;
}

/** Run a parsed scenario. Deterministic: the same scenario and parts give the same trace. */
export function runScenario(
  s: Scenario,
  parts: Parts = defaultParts,
  opts: RunOptions = {},
): ({ ok: true } & RunResult) | RunError {
  const init = opts.initial !== undefined ? { ok: true as const, memory: opts.initial } : initialMemory(s);
  if (!init.ok) return { ok: false, error: init.error };
  const initial = init.memory;
  const profile = profileOf(s);
  const ctx: Ctx = {
    s,
    parts,
    profile,
    mem: initial,
    memShared: true,
    memSnap: undefined,
    lastBefore: undefined,
    dev: initialDevice(s),
    devSnapshot: undefined,
    lastDev: undefined,
    events: [],
    records: [],
    nextImageId: 1,
    imageKinds: new Map(),
    lastImage: undefined,
    lastLoad: undefined,
    garbage: staleGarbage(s.seed), // initialMemory's free frames
    corruptedSinceImage: false,
    staleSinceImage: false,
    gen: 1,
    faults: new Map(),
  };
  for (const [i, st] of s.steps.entries()) {
    const off = ctx.mem === undefined;
    const skip = (reason: string): StepRecord => ({
      kind: 'write',
      step: i,
      outcome: { op: 'skip', step: st.op, reason },
    });
    // every step but a write may change storage (a hibernation takes its storageBefore snapshot first)
    if (st.op !== 'write' && st.op !== 'hibernate') ctx.devSnapshot = undefined;
    if (st.op === 'write' && ctx.mem !== undefined) {
      if (ctx.memShared) ctx.mem = cloneMemory(ctx.mem);
      ctx.memShared = false;
      ctx.memSnap = undefined;
    }
    let r: StepRecord;
    switch (st.op) {
      case 'write':
        r = off ? skip('machine is off') : writeStep(ctx, st, i);
        break;
      case 'hibernate':
        r = off
          ? skip('machine is off')
          : s.protocol.kind === 'kexec'
            ? kexecHibernate(ctx, st, i)
            : swsuspHibernate(ctx, st, i);
        break;
      case 'corrupt':
        r = corruptStep(ctx, st, i);
        break;
      case 'bootNoresume':
        r = bootNoresumeStep(ctx, st, i);
        break;
      case 'resume':
        r = resumeStep(ctx, st, i);
        break;
    }
    ctx.records.push(r);
    // the machine died (the FUSE writer's hang): nothing of the scenario runs after it, as on a real kernel
    if (r.outcome.op === 'hibernate' && r.outcome.result === 'crashed') break;
  }
  const trace: RunTrace = {
    scenario: s,
    profile: profile.name,
    initial,
    records: ctx.records,
    events: ctx.events,
    ...(ctx.mem ? { finalMemory: ctx.mem } : {}),
    finalStorage: deviceSnapshot(ctx),
  };
  const violations = checkAll(trace);
  // after the monitors: the storage facts reuse the images they decoded (decodeSnapshot is memoised per snapshot)
  const steps: StepOutcome[] = observedSteps(trace, ctx.faults);
  return { ok: true, trace, observation: { target: 'model', kernel: profile.name, steps, violations } };
}

export interface ModelRun extends RunResult {
  readonly violations: readonly Violation[];
  readonly judgement: ModelJudgement;
}

/** Run and judge: violations split into findings and known design limits. */
export function runAndJudge(
  s: Scenario,
  parts: Parts = defaultParts,
  opts: RunOptions = {},
): ({ ok: true } & ModelRun) | RunError {
  const r = runScenario(s, parts, opts);
  if (!r.ok) return r;
  return {
    ...r,
    violations: r.observation.violations,
    judgement: judge(s, r.observation.violations, { trace: r.trace }),
  };
}

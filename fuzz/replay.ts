// Re-running one scenario on the model and describing the result: verdict, each unexpected violation with expected
// vs actual, and where the run first went wrong (the step and phase of the first violation).
import type { ModelRun, Parts } from '../impl/index.ts';
import { runAndJudge } from '../impl/index.ts';

import type { PhaseEvent, Scenario, Violation } from '../spec/index.ts';
import { describeOutcome } from '../spec/index.ts';
import { stepText } from './text.ts';

export type ReplayResult = ({ ok: true } & ModelRun) | { ok: false; error: string };

export function replayScenario(s: Scenario, parts: Parts): ReplayResult {
  return runAndJudge(s, parts);
}

/** The first unexpected violation in step order, and the last phase event of its step (where it was detected). */
export function firstDivergence(
  run: ModelRun,
): { violation: Violation; step: number; event: PhaseEvent | undefined } | undefined {
  const vs = [...run.judgement.unexpected].sort((a, b) => (a.step ?? 1e9) - (b.step ?? 1e9));
  const v = vs[0];
  if (v === undefined) return undefined;
  const step = v.step ?? run.trace.events.at(-1)?.step ?? 0;
  const ofStep = run.trace.events.filter((e) => e.step === step);
  return { violation: v, step, event: ofStep.at(-1) };
}

export function eventText(e: PhaseEvent): string {
  const counts = e.counts
    ? ` ${Object.entries(e.counts)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`
    : '';
  return `${e.phase}${counts}${e.note !== undefined ? ` (${e.note})` : ''}`;
}

export function violationLines(v: Violation, indent = '  '): string[] {
  const out = [`${indent}${v.invariant}${v.step !== undefined ? ` at step ${v.step}` : ''}: ${v.message}`];
  if (v.expected !== undefined) out.push(`${indent}  expected: ${v.expected}`);
  if (v.actual !== undefined) out.push(`${indent}  actual:   ${v.actual}`);
  return out;
}

/** The replay report of one run (what `hibfuzz replay` prints per file). */
export function replayLines(s: Scenario, run: ModelRun): string[] {
  const j = run.judgement;
  const out = [`verdict: ${j.verdict}`];
  for (const [i, o] of run.observation.steps.entries()) {
    const st = s.steps[i];
    out.push(`  step ${i} ${st ? stepText(st) : '?'} -> ${describeOutcome(o)}`);
  }
  if (j.unexpected.length > 0) {
    out.push('violated:');
    for (const v of j.unexpected) out.push(...violationLines(v, '  '));
    const d = firstDivergence(run);
    if (d !== undefined) {
      const st = s.steps[d.step];
      out.push(
        `first divergence: step ${d.step} (${st ? stepText(st) : '?'})` +
          (d.event ? `, phase ${eventText(d.event)}` : '') +
          `: ${d.violation.invariant}`,
      );
    }
  }
  for (const v of j.predicted) out.push(`  as predicted: ${v.invariant}: ${v.message} [limit: ${v.limit}]`);
  return out;
}

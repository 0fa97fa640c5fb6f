// How a campaign's findings are printed and reported: the full text of a finding, their order, and the test results
// (one per claim, plus the differential and the boot check on a real kernel) that KTAP and JUnit are written from.
import type { CampaignResult, Finding } from './campaign.ts';
import { violationLines } from './replay.ts';
import { DIFF_TEST, modelResults, type TestResult } from './results.ts';
import { printScenarioText, stepText } from './text.ts';

/** A path relative to the working directory when it is below it. */
export const rel = (p: string): string => (p.startsWith(`${process.cwd()}/`) ? p.slice(process.cwd().length + 1) : p);

export function findingLines(f: Finding): string[] {
  const r = f.record;
  const out = [
    `== ${r.name}: ${r.invariant} ${r.verdict} (${r.target}${r.plant ? `, plant ${r.plant}` : ''}; ${r.count} hit(s) in total${f.isNew ? '' : ', already in the corpus'})`,
  ];
  if (r.shrink.evals > 0) {
    out.push(
      `   shrunk from ${r.original.id} (${r.original.memPages} pages, ${r.original.steps} steps) to ${f.scenario.machine.memPages} pages, ${f.scenario.steps.length} steps in ${r.shrink.evals} runs`,
    );
  }
  out.push(
    ...printScenarioText(f.scenario)
      .trimEnd()
      .split('\n')
      .map((l) => `   ${l}`),
  );
  for (const [i, o] of r.outcomes.entries()) {
    const st = f.scenario.steps[i];
    out.push(`   -> step ${i} ${st ? stepText(st) : ''}: ${o}`);
  }
  out.push('   violated:');
  for (const v of r.violations) out.push(...violationLines(v, '     '));
  for (const d of r.differences ?? []) out.push(`     ${d}`);
  if (f.file !== undefined) out.push(`   saved: ${rel(f.file)} (+ .txt, .finding.json)`);
  if (r.seed !== undefined) {
    out.push(
      `   origin: campaign seed ${r.campaignSeed}, batch ${r.batch ?? '?'}: fast-check seed ${r.seed} path ${r.path ?? '?'}`,
    );
  }
  if (r.replayedFrom !== undefined) out.push(`   origin: replay of ${rel(r.replayedFrom)}`);
  out.push(`   replay: ${r.replay.replace(f.file ?? '\0', rel(f.file ?? ''))}`);
  return out;
}

/** Findings printed in full at the end of a campaign; the rest get one line each. */
export const DETAILED = 3;

/** The plant's own invariant first, then the most frequent, then by name (stable output for a seed). */
export function orderFindings(fs: readonly Finding[], invariant: string | undefined): Finding[] {
  return [...fs].sort(
    (a, b) =>
      Number(b.record.invariant === invariant) - Number(a.record.invariant === invariant) ||
      b.hits - a.hits ||
      a.record.name.localeCompare(b.record.name),
  );
}

export function testResults(r: CampaignResult, target: 'model' | 'vm'): TestResult[] {
  const tests = modelResults(r, target);
  if (target === 'vm') {
    const extra = [DIFF_TEST, 'KernelBootsAndRuns'].map(
      (name): TestResult => ({
        target,
        name,
        exercised: r.runs,
        runs: r.runs,
        failures: r.findings
          .filter((f) => f.record.invariant === name)
          .map((f) => ({
            ...(f.file ? { file: f.file } : {}),
            count: f.record.count,
            lines: [...(f.record.differences ?? []), ...f.record.outcomes],
          })),
      }),
    );
    tests.push(...extra);
  }
  return tests;
}

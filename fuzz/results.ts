// Per-invariant, per-target test results of a campaign: the input of the KTAP and JUnit reports.
import { CLAIM_NAMES } from '../spec/index.ts';
import type { CampaignResult } from './campaign.ts';

/** The differential check of target vm: the model's prediction agrees with the kernel. */
export const DIFF_TEST = 'ModelAgreesWithKernel' as const;
/** Every boot of a real run ended as planned (no panic, oops, hang, triple fault, unexpected reboot). */
export const BOOT_TEST = 'KernelBootsAndRuns' as const;

export interface TestFailure {
  /** the saved scenario */
  readonly file?: string;
  /** its memory picture (SVG), when one was drawn */
  readonly picture?: string;
  readonly count: number;
  readonly lines: readonly string[];
}

export interface TestResult {
  readonly target: 'model' | 'vm';
  readonly name: string;
  /** runs that gave the invariant something to check */
  readonly exercised: number;
  readonly runs: number;
  readonly failures: readonly TestFailure[];
}

export function testStatus(t: TestResult): 'ok' | 'notOk' | 'skip' {
  if (t.failures.length > 0) return 'notOk';
  return t.exercised > 0 ? 'ok' : 'skip';
}

/**
 * One result per claim (every invariant and the outcome oracle): a finding of any claim a campaign can report must
 * appear as a failing case, or a KTAP/JUnit consumer would read a failed campaign as green.
 */
export function modelResults(r: CampaignResult, target: 'model' | 'vm' = 'model'): TestResult[] {
  return CLAIM_NAMES.map((name) => ({
    target,
    name,
    exercised: r.coverage.invariants.get(name)?.exercised ?? 0,
    runs: r.coverage.runs,
    failures: r.findings
      .filter((f) => f.record.invariant === name && f.record.target === target)
      .map((f) => ({
        ...(f.file !== undefined ? { file: f.file } : {}),
        count: f.record.count,
        lines: f.record.violations.flatMap((v) => [
          `${v.invariant}${v.step !== undefined ? ` at step ${v.step}` : ''}: ${v.message}`,
          ...(v.expected !== undefined ? [`expected: ${v.expected}`] : []),
          ...(v.actual !== undefined ? [`actual: ${v.actual}`] : []),
        ]),
      })),
  }));
}

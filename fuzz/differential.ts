// Differential row: one shipped scenario on the model and on one real kernel (Debian swsusp or the kexec-jump
// kernel), compared step by step; the allow-list of divergences that are known real-kernel findings.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runAndJudge } from '../impl/index.ts';
import {
  compareObservations,
  describeOutcome,
  judge,
  type ModelVerdict,
  type Observation,
  parseScenario,
  type Scenario,
  type Violation,
} from '../spec/index.ts';
import { BootError, InfraError, isBootError, isInfraError, runScenarioInVm } from '../vm/index.ts';
import { JUMP_BACK_PATCH } from '../vm/kjump/build.ts';
import type { HelperKind } from '../vm/kjump/plan.ts';
import { runKjumpScenario } from '../vm/kjump/run.ts';
import { modelScenarioFor } from './vm-target.ts';

// keep-sorted start
export const DIFF_KERNELS = ['debian-6.1', 'debian-6.12', 'kjump-6.12', 'kjump-6.12-patched'] as const;
export const ROW_STATUSES = ['agree', 'bootError', 'diverge', 'infra', 'modelError', 'unsupported'] as const;
// keep-sorted end
export type DiffKernel = (typeof DIFF_KERNELS)[number];
/**
 * agree/diverge: both targets ran and were compared; bootError: the real kernel panicked, hung or never came back
 * (a finding); infra: the host could not run it (never a finding); unsupported: this kernel cannot run the
 * scenario's protocol; modelError: the model rejected the scenario.
 */
export type RowStatus = (typeof ROW_STATUSES)[number];

export const isDiffKernel = (k: string): k is DiffKernel => (DIFF_KERNELS as readonly string[]).includes(k);

const isKjump = (k: DiffKernel): k is 'kjump-6.12' | 'kjump-6.12-patched' => k.startsWith('kjump-');

/**
 * How B returns to A, per kexec scenario: the hibkj helper (own, works on stock 6.12) unless the scenario is about
 * the stock `kexec --load-jump-back-helper` (vm/kjump/scenarios/stock-helper.json says "run with --helper stock").
 */
export const KJUMP_HELPER: Readonly<Record<string, HelperKind>> = { 'kjump-stock-helper': 'stock' };
export const kjumpHelper = (s: Scenario): HelperKind => KJUMP_HELPER[s.id] ?? 'own';

/**
 * swsusp scenarios run on the Debian lines, kexec scenarios on the kexec-jump kernel; the kernel built with
 * vm/kjump/patches/jump-back-helper.patch runs only the scenarios that use the stock helper (what the patch fixes).
 */
export function kernelRuns(s: Scenario, k: DiffKernel): boolean {
  if (s.protocol.kind !== 'kexec') return !isKjump(k);
  if (k === 'kjump-6.12') return true;
  return k === 'kjump-6.12-patched' && kjumpHelper(s) === 'stock';
}

/** The scenario the model is given for a real kernel (vm-target.ts modelScenarioFor: the line's profile and the
 * guest's own memory). */
export function modelScenario(s: Scenario, k: DiffKernel): Scenario {
  return isKjump(k) ? s : modelScenarioFor(s, k);
}

export interface ModelSide {
  readonly outcomes: readonly string[];
  readonly verdict: ModelVerdict;
  readonly unexpected: readonly Violation[];
  /** violations a known design limit explains, with the limit's text */
  readonly predicted: readonly (Violation & { readonly limit: string })[];
}

export interface RealSide {
  readonly outcomes: readonly string[];
  readonly violations: readonly Violation[];
  /** the model's known limits applied to the real violations */
  readonly verdict: ModelVerdict;
  /** worst boot verdict (swsusp runner) or "ok" (kjump) */
  readonly boot: string;
}

export interface DiffRow {
  readonly scenario: string;
  /** the suite's kernel name */
  readonly kernel: DiffKernel;
  /** exact version: Debian package version, or the kjump label (source version, config and patch hashes) */
  readonly kernelVersion: string;
  readonly status: RowStatus;
  readonly model: ModelSide | undefined;
  readonly real: RealSide | undefined;
  readonly differences: readonly string[];
  /** infra / boot / model error text, one line */
  readonly error?: string;
  readonly timings: {
    readonly modelMs: number;
    readonly realSeconds: number;
    /** runner phases in seconds (kjump: `<run>.<phase>`) */
    readonly phases: Readonly<Record<string, number>>;
  };
  /** console logs and disk of the real run */
  readonly workDir: string;
}

/** The real-kernel side as the row needs it; tests inject fakes. */
export interface RealRun {
  readonly observation: Observation;
  readonly boot: string;
  readonly phases: Readonly<Record<string, number>>;
}

export interface Runners {
  readonly swsusp: (s: Scenario, kernel: 'debian-6.1' | 'debian-6.12', workDir: string) => Promise<RealRun>;
  readonly kjump: (s: Scenario, workDir: string, patched: boolean) => Promise<RealRun>;
}

export interface DiffOptions {
  readonly workDir: string;
  /** swsusp: restore booted guests from QEMU migration files (vm/fast.ts); default true */
  readonly fast?: boolean;
  readonly timeoutMs?: number;
  readonly log?: (line: string) => void;
  /** delete the disk image after the run (console logs stay); default true */
  readonly dropDisk?: boolean;
  readonly runners?: Runners;
}

const oneLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

/** The real runners: vm/run.ts for Debian kernels, vm/kjump/run.ts (own jump-back helper) for kexec. */
export function realRunners(o: Pick<DiffOptions, 'fast' | 'timeoutMs' | 'log'>): Runners {
  return {
    swsusp: async (s, kernel, workDir) => {
      const r = await runScenarioInVm(s, {
        kernel,
        workDir,
        fast: o.fast ?? true,
        ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
        ...(o.log === undefined ? {} : { log: o.log }),
      });
      const boot = r.verdict.kind === 'pass' ? 'pass' : `${r.verdict.kind}: ${r.verdict.title}`;
      return { observation: r.observation, boot, phases: r.timings };
    },
    kjump: async (s, workDir, patched) => {
      const r = await runKjumpScenario(s, {
        artifactsDir: workDir,
        helper: kjumpHelper(s),
        ...(patched ? { patches: [JUMP_BACK_PATCH] } : {}),
        ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
      });
      const phases: Record<string, number> = {};
      for (const [run, t] of Object.entries(r.timings))
        for (const [k, v] of Object.entries(t)) phases[`${run}.${k}`] = v;
      if (!r.ok) {
        // keep the failure kind (jumpBackHelperOom, noReturn, ...) in the one-line message
        const msg = `${r.kind}: ${r.error.message}`;
        throw r.error instanceof BootError ? new BootError(msg, r.error.consoleLog) : new InfraError(msg);
      }
      return { observation: r.observation, boot: 'ok', phases };
    },
  };
}

/**
 * Run one scenario on the model and on one real kernel and compare. Never throws for kernel or host problems:
 * InfraError gives status infra, BootError (panic, hang, no return) gives bootError.
 */
export async function differentialRow(scenario: Scenario, kernel: DiffKernel, opts: DiffOptions): Promise<DiffRow> {
  const workDir = opts.workDir;
  const base = { scenario: scenario.id, kernel, workDir };
  const noTime = { modelMs: 0, realSeconds: 0, phases: {} };
  if (!kernelRuns(scenario, kernel)) {
    return {
      ...base,
      kernelVersion: kernel,
      status: 'unsupported',
      model: undefined,
      real: undefined,
      differences: [],
      error: `${scenario.protocol.kind} scenarios do not run on ${kernel}`,
      timings: noTime,
    };
  }
  const s = modelScenario(scenario, kernel);
  const t0 = performance.now();
  const m = runAndJudge(s);
  const modelMs = performance.now() - t0;
  if (!m.ok) {
    return {
      ...base,
      kernelVersion: kernel,
      status: 'modelError',
      model: undefined,
      real: undefined,
      differences: [],
      error: m.error,
      timings: { ...noTime, modelMs },
    };
  }
  const model: ModelSide = {
    outcomes: m.observation.steps.map(describeOutcome),
    verdict: m.judgement.verdict,
    unexpected: m.judgement.unexpected,
    predicted: m.judgement.predicted,
  };
  const runners = opts.runners ?? realRunners(opts);
  const t1 = performance.now();
  let real: RealRun;
  try {
    real = isKjump(kernel)
      ? await runners.kjump(s, workDir, kernel === 'kjump-6.12-patched')
      : await runners.swsusp(s, kernel, workDir);
  } catch (e) {
    const realSeconds = (performance.now() - t1) / 1000;
    // anything but a BootError is not the kernel's doing (QEMU missing, build failed, bad path, a runner bug):
    // never a finding; the suite fails on it as infra
    const status: RowStatus = isBootError(e) ? 'bootError' : 'infra';
    const kind = isInfraError(e) || isBootError(e) ? '' : `${e instanceof Error ? e.name : 'error'}: `;
    // vm/kjump/run.ts ends its BootError messages with the kernel label
    const label = /\[(kjump-[^\]]+)\]$/.exec(oneLine(e))?.[1];
    return {
      ...base,
      kernelVersion: label ?? kernel,
      status,
      model,
      real: undefined,
      differences: [],
      error: `${kind}${oneLine(e)}`,
      timings: { modelMs, realSeconds, phases: {} },
    };
  } finally {
    if (opts.dropDisk ?? true) rmSync(join(workDir, 'disk.img'), { force: true });
  }
  const realSeconds = (performance.now() - t1) / 1000;
  const j = judge(s, real.observation.violations);
  const d = compareObservations(m.observation, real.observation);
  // a boot that panicked or hung is a finding even when the steps it did run agree
  const bootFailed = real.boot !== 'pass' && real.boot !== 'ok' && !real.boot.startsWith('invariantViolated');
  return {
    ...base,
    kernelVersion: real.observation.kernel,
    status: d.verdict === 'agree' ? (bootFailed ? 'bootError' : 'agree') : 'diverge',
    model,
    real: {
      outcomes: real.observation.steps.map(describeOutcome),
      violations: real.observation.violations,
      verdict: j.verdict,
      boot: real.boot,
    },
    differences: d.differences,
    ...(bootFailed ? { error: real.boot } : {}),
    timings: { modelMs, realSeconds, phases: real.phases },
  };
}

////////    the suite    ////////

export interface SuiteCase {
  readonly file: string;
  readonly scenario: Scenario;
  readonly kernel: DiffKernel;
}

/** Shipped scenario folders, relative to the repository root. */
export const SCENARIO_DIRS = ['vm/scenarios', 'vm/kjump/scenarios'] as const;

/**
 * Every shipped scenario on every kernel that runs its protocol, in a stable order (folder, file name, kernel).
 * A file that does not parse is an error: shipped scenarios are schema-valid.
 */
export function suiteCases(root: string, kernels: readonly DiffKernel[] = DIFF_KERNELS): SuiteCase[] {
  const out: SuiteCase[] = [];
  for (const dir of SCENARIO_DIRS) {
    const files = readdirSync(join(root, dir))
      .filter((f) => f.endsWith('.json'))
      .sort();
    for (const f of files) {
      const file = join(dir, f);
      const p = parseScenario(JSON.parse(readFileSync(join(root, file), 'utf8')));
      if (!p.ok) throw new Error(`${file}: ${p.error}`);
      for (const kernel of kernels)
        if (kernelRuns(p.scenario, kernel)) out.push({ file, scenario: p.scenario, kernel });
    }
  }
  return out;
}

////////    known divergences    ////////

/** Why a row may diverge (or a kernel fail) without failing the suite. */
export interface KnownDivergence {
  readonly scenario: string;
  /** kernel lines it applies to */
  readonly kernels: readonly DiffKernel[];
  /** a diverging row: its differences, exactly (a different divergence is not covered) */
  readonly differences?: readonly string[];
  /** a bootError row: the start of its error (the failure kind) */
  readonly bootError?: string;
  /** kernel: the real kernel misbehaves (a finding, reported upstream); runner: the VM side cannot observe it */
  readonly class: 'kernel' | 'runner';
  readonly reason: string;
}

/**
 * The entry that covers a row: same scenario, a listed kernel, and exactly the same differences (diverge) or an
 * error starting with the listed failure kind (bootError).
 */
export function knownDivergence(row: DiffRow, known: readonly KnownDivergence[]): KnownDivergence | undefined {
  const same = (k: KnownDivergence) => k.scenario === row.scenario && k.kernels.includes(row.kernel);
  if (row.status === 'diverge') {
    return known.find(
      (k) =>
        same(k) &&
        k.differences !== undefined &&
        k.differences.length === row.differences.length &&
        k.differences.every((x, i) => x === row.differences[i]),
    );
  }
  if (row.status === 'bootError') {
    return known.find((k) => same(k) && k.bootError !== undefined && (row.error ?? '').startsWith(k.bootError));
  }
  return undefined;
}

/**
 * Divergences that are known real-kernel findings or limits of what the runner can observe, each with its reason
 * (docs/vm-results.md has the evidence). A model inaccuracy does not belong here: it is fixed in impl/.
 */
export const KNOWN_DIVERGENCES: readonly KnownDivergence[] = [
  // Debian 6.1.192 kernel/power/swap.c swsusp_check() opens the resume device with FMODE_EXCL exactly when
  // snapshot_test is set (inverted: 6.12 hibernate() calls swsusp_check(false) for test_resume). swapon holds the
  // device, so blkdev_get_by_dev() fails with -EBUSY ("PM: Image not found (code -16)") before the signature is
  // reset, and hibernate() returns EBUSY instead of restoring the image it just wrote.
  {
    scenario: 'vm-abort-test-resume',
    kernels: ['debian-6.1'],
    differences: ['step 0: model hibernate:aborted, vm hibernate:failed:EBUSY'],
    class: 'kernel',
    reason:
      'Debian 6.1.192 swsusp_check() takes the swap device exclusively in test_resume mode: EBUSY, the image is never read back',
  },
  // The same bug, followed through: the failed test_resume leaves S1SUSPEND on the swap device, the system runs on
  // (writes 100 pages) and powers off normally, and the next boot resumes the stale image, losing those writes.
  {
    scenario: 'vm-test-resume-then-boot',
    kernels: ['debian-6.1'],
    differences: [
      'step 0: model hibernate:aborted, vm hibernate:failed:EBUSY',
      'step 2: model resume:noImage, vm resume:resumed:intact',
      'vm violated [StaleImageNeverResumed], the model predicted not',
    ],
    class: 'kernel',
    reason:
      'Debian 6.1.192: the test_resume EBUSY leaves the image signed, so the next boot resumes a stale image (StaleImageNeverResumed)',
  },
  // Stock 6.12 kexec_core.c kimage_is_destination_range(): the empty segment of `kexec --load-jump-back-helper`
  // gives mend = mstart + 0 - 1 = ULONG_MAX, so every page is a destination and kimage_alloc_control_pages() fails
  // ("Could not allocate control_code_buffer"). vm/kjump/patches/jump-back-helper.patch fixes it (the same scenario
  // agrees on kjump-6.12-patched).
  {
    scenario: 'kjump-stock-helper',
    kernels: ['kjump-6.12'],
    bootError: 'jumpBackHelperOom',
    class: 'kernel',
    reason:
      'stock 6.12 kimage_is_destination_range() wraps on the jump-back helper zero-length segment: B cannot load the way back to A',
  },
];

////////    printing    ////////

const cell = (s: string): string => s.replace(/\|/g, '\\|');

const modelCell = (m: ModelSide | undefined): string => {
  if (m === undefined) return '';
  const v =
    m.verdict === 'held'
      ? 'held'
      : m.verdict === 'violated'
        ? `VIOLATED ${m.unexpected.map((x) => x.invariant).join(', ')}`
        : `violated as predicted: ${m.predicted.map((x) => x.invariant).join(', ')}`;
  return `${m.outcomes.join('; ')} [${v}]`;
};

const realCell = (r: DiffRow): string => {
  if (r.real === undefined) return '(no observation)';
  const inv = r.real.violations.map((v) => v.invariant);
  return `${r.real.outcomes.join('; ')}${inv.length > 0 ? ` [violated: ${[...new Set(inv)].join(', ')}]` : ''}`;
};

const verdictCell = (r: DiffRow, known: readonly KnownDivergence[]): string => {
  switch (r.status) {
    case 'agree':
      return 'agree';
    case 'diverge':
      return `**diverge**${knownDivergence(r, known) ? ' (known)' : ''}: ${r.differences.join('; ')}`;
    case 'bootError':
      return `**boot error**${knownDivergence(r, known) ? ' (known)' : ''}: ${r.error ?? ''}`;
    default:
      return `${r.status}: ${r.error ?? ''}`;
  }
};

/** The results table as Markdown: one row per scenario x kernel. */
export function markdownTable(rows: readonly DiffRow[], known: readonly KnownDivergence[]): string {
  const head = [
    '| scenario | kernel | model prediction | real kernel | verdict | real s |',
    '| --- | --- | --- | --- | --- | ---: |',
  ];
  const body = rows.map(
    (r) =>
      `| ${cell(r.scenario)} | ${cell(r.kernelVersion)} | ${cell(modelCell(r.model))} | ${cell(realCell(r))} | ${cell(
        verdictCell(r, known),
      )} | ${r.timings.realSeconds.toFixed(1)} |`,
  );
  return [...head, ...body].join('\n');
}

// The real-kernel suite: every shipped scenario on every kernel asked for, one RealResult per row; the allow-list of
// known real-kernel findings; the rows as a Markdown table, nested KTAP (one subtest suite per kernel) and JUnit.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseScenario, type Scenario } from '../spec/index.ts';
import { xmlEscape } from './junit.ts';
import type { RealResult } from './real-run.ts';

/** Shipped scenario folders, relative to the repository root. */
export const SCENARIO_DIRS = ['vm/scenarios', 'vm/kjump/scenarios'] as const;
/** The kernels `vm suite` runs when none is given. */
export const SUITE_KERNELS = ['debian-6.1', 'debian-6.12', 'kjump-6.12', 'kjump-6.12-patched'] as const;

export interface ShippedScenario {
  readonly file: string;
  readonly scenario: Scenario;
}

/** Every shipped scenario, in a stable order. A file that does not parse is an error: shipped files are valid. */
export function shippedScenarios(root: string): ShippedScenario[] {
  const out: ShippedScenario[] = [];
  for (const dir of SCENARIO_DIRS) {
    for (const f of readdirSync(join(root, dir))
      .filter((x) => x.endsWith('.json'))
      .sort()) {
      const file = join(dir, f);
      const p = parseScenario(JSON.parse(readFileSync(join(root, file), 'utf8')));
      if (!p.ok) throw new Error(`${file}: ${p.error}`);
      out.push({ file, scenario: p.scenario });
    }
  }
  return out;
}

/**
 * The shipped scenarios `--only` selects (a substring of the file or the id, any of them; none: all), or the first
 * term that selects nothing: a typo must not make an empty run that reads as green.
 */
export function selectScenarios(
  cases: readonly ShippedScenario[],
  only: readonly string[],
): { ok: true; cases: ShippedScenario[] } | { ok: false; unmatched: string } {
  const hit = (o: string, c: ShippedScenario) => c.file.includes(o) || c.scenario.id.includes(o);
  const unmatched = only.find((o) => !cases.some((c) => hit(o, c)));
  if (unmatched !== undefined) return { ok: false, unmatched };
  return { ok: true, cases: cases.filter((c) => only.length === 0 || only.some((o) => hit(o, c))) };
}

/**
 * A suite row of one protocol on a kernel of the other protocol says nothing: the suite leaves it out (it is
 * unsupported, the reason is the protocol). The patched kjump kernel runs only what its patch is about.
 */
export function kernelRuns(s: Scenario, kernel: string): boolean {
  const kjump = kernel.startsWith('kjump-');
  if (s.protocol.kind === 'kexec' ? !kjump : kjump) return false;
  return kernel !== 'kjump-6.12-patched' || s.id === 'kjump-stock-helper';
}

/** A known real-kernel finding: the row is a finding for exactly these reasons, on these kernels. */
export interface KnownFinding {
  readonly scenario: string;
  readonly kernels: readonly string[];
  /** the row's reasons, each matched as a prefix, in order and all of them (another finding is not covered) */
  readonly reasons: readonly string[];
  readonly reason: string;
}

export function knownFinding(r: RealResult, known: readonly KnownFinding[]): KnownFinding | undefined {
  if (r.status !== 'finding' && r.status !== 'unsupported') return undefined;
  return known.find(
    (k) =>
      k.scenario === r.scenario &&
      k.kernels.includes(r.kernel.spec) &&
      k.reasons.length === r.reasons.length &&
      k.reasons.every((x, i) => (r.reasons[i] ?? '').startsWith(x)),
  );
}

/**
 * Findings of the shipped scenarios that are real-kernel bugs (docs/vm-results.md has the evidence). A model
 * inaccuracy does not belong here: it is fixed in impl/.
 */
export const KNOWN_FINDINGS: readonly KnownFinding[] = [
  // Debian 6.1.192 kernel/power/swap.c swsusp_check() opens the resume device with FMODE_EXCL exactly when
  // snapshot_test is set (inverted; 6.12 is fixed): swapon holds the device, -EBUSY, the signature is never reset
  // and the image's swap slots stay allocated.
  {
    scenario: 'vm-abort-test-resume',
    kernels: ['debian-6.1'],
    reasons: [
      'FailureLosesNothing: a failed hibernation left an image signed',
      'SwapSlotsFreedOnError: ',
      'differential: step 0: model hibernate:aborted, vm hibernate:failed:EBUSY',
      'differential: vm violated [FailureLosesNothing, SwapSlotsFreedOnError], the model predicted not',
    ],
    reason:
      'Debian 6.1.192 swsusp_check() takes the swap device exclusively in test_resume mode: EBUSY, image left signed',
  },
  // The same bug followed through: the next boot resumes the stale image and loses what was written since.
  {
    scenario: 'vm-test-resume-then-boot',
    kernels: ['debian-6.1'],
    reasons: [
      'FailureLosesNothing: a failed hibernation left an image signed',
      'StaleImageNeverResumed: resumed an image although no hibernation was pending',
      'SwapSlotsFreedOnError: ',
      'differential: step 0: model hibernate:aborted, vm hibernate:failed:EBUSY',
      'differential: step 2: model resume:noImage, vm resume:resumed',
      'differential: vm violated [FailureLosesNothing, StaleImageNeverResumed, SwapSlotsFreedOnError]',
    ],
    reason: 'Debian 6.1.192: the test_resume EBUSY leaves the image signed; the next boot resumes a stale image',
  },
  // Stock 6.12 kexec_core.c kimage_is_destination_range(): the empty segment of `kexec --load-jump-back-helper` gives
  // mend = ULONG_MAX, every page is a destination; vm/kjump/patches/jump-back-helper.patch fixes it.
  {
    scenario: 'kjump-stock-helper',
    kernels: ['kjump-6.12'],
    reasons: [
      'boot 1: bootFailed: jumpBackHelperOom: ',
      'FailureLosesNothing: the kernel died while hibernating (bootFailed: jumpBackHelperOom: ',
      'differential: step 0: model hibernate:aborted, vm hibernate:crashed:hibernating',
      'differential: vm violated [FailureLosesNothing], the model predicted not',
    ],
    reason: 'stock 6.12 kimage_is_destination_range() wraps on the jump-back helper zero-length segment',
  },
];

/**
 * Shipped scenarios a suite kernel cannot run as written, with the reason's start: the suite fails on any other
 * unsupported row (a capability lost by a config change must not turn a row into a silent skip).
 */
export const KNOWN_UNSUPPORTED: readonly KnownFinding[] = [
  {
    scenario: 'vm-clean-cycle-lz4',
    kernels: ['debian-6.1'],
    reasons: ['protocol.compression lz4: '],
    reason: '6.1 has no hibernate.compressor parameter (6.9+): it writes LZO',
  },
  {
    scenario: 'vm-corrupt-data-lz4',
    kernels: ['debian-6.1'],
    reasons: ['protocol.compression lz4: '],
    reason: '6.1 has no hibernate.compressor parameter (6.9+): it writes LZO',
  },
];

/** What a suite row that did not pass prints: the file, the kernel, where its logs are, both outcomes, the reasons. */
export const rowContext = (r: RealResult, file: string, workDir: string): string =>
  `${file} on ${r.kernel.version} (logs: ${workDir})\n  model: ${r.model?.outcomes.join('; ')}\n  real:  ${r.real?.outcomes.join('; ')}\n  ${r.reasons.join('\n  ')}`;

/** A row's suite status: pass, skip (unsupported), known (an allow-listed finding), fail (finding), error. */
export type RowOutcome = 'error' | 'fail' | 'known' | 'pass' | 'skip';

export function rowOutcome(r: RealResult, known: readonly KnownFinding[]): RowOutcome {
  switch (r.status) {
    case 'pass':
      return 'pass';
    case 'unsupported':
      return knownFinding(r, KNOWN_UNSUPPORTED) !== undefined ? 'skip' : 'fail';
    case 'error':
      return 'error';
    case 'finding':
      return knownFinding(r, known) !== undefined ? 'known' : 'fail';
  }
}

/** 1 when a row failed, else 2 when a row errored, else 0. */
export function suiteExitCode(rs: readonly RealResult[], known: readonly KnownFinding[]): 0 | 1 | 2 {
  const o = rs.map((r) => rowOutcome(r, known));
  return o.includes('fail') ? 1 : o.includes('error') ? 2 : 0;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The rows as a Markdown table. */
export function markdownTable(rs: readonly RealResult[], known: readonly KnownFinding[]): string {
  const head = [
    '| scenario | kernel | model prediction | real kernel | verdict | real s |',
    '| --- | --- | --- | --- | --- | ---: |',
  ];
  const body = rs.map((r) => {
    const o = rowOutcome(r, known);
    const verdict =
      o === 'pass'
        ? 'pass'
        : o === 'skip'
          ? `unsupported: ${r.reasons.join('; ')}`
          : `**${o}**: ${r.reasons.join('; ')}`;
    return `| ${cell(r.scenario)} | ${cell(r.kernel.version)} | ${cell(
      r.model ? `${r.model.outcomes.join('; ')} [${r.model.verdict}]` : '',
    )} | ${cell(r.real?.outcomes.join('; ') ?? '')} | ${cell(verdict)} | ${r.timings.realSeconds.toFixed(1)} |`;
  });
  return [...head, ...body].join('\n');
}

const clean = (s: string) => s.replace(/[\r\n]+/g, ' ');

/** KTAP v1 with one subtest suite per kernel (Documentation/dev-tools/ktap.rst nesting, 4 spaces). */
export function suiteKtap(
  rs: readonly RealResult[],
  known: readonly KnownFinding[],
  header: readonly string[],
): string {
  const kernels = [...new Set(rs.map((r) => r.kernel.spec))];
  const out = ['KTAP version 1', ...header.map((h) => `# ${clean(h)}`), `1..${kernels.length}`];
  for (const [ki, k] of kernels.entries()) {
    const rows = rs.filter((r) => r.kernel.spec === k);
    const name = `hibfuzz_vm_${k.replace(/[^A-Za-z0-9]/g, '_')}`;
    out.push('    KTAP version 1', `    # Subtest: ${name}`, `    # kernel: ${clean(rows[0]?.kernel.version ?? k)}`);
    out.push(`    1..${rows.length}`);
    let failed = false;
    for (const [i, r] of rows.entries()) {
      const o = rowOutcome(r, known);
      for (const x of r.reasons) out.push(`    # ${clean(x)}`);
      if (o === 'error') out.push(`    # ERROR: ${clean(r.reasons[0] ?? 'error')}`);
      const test = r.scenario.replace(/[^A-Za-z0-9_.-]/g, '_');
      if (o === 'pass') out.push(`    ok ${i + 1} ${test}`);
      else if (o === 'skip') out.push(`    ok ${i + 1} ${test} # SKIP ${clean(r.reasons[0] ?? 'unsupported')}`);
      else if (o === 'known') out.push(`    ok ${i + 1} ${test} # known real-kernel finding`);
      else {
        failed = true;
        out.push(`    not ok ${i + 1} ${test}`);
      }
    }
    out.push(`${failed ? 'not ok' : 'ok'} ${ki + 1} ${name}`);
  }
  return `${out.join('\n')}\n`;
}

/** JUnit XML: one testsuite per kernel, one testcase per scenario (failure = finding, error, skipped). */
export function suiteJunit(rs: readonly RealResult[], known: readonly KnownFinding[]): string {
  const kernels = [...new Set(rs.map((r) => r.kernel.spec))];
  const count = (xs: readonly RealResult[], o: RowOutcome) => xs.filter((r) => rowOutcome(r, known) === o).length;
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(
    `<testsuites name="hibfuzz-vm" tests="${rs.length}" failures="${count(rs, 'fail')}" errors="${count(rs, 'error')}">`,
  );
  for (const k of kernels) {
    const rows = rs.filter((r) => r.kernel.spec === k);
    const secs = rows.reduce((a, r) => a + r.timings.realSeconds, 0);
    out.push(
      `  <testsuite name="hibfuzz.vm.${xmlEscape(k)}" tests="${rows.length}" failures="${count(rows, 'fail')}" errors="${count(rows, 'error')}" skipped="${count(rows, 'skip')}" time="${secs.toFixed(3)}">`,
    );
    out.push('    <properties>', `      <property name="kernel" value="${xmlEscape(rows[0]?.kernel.version ?? k)}"/>`);
    out.push('    </properties>');
    for (const r of rows) {
      const o = rowOutcome(r, known);
      const open = `    <testcase classname="hibfuzz.vm.${xmlEscape(k)}" name="${xmlEscape(r.scenario)}" time="${r.timings.realSeconds.toFixed(3)}"`;
      const msg = xmlEscape(r.reasons[0] ?? '');
      const body = xmlEscape(r.reasons.join('\n'));
      if (o === 'pass' || o === 'known') out.push(`${open}/>`);
      else if (o === 'skip') out.push(`${open}>`, `      <skipped message="${msg}"/>`, '    </testcase>');
      else if (o === 'error') out.push(`${open}>`, `      <error message="${msg}">${body}</error>`, '    </testcase>');
      else out.push(`${open}>`, `      <failure message="${msg}" type="finding">${body}</failure>`, '    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

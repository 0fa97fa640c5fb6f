import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as junitConsumer } from 'junit2json';
import { describe, expect, it } from 'vitest';
import {
  type GateKernelInfo,
  type GateRecord,
  type GateRow,
  gateExitCode,
  gateJson,
  gateJunit,
  gateKtap,
  gateMarkdown,
} from './gate-report.ts';
import type { RealResult } from './real-run.ts';
import { kunitPy } from './testdata/kunit.ts';
import { JENKINS_JUNIT_XSD, junitparser, xmllint } from './testdata/xml-consumers.ts';

const result = (status: RealResult['status'], reasons: string[] = []): RealResult => ({
  format: 'hibfuzz-real-run/1',
  scenario: 'x',
  kernel: { spec: '/k', version: '6.12.117', release: '6.12.117', line: '6.12', bzImageSha256: 'ab', capabilities: [] },
  status,
  reasons,
  differences: [],
  timings: { modelMs: 1, realSeconds: 4, phases: {} },
  workDir: '/tmp/x',
});

const row = (
  scenario: string,
  cls: GateRow['class'],
  base: RealResult,
  cand: RealResult,
  flipped: string[] = [],
): GateRow => ({
  scenario,
  file: `vm/scenarios/${scenario}.json`,
  class: cls,
  flipped,
  summary: flipped.join('; ') || cls,
  base: [base],
  candidate: [cand],
  ...(cls === 'regression' ? { reproducer: `/w/reproducers/${scenario}` } : {}),
});

const kernel = (role: 'base' | 'candidate'): GateKernelInfo => ({
  role,
  bzImage: `/cache/kjump/${role}/bzImage`,
  label: `linux-source-6.12 ${role}`,
  release: '6.12.117',
  bzImageSha256: role === 'base' ? 'aaaa' : 'bbbb',
  build: { cached: role === 'base', seconds: 20, configSkipped: true },
});

const rows: GateRow[] = [
  row('vm-clean-cycle', 'pass', result('pass'), result('pass')),
  row('vm-resume-twice', 'regression', result('pass'), result('finding', ['ImageResumedAtMostOnce: resumed twice']), [
    'ImageResumedAtMostOnce: held on base, violated on candidate',
  ]),
  row('vm-eio-after-signature', 'fixed', result('pass'), result('finding', ['differential: step 0: x']), [
    'ImageCommittedAtomically: violated on base, held on candidate',
  ]),
  row('vm-lz4', 'unsupported', result('unsupported', ['needs lz4']), result('unsupported', ['needs lz4'])),
  row(
    'vm-abort-test-resume',
    'pre-existing',
    result('finding', ['FailureLosesNothing: x']),
    result('finding', ['FailureLosesNothing: x']),
  ),
];

const rec: GateRecord = {
  format: 'hibfuzz-gate/1',
  verdict: 'regression',
  exitCode: 1,
  subject: 'break.patch on linux-source-6.12',
  base: kernel('base'),
  candidate: kernel('candidate'),
  kexec: { ran: false, why: 'the change does not touch kexec' },
  leftOut: {
    why: 'the gate kernels cannot run them as written',
    scenarios: [
      { file: 'vm/scenarios/swapfile-clean-cycle.json', reason: 'storage.kind swapFile: measured on Debian' },
    ],
  },
  rows,
  timings: { build: 20, base: 0, candidate: 100, total: 130 },
  workDir: '/w',
};

describe('gate exit status', () => {
  it('is 1 iff a regression, 2 for a row the host could not run, else 0', () => {
    expect(gateExitCode(rows)).toBe(1);
    expect(gateExitCode([{ class: 'pass' }, { class: 'fixed' }, { class: 'pre-existing' }, { class: 'flaky' }])).toBe(
      0,
    );
    expect(gateExitCode([{ class: 'pass' }, { class: 'error' }])).toBe(2);
    expect(gateExitCode([{ class: 'error' }, { class: 'regression' }])).toBe(1);
  });
});

describe('gate reports', () => {
  it('puts regressions first in the Markdown summary, with replay commands and the reproducer', () => {
    const md = gateMarkdown(rec);
    expect(md.startsWith('## hibfuzz gate: REGRESSION')).toBe(true);
    const reg = md.indexOf('### regression: vm-resume-twice');
    expect(reg).toBeGreaterThan(0);
    expect(md.indexOf('### fixed: vm-eio-after-signature')).toBeGreaterThan(reg);
    expect(md).toContain('hibfuzz vm run vm/scenarios/vm-resume-twice.json --kernel /cache/kjump/candidate/bzImage');
    expect(md).toContain('reproducer: `/w/reproducers/vm-resume-twice`');
    expect(md).toContain('| vm-resume-twice | **regression** |');
    // what the gate did not run is said, with the reason
    expect(md).toContain('- shipped scenarios left out: 1 (the gate kernels cannot run them as written)');
    expect(md).toContain('  - `vm/scenarios/swapfile-clean-cycle.json`: storage.kind swapFile: measured on Debian');
  });

  it('links the memory map page of a finding when the gate wrote one, and only then', () => {
    const page = '/w/reproducers/vm-resume-twice/explain.html';
    const withPage = rows.map((r) => (r.class === 'regression' ? { ...r, explainPage: page } : r));
    expect(gateMarkdown({ ...rec, rows: withPage })).toContain(`[${page}](${page})`);
    expect(gateMarkdown(rec)).not.toContain('explain.html');
  });

  it('writes JUnit with one testsuite per kernel, unique names and per-case times', () => {
    expect(xmllint(gateJunit(rec), JENKINS_JUNIT_XSD)).toEqual([]);
    const suites = junitparser(gateJunit(rec));
    expect(suites.map((s) => s.name)).toEqual(['hibfuzz.gate.base', 'hibfuzz.gate.candidate']);
    const cand = suites[1];
    expect(cand).toMatchObject({ tests: 5, failures: 1, skipped: 1, errors: 0 });
    const cases = cand?.cases ?? [];
    expect(cases.every((c) => c.time === 4)).toBe(true);
    const failed = cases.find((c) => c.name === 'vm-resume-twice');
    expect(failed?.results[0]?.message).toContain('ImageResumedAtMostOnce');
    // the base suite never fails: a pre-existing finding is the base's state, not the gate's
    expect(suites[0]?.failures).toBe(0);
  });

  it('is read by a JUnit consumer (junit2json, xml2js) as CI would: suites, counts, times, the failure', async () => {
    const j = await junitConsumer(gateJunit(rec));
    const suites = (j && 'testsuite' in j ? j.testsuite : undefined) ?? [];
    expect(suites.map((s) => s.name)).toEqual(['hibfuzz.gate.base', 'hibfuzz.gate.candidate']);
    const cand = suites[1];
    expect(cand).toMatchObject({ tests: 5, failures: 1, skipped: 1, errors: 0 });
    const names = (cand?.testcase ?? []).map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    expect((cand?.testcase ?? []).every((c) => c.time === 4)).toBe(true);
    const failed = cand?.testcase?.find((c) => c.name === 'vm-resume-twice');
    expect(failed?.failure?.[0]?.message).toContain('ImageResumedAtMostOnce');
  });

  it('writes a JSON record without the bulky observations', () => {
    const j = JSON.parse(gateJson(rec)) as { format: string; rows: { scenario: string; candidate: object[] }[] };
    expect(j.format).toBe('hibfuzz-gate/1');
    expect(j.rows[0]?.scenario).toBe('vm-resume-twice');
    expect(Object.keys(j.rows[0]?.candidate[0] ?? {})).not.toContain('observation');
  });

  const kunit = kunitPy();
  it.skipIf(kunit === undefined)("writes KTAP that the kernel's kunit.py parses: a suite per kernel", () => {
    // Arrange
    const f = join(mkdtempSync(join(tmpdir(), 'hibfuzz-gate-ktap-')), 'gate.ktap');
    writeFileSync(f, gateKtap(rec));
    // Act: kunit.py exits 1 when a test failed; its JSON says what it understood
    let out = '';
    try {
      out = execFileSync('python3', [kunit as string, 'parse', '--json', f], { encoding: 'utf8' });
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? '');
    }
    // Assert
    const json = JSON.parse(out.slice(out.indexOf('{'))) as {
      sub_groups?: { name: string; test_cases: { name: string; status: string }[] }[];
    };
    const groups = json.sub_groups ?? [];
    expect(groups.map((g) => g.name)).toEqual(['hibfuzz_gate_base', 'hibfuzz_gate_candidate']);
    const status = (g: number, name: string) => groups[g]?.test_cases.find((t) => t.name === name)?.status;
    expect(status(1, 'vm-resume-twice')).toBe('FAIL');
    expect(status(1, 'vm-eio-after-signature')).toBe('PASS');
    expect(status(1, 'vm-lz4')).toBe('SKIP');
    expect(status(0, 'vm-abort-test-resume')).toBe('PASS');
    expect(groups[0]?.test_cases).toHaveLength(5);
  });
});

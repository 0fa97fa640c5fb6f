import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as junitConsumer } from 'junit2json';
import { describe, expect, it } from 'vitest';
import type { RealResult } from './real-run.ts';
import {
  KNOWN_FINDINGS,
  type KnownFinding,
  kernelRuns,
  knownFinding,
  markdownTable,
  rowOutcome,
  SUITE_KERNELS,
  selectScenarios,
  shippedScenarios,
  suiteExitCode,
  suiteJunit,
  suiteKtap,
} from './suite.ts';

import { kunitPy } from './testdata/kunit.ts';
import { JENKINS_JUNIT_XSD, xmllint } from './testdata/xml-consumers.ts';

const root = new URL('..', import.meta.url).pathname;

const row = (scenario: string, spec: string, status: RealResult['status'], reasons: string[] = []): RealResult => ({
  format: 'hibfuzz-real-run/1',
  scenario,
  kernel: { spec, version: `${spec} 1.0`, release: '6.1.0', line: '6.1', bzImageSha256: 'ab', capabilities: [] },
  status,
  reasons,
  differences: [],
  timings: { modelMs: 1, realSeconds: 2.5, phases: {} },
  workDir: '/tmp/x',
});

const known: KnownFinding[] = [
  { scenario: 'a', kernels: ['debian-6.1'], reasons: ['FailureLosesNothing: x', 'differential: step 0'], reason: 'r' },
];

describe('--only', () => {
  const root = new URL('..', import.meta.url).pathname;
  const all = shippedScenarios(root);
  it('selects by a substring of the file or the id; none given: every shipped scenario', () => {
    const r = selectScenarios(all, ['resume-twice', 'vm-clean-cycle-lz4']);
    expect(r.ok && r.cases.map((c) => c.scenario.id)).toEqual(['vm-clean-cycle-lz4', 'vm-resume-twice']);
    expect(selectScenarios(all, [])).toEqual({ ok: true, cases: all });
  });
  it('refuses a term that selects nothing (a typo must not make an empty, green run)', () => {
    expect(selectScenarios(all, ['resume-twice', 'resum-twice'])).toEqual({ ok: false, unmatched: 'resum-twice' });
  });
});

describe('suite rows', () => {
  it('covers a finding only with exactly its reasons (by prefix), on a listed kernel', () => {
    expect(
      knownFinding(row('a', 'debian-6.1', 'finding', ['FailureLosesNothing: x y', 'differential: step 0: z']), known),
    ).toBeDefined();
    expect(
      knownFinding(row('a', 'debian-6.12', 'finding', ['FailureLosesNothing: x', 'differential: step 0']), known),
    ).toBeUndefined();
    expect(knownFinding(row('a', 'debian-6.1', 'finding', ['FailureLosesNothing: x']), known)).toBeUndefined();
    expect(
      knownFinding(
        row('a', 'debian-6.1', 'finding', ['FailureLosesNothing: x', 'differential: step 0', 'boot 2: hang']),
        known,
      ),
    ).toBeUndefined();
  });

  it('fails the suite on an unlisted finding, errors on the host, skips what a kernel cannot run', () => {
    const lz4 = 'protocol.compression lz4: 6.1.0-56-amd64 has no hibernate.compressor parameter (6.9+)';
    const rs = [row('b', 'debian-6.1', 'pass'), row('vm-clean-cycle-lz4', 'debian-6.1', 'unsupported', [lz4])];
    expect(suiteExitCode(rs, known)).toBe(0);
    // a shipped scenario that stops being supported (a capability lost) is not a silent skip
    expect(suiteExitCode([...rs, row('vm-clean-cycle', 'debian-6.1', 'unsupported', ['needs pmDebug'])], known)).toBe(
      1,
    );
    expect(suiteExitCode([...rs, row('d', 'debian-6.1', 'error', ['QEMU was killed from outside'])], known)).toBe(2);
    expect(suiteExitCode([...rs, row('e', 'debian-6.1', 'finding', ['boot 2: kernelPanic: Oops'])], known)).toBe(1);
    expect(
      rowOutcome(row('a', 'debian-6.1', 'finding', ['FailureLosesNothing: x', 'differential: step 0']), known),
    ).toBe('known');
  });

  it('gives every shipped allow-list entry a reason and a kernel the suite runs', () => {
    const ids = new Set(shippedScenarios(root).map((c) => c.scenario.id));
    for (const k of KNOWN_FINDINGS) {
      expect(ids.has(k.scenario), k.scenario).toBe(true);
      expect(k.reason.length).toBeGreaterThan(10);
      expect(k.reasons.length).toBeGreaterThan(0);
      for (const kernel of k.kernels) expect(SUITE_KERNELS as readonly string[]).toContain(kernel);
    }
  });

  it('runs every shipped scenario on the kernels of its protocol', () => {
    for (const c of shippedScenarios(root)) {
      const on = SUITE_KERNELS.filter((k) => kernelRuns(c.scenario, k));
      expect(on.length, c.file).toBeGreaterThan(0);
      expect(
        on.every((k) => k.startsWith('kjump-') === (c.scenario.protocol.kind === 'kexec')),
        c.file,
      ).toBe(true);
    }
  });
});

describe('suite reports', () => {
  const rs = [
    row('vm-clean|cycle', 'debian-6.1', 'pass'),
    row('vm-clean-cycle-lz4', 'debian-6.1', 'unsupported', ['protocol.compression lz4: no hibernate.compressor']),
    row('vm-bad', 'debian-6.12', 'finding', ['boot 2: kernelPanic: Oops']),
    row('vm-host', 'debian-6.12', 'error', ['QEMU was killed from outside']),
  ];

  it('escapes pipes in the Markdown table and says why a row is not a pass', () => {
    const md = markdownTable(rs, known).split('\n');
    expect(md).toHaveLength(6);
    expect(md[2]).toContain('vm-clean\\|cycle');
    expect(md[3]).toContain('unsupported: protocol.compression lz4: no hibernate.compressor');
    expect(md[4]).toContain('**fail**: boot 2: kernelPanic: Oops');
  });

  it('writes JUnit with one testsuite per kernel: failure, error and skipped elements', () => {
    const x = suiteJunit(rs, known);
    expect(xmllint(x, JENKINS_JUNIT_XSD)).toEqual([]);
    expect(x).toContain('<skipped message="protocol.compression lz4: no hibernate.compressor"/>');
    expect(x).toContain('<failure message="boot 2: kernelPanic: Oops" type="finding">');
    expect(x).toContain('<error message="QEMU was killed from outside">');
    expect(x).toMatch(/<testsuite name="hibfuzz.vm.debian-6.12" tests="2" failures="1" errors="1" skipped="0"/);
  });

  it('is read by a JUnit consumer (junit2json, xml2js): per-kernel suites with their counts and elements', async () => {
    const j = await junitConsumer(suiteJunit(rs, known));
    const suites = (j && 'testsuite' in j ? j.testsuite : undefined) ?? [];
    const s612 = suites.find((s) => s.name === 'hibfuzz.vm.debian-6.12');
    expect(s612).toMatchObject({ tests: 2, failures: 1, errors: 1, skipped: 0 });
    expect(s612?.testcase?.flatMap((c) => c.failure ?? []).map((f) => f.message)).toEqual([
      'boot 2: kernelPanic: Oops',
    ]);
    expect(s612?.testcase?.flatMap((c) => c.error ?? []).map((f) => f.message)).toEqual([
      'QEMU was killed from outside',
    ]);
    expect(
      suites
        .flatMap((s) => s.testcase ?? [])
        .flatMap((c) => c.skipped ?? [])
        .map((x) => x.message),
    ).toContain('protocol.compression lz4: no hibernate.compressor');
  });

  const tree = kunitPy();
  it.skipIf(tree === undefined)("writes nested KTAP that the kernel's kunit.py parses, suite by suite", () => {
    // Arrange
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-ktap-'));
    const f = join(dir, 'suite.ktap');
    writeFileSync(f, suiteKtap(rs, known, ['hibfuzz vm suite', 'kernels: debian-6.1 debian-6.12']));
    // Act: kunit.py exits 1 when a test failed; its JSON says what it understood
    let out = '';
    try {
      out = execFileSync('python3', [tree as string, 'parse', '--json', f], { encoding: 'utf8' });
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? '');
    }
    // Assert
    const json = JSON.parse(out.slice(out.indexOf('{'))) as {
      test_cases?: unknown[];
      sub_groups?: { name: string; test_cases: { name: string; status: string }[] }[];
    };
    const groups = json.sub_groups ?? [];
    expect(groups.map((g) => g.name)).toEqual(['hibfuzz_vm_debian_6_1', 'hibfuzz_vm_debian_6_12']);
    expect(groups[0]?.test_cases.map((t) => t.status)).toEqual(['PASS', 'SKIP']);
    expect(groups[1]?.test_cases.map((t) => t.status)).toEqual(['FAIL', 'FAIL']);
  });
});

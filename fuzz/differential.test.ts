// Unit tests of the differential row (fake real-kernel runners), the suite's case list and the allow-list matcher.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Observation, parseScenario, type Scenario } from '../spec/index.ts';
import { BootError, InfraError } from '../vm/errors.ts';
import {
  type DiffRow,
  differentialRow,
  KNOWN_DIVERGENCES,
  type KnownDivergence,
  kjumpHelper,
  knownDivergence,
  markdownTable,
  modelScenario,
  type RealRun,
  type Runners,
  suiteCases,
} from './differential.ts';

const root = new URL('..', import.meta.url).pathname;
const workDir = () => mkdtempSync(join(tmpdir(), 'hibfuzz-diff-test-'));

function scenario(raw: Record<string, unknown>): Scenario {
  const p = parseScenario({ version: 1, storage: { pages: 4096 }, machine: { memPages: 2048 }, ...raw });
  if (!p.ok) throw new Error(p.error);
  return p.scenario;
}

const swsusp = scenario({
  id: 'diff-swsusp',
  workload: { anon: 64 },
  protocol: { kind: 'swsusp', kernel: '6.1', compression: 'none' },
  steps: [{ op: 'hibernate', ioErrorAtWrite: 10 }, { op: 'resume' }],
});
const kexec = scenario({
  id: 'diff-kexec',
  workload: { anon: 64 },
  protocol: { kind: 'kexec', saveKernelPages: 64 },
  steps: [{ op: 'hibernate', abortAt: 'afterImageWritten' }],
});

const obs = (steps: Observation['steps'], kernel = '6.1.192-2'): Observation => ({
  target: 'vm',
  kernel,
  steps,
  violations: [],
});

/** Runners that record what they were given and answer with a fixed run or error. */
function fakeRunners(answer: RealRun | Error) {
  const calls: { runner: string; kernel?: string; patched?: boolean; scenario: Scenario }[] = [];
  const reply = async () => {
    if (answer instanceof Error) throw answer;
    return answer;
  };
  const runners: Runners = {
    swsusp: (s, kernel) => {
      calls.push({ runner: 'swsusp', kernel, scenario: s });
      return reply();
    },
    kjump: (s, _workDir, patched) => {
      calls.push({ runner: 'kjump', patched, scenario: s });
      return reply();
    },
  };
  return { runners, calls };
}

const eioRun: RealRun = {
  observation: obs([
    { op: 'hibernate', result: 'failed', errno: 'EIO', phase: 'write' },
    { op: 'resume', result: 'noImage' },
  ]),
  boot: 'pass',
  phases: { boot: 1 },
};

describe('modelScenario', () => {
  it('sets a swsusp scenario to the real kernel line and leaves kexec scenarios alone', () => {
    // Act
    const on612 = modelScenario(swsusp, 'debian-6.12');
    const on61 = modelScenario(swsusp, 'debian-6.1');
    const kj = modelScenario(kexec, 'kjump-6.12');
    // Assert
    expect(on612.protocol).toMatchObject({ kind: 'swsusp', kernel: '6.12' });
    expect(on61).toBe(swsusp);
    expect(kj).toBe(kexec);
  });
});

describe('differentialRow', () => {
  it('agrees when the real kernel does what the model predicts, with the exact kernel version', async () => {
    // Arrange
    const { runners, calls } = fakeRunners(eioRun);
    // Act
    const row = await differentialRow(swsusp, 'debian-6.1', { workDir: workDir(), runners });
    // Assert
    expect(calls.map((c) => `${c.runner} ${c.kernel}`)).toEqual(['swsusp debian-6.1']);
    expect(row.status).toBe('agree');
    expect(row.kernelVersion).toBe('6.1.192-2');
    expect(row.model?.outcomes).toEqual(['hibernation failed: EIO in write', 'no image: fresh boot']);
    expect(row.real?.outcomes).toEqual(row.model?.outcomes);
    expect(row.differences).toEqual([]);
    expect(row.timings.phases).toEqual({ boot: 1 });
  });

  it('gives the model the real kernel line (6.12) before predicting', async () => {
    // Arrange
    const { runners, calls } = fakeRunners({ ...eioRun, observation: obs(eioRun.observation.steps, '6.12.117') });
    // Act
    await differentialRow(swsusp, 'debian-6.12', { workDir: workDir(), runners });
    // Assert
    expect(calls[0]?.scenario.protocol).toMatchObject({ kernel: '6.12' });
  });

  it('diverges with the step that differs', async () => {
    // Arrange
    const { runners } = fakeRunners({
      ...eioRun,
      observation: obs([
        { op: 'hibernate', result: 'failed', errno: 'EBUSY', phase: 'write' },
        { op: 'resume', result: 'noImage' },
      ]),
    });
    // Act
    const row = await differentialRow(swsusp, 'debian-6.1', { workDir: workDir(), runners });
    // Assert
    expect(row.status).toBe('diverge');
    expect(row.differences).toEqual(['step 0: model hibernate:failed:EIO, vm hibernate:failed:EBUSY']);
  });

  it('routes kexec scenarios to the kjump runner', async () => {
    // Arrange
    const { runners, calls } = fakeRunners({
      observation: obs([{ op: 'hibernate', result: 'failed', errno: 'ENOMEM', phase: 'load' }], 'kjump-6.12 x'),
      boot: 'ok',
      phases: {},
    });
    // Act
    const row = await differentialRow(kexec, 'kjump-6.12', { workDir: workDir(), runners });
    // Assert
    expect(calls.map((c) => `${c.runner} ${c.patched}`)).toEqual(['kjump false']);
    expect(row.kernelVersion).toBe('kjump-6.12 x');
    expect(row.status).toBe('diverge');
  });

  it('marks an InfraError as infra, never as a divergence', async () => {
    // Arrange
    const { runners } = fakeRunners(new InfraError('qemu-system-x86_64 not found'));
    // Act
    const row = await differentialRow(swsusp, 'debian-6.1', { workDir: workDir(), runners });
    // Assert
    expect(row.status).toBe('infra');
    expect(row.error).toBe('qemu-system-x86_64 not found');
    expect(row.differences).toEqual([]);
    expect(row.real).toBeUndefined();
  });

  it('marks a BootError as a boot error (a finding)', async () => {
    // Arrange
    const { runners } = fakeRunners(new BootError('save kernel B never reached /init'));
    // Act
    const row = await differentialRow(kexec, 'kjump-6.12', { workDir: workDir(), runners });
    // Assert
    expect(row.status).toBe('bootError');
    expect(row.error).toBe('save kernel B never reached /init');
  });

  it('reports a panicked boot whose steps agree as a boot error', async () => {
    // Arrange
    const { runners } = fakeRunners({ ...eioRun, boot: 'kernelPanic: Kernel panic - not syncing' });
    // Act
    const row = await differentialRow(swsusp, 'debian-6.1', { workDir: workDir(), runners });
    // Assert
    expect(row.status).toBe('bootError');
  });

  it('does not run a kexec scenario on a Debian kernel', async () => {
    // Arrange
    const { runners, calls } = fakeRunners(eioRun);
    // Act
    const row = await differentialRow(kexec, 'debian-6.1', { workDir: workDir(), runners });
    // Assert
    expect(row.status).toBe('unsupported');
    expect(calls).toEqual([]);
  });
});

describe('suiteCases', () => {
  it('runs every shipped swsusp scenario on both Debian lines and every kexec one on kjump', () => {
    // Act
    const cases = suiteCases(root);
    // Assert
    const swsuspRuns = cases.filter((c) => c.scenario.protocol.kind === 'swsusp');
    const kexecRuns = cases.filter((c) => c.scenario.protocol.kind === 'kexec');
    expect(swsuspRuns.length).toBeGreaterThan(0);
    expect(kexecRuns.length).toBeGreaterThan(0);
    expect(new Set(swsuspRuns.map((c) => c.kernel))).toEqual(new Set(['debian-6.1', 'debian-6.12']));
    expect(swsuspRuns.length).toBe(2 * new Set(swsuspRuns.map((c) => c.file)).size);
    const files = new Set(kexecRuns.map((c) => c.file));
    expect(kexecRuns.filter((c) => c.kernel === 'kjump-6.12').length).toBe(files.size);
  });

  it('runs the stock-helper scenario with the stock helper, also on the kernel with the jump-back patch', () => {
    // Act
    const cases = suiteCases(root).filter((c) => c.kernel === 'kjump-6.12-patched');
    // Assert
    expect(cases.map((c) => c.scenario.id)).toEqual(['kjump-stock-helper']);
    expect(cases.every((c) => kjumpHelper(c.scenario) === 'stock')).toBe(true);
    expect(kjumpHelper(kexec)).toBe('own');
  });
});

describe('knownDivergence', () => {
  const row = (differences: string[]): DiffRow => ({
    scenario: 's',
    kernel: 'debian-6.1',
    kernelVersion: '6.1.192-2',
    status: 'diverge',
    model: undefined,
    real: undefined,
    differences,
    timings: { modelMs: 0, realSeconds: 0, phases: {} },
    workDir: '/tmp/x',
  });
  const known: KnownDivergence[] = [
    { scenario: 's', kernels: ['debian-6.1'], differences: ['a', 'b'], class: 'kernel', reason: 'r' },
    { scenario: 'b', kernels: ['debian-6.1'], bootError: 'jumpBackHelperOom', class: 'kernel', reason: 'oom' },
  ];

  it('covers a row with exactly the listed differences on a listed kernel', () => {
    expect(knownDivergence(row(['a', 'b']), known)?.reason).toBe('r');
  });

  it('does not cover another divergence, another kernel or a subset', () => {
    expect(knownDivergence(row(['a']), known)).toBeUndefined();
    expect(knownDivergence(row(['a', 'b', 'c']), known)).toBeUndefined();
    expect(knownDivergence({ ...row(['a', 'b']), kernel: 'debian-6.12' }, known)).toBeUndefined();
  });

  it('covers a boot error by its failure kind only', () => {
    // Arrange
    const boot = (error: string): DiffRow => ({ ...row([]), scenario: 'b', status: 'bootError', error });
    // Act + Assert
    expect(knownDivergence(boot('jumpBackHelperOom: kexec failed'), known)?.reason).toBe('oom');
    expect(knownDivergence(boot('noReturn: A did not come back'), known)).toBeUndefined();
    expect(knownDivergence({ ...boot('jumpBackHelperOom: x'), status: 'diverge' }, known)).toBeUndefined();
  });

  it('gives every shipped allow-list entry a reason and exactly one way to match', () => {
    for (const k of KNOWN_DIVERGENCES) {
      expect(k.reason.length).toBeGreaterThan(40);
      expect((k.differences?.length ?? 0) > 0 !== (k.bootError !== undefined)).toBe(true);
    }
  });

  it('marks covered divergences "(known)" in the Markdown table and escapes pipes', () => {
    // Act
    const md = markdownTable([row(['a', 'b']), { ...row(['x|y']), scenario: 't' }], known);
    // Assert
    const lines = md.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[2]).toContain('**diverge** (known): a; b');
    expect(lines[3]).toContain('x\\|y');
    expect(lines[3]).not.toContain('(known)');
  });
});

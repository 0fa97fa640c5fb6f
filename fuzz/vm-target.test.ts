// The vm target's engine with a fake runner (no QEMU): divergence and kernel violations become findings,
// infrastructure errors never do; generated scenarios are bent into what vm/ can run.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runAndJudge } from '../impl/index.ts';
import { scenarioArb } from '../properties/arbitraries/scenario.ts';
import { type Observation, parseScenario, type Scenario } from '../spec/index.ts';
import { readCorpus } from './corpus.ts';
import { loadVm, modelScenarioFor, runVmCampaign, type VmApi, vmize, vmizeKexec } from './vm-target.ts';

class FakeInfraError extends Error {}

const fakeApi = (run: (s: Scenario) => Observation): VmApi => ({
  runScenarioInVm: async (s) => ({ observation: run(s), verdict: { kind: 'pass' } }),
  vmSupports: () => ({ ok: true }),
  MIN_VM_MEM_PAGES: 1024,
  isInfraError: (e) => e instanceof FakeInfraError,
});

const modelObservation = (s: Scenario): Observation => {
  const r = runAndJudge(s);
  if (!r.ok) throw new Error(r.error);
  return { ...r.observation, target: 'vm' };
};

const base = (dir: string) => ({
  kernel: 'fake-6.12',
  seed: 4,
  shard: { k: 1, n: 1 },
  runs: 6,
  jobs: 2,
  corpusDir: dir,
  workRoot: join(dir, 'work'),
  maxMemPages: 2048,
  log: () => {},
});

describe('vm campaign', () => {
  it('agrees with a kernel that behaves like the model: no findings', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-vm-'));
    const r = await runVmCampaign({ ...base(dir), api: fakeApi(modelObservation) });
    expect(r.runs).toBe(6);
    expect(r.findings).toEqual([]);
    expect(r.infraErrors).toEqual([]);
  });

  it('records a divergence (dedup by signature) when the kernel refuses what the model resumes', async () => {
    // Arrange: a kernel that refuses every resume
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-vm-'));
    const refusing = (s: Scenario): Observation => {
      const o = modelObservation(s);
      return {
        ...o,
        steps: o.steps.map((x) =>
          x.op === 'resume' ? { op: 'resume', result: 'refused', reason: 'crcMismatch', errno: 'EINVAL' } : x,
        ),
      };
    };
    // Act
    const r = await runVmCampaign({ ...base(dir), api: fakeApi(refusing) });
    // Assert
    expect(r.findings.length).toBeGreaterThan(0);
    expect(r.findings.every((f) => f.record.invariant === 'ModelAgreesWithKernel' && f.record.target === 'vm')).toBe(
      true,
    );
    const c = readCorpus(dir);
    expect(c.errors).toEqual([]);
    expect(c.findings.reduce((a, f) => a + f.count, 0)).toBe(r.findings.reduce((a, f) => a + f.hits, 0));
  });

  it('an infrastructure error is never a finding', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-vm-'));
    const api: VmApi = {
      ...fakeApi(modelObservation),
      runScenarioInVm: async () => {
        throw new FakeInfraError('qemu-system-x86_64: not found');
      },
    };
    const r = await runVmCampaign({ ...base(dir), api });
    expect(r.findings).toEqual([]);
    expect(r.infraErrors[0]).toMatch(/qemu-system-x86_64/);
    expect(readCorpus(dir).findings).toEqual([]);
  });

  it('vmize turns generated scenarios into ones the real runner accepts', async () => {
    // Arrange
    const vm = await loadVm();
    expect(vm.ok).toBe(true);
    if (!vm.ok) return;
    const inputs = fc.sample(scenarioArb({ maxMemPages: 65536 }), { seed: 9, numRuns: 60 });
    // Act
    const out = inputs.map((x) => {
      const p = parseScenario(x);
      if (!p.ok) throw new Error(p.error);
      return vmize(p.scenario, vm.api.MIN_VM_MEM_PAGES);
    });
    // Assert: schema-valid, and most supported by vm/ (some fault combinations stay out of reach)
    for (const s of out) expect(parseScenario(s).ok).toBe(true);
    const supported = out.filter((s) => vm.api.vmSupports(s).ok).length;
    expect(supported).toBeGreaterThan(out.length / 2);
  });
});

describe('real-kernel envelopes', () => {
  it('vmizeKexec turns generated kexec scenarios into ones the kexec-jump runner plans', async () => {
    // Arrange
    const vm = await loadVm('kjump-6.12');
    expect(vm.ok).toBe(true);
    if (!vm.ok) return;
    expect(vm.api.protocol).toBe('kexec');
    const inputs = fc.sample(scenarioArb({ maxMemPages: 65536, protocol: 'kexec' }), { seed: 3, numRuns: 60 });
    // Act
    const out = inputs.map((x) => {
      const p = parseScenario(x);
      if (!p.ok) throw new Error(p.error);
      return vmizeKexec(p.scenario, vm.api.MIN_VM_MEM_PAGES);
    });
    // Assert
    for (const s of out) expect(parseScenario(s).ok).toBe(true);
    expect(out.filter((s) => vm.api.vmSupports(s).ok).length).toBeGreaterThan(out.length / 2);
  });

  it('the model predicts the Debian line it is compared with', () => {
    const s = vmize(
      (() => {
        const p = parseScenario({
          version: 1,
          id: 'x',
          machine: { memPages: 512 },
          protocol: { kind: 'swsusp', kernel: '6.1' },
          storage: { pages: 600 },
          steps: [{ op: 'hibernate' }],
        });
        if (!p.ok) throw new Error(p.error);
        return p.scenario;
      })(),
      24576,
      '6.12',
    );
    expect(s.protocol.kind === 'swsusp' && s.protocol.kernel).toBe('6.12');
    expect(
      modelScenarioFor({ ...s, protocol: { ...s.protocol, kernel: '6.12' } as Scenario['protocol'] }, 'debian-6.1')
        .protocol,
    ).toMatchObject({ kernel: '6.1' });
  });
});

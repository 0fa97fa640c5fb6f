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
import type { Backend, KernelIdentity, RealRun } from '../vm/backend.ts';
import { guestModelScenario, swsuspSupport } from '../vm/backends.ts';
import { InfraError } from '../vm/errors.ts';
import { planScenario } from '../vm/kjump/plan.ts';
import { MIN_VM_MEM_PAGES } from '../vm/plan.ts';
import { readCorpus } from './corpus.ts';
import {
  agentRoom,
  runVmCampaign,
  swsuspEnvelope,
  VM_GUEST_PAGES,
  VM_SWAP_PAGES,
  vmize,
  vmizeKexec,
} from './vm-target.ts';

const identity: KernelIdentity = {
  spec: 'fake-6.12',
  version: 'fake 6.12',
  release: '6.12.0-fake',
  line: '6.12',
  protocol: 'swsusp',
  bzImageSha256: '0'.repeat(64),
  capabilities: ['hibernation', 'hibernationSnapshotDev', 'lz4', 'lzo', 'pmDebug'],
  capabilitySource: 'config',
};

/** A backend that answers with an observation computed from the scenario (the contract, without QEMU). */
const fakeBackend = (
  run: (s: Scenario) => Observation | Promise<Observation>,
  boots: RealRun['boots'] = [{ role: 'first', kind: 'pass', title: 'ok', consoleLog: '', seconds: 0 }],
): Backend => ({
  spec: 'fake-6.12',
  imageCounts: () => ({ tolerancePages: 0 }),
  identity: async () => identity,
  precheck: () => ({ ok: true }),
  supports: () => ({ ok: true }),
  modelScenario: (s) => s,
  run: async (s, id, o): Promise<RealRun> => ({
    identity: id,
    observation: await run(s),
    boots,
    timings: {},
    artifacts: { dir: o.workDir, disk: '' },
  }),
});

const modelObservation = (s: Scenario): Observation => {
  const r = runAndJudge(s);
  if (!r.ok) throw new Error(r.error);
  return { ...r.observation, target: 'vm' };
};

const base = (dir: string) => ({
  identity,
  minMemPages: 1024,
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
    const r = await runVmCampaign({ ...base(dir), backend: fakeBackend(modelObservation) });
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
    const r = await runVmCampaign({ ...base(dir), backend: fakeBackend(refusing) });
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
    const backend = fakeBackend(() => {
      throw new InfraError('qemu-system-x86_64: not found');
    });
    const r = await runVmCampaign({ ...base(dir), backend });
    expect(r.findings).toEqual([]);
    expect(r.infraErrors[0]).toMatch(/qemu-system-x86_64/);
    expect(readCorpus(dir).findings).toEqual([]);
  });

  it('shrinks a real finding within its budget (one run per candidate, the same signature), named by the kernel', async () => {
    // Arrange: a kernel that panics on every boot: every candidate still shows the same finding
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-vm-'));
    let realRuns = 0;
    const panics = fakeBackend(
      (s) => {
        realRuns++;
        return modelObservation(s);
      },
      [{ role: 'first', kind: 'kernelPanic', title: 'Kernel panic - not syncing: test', consoleLog: '', seconds: 0 }],
    );
    // Act
    const r = await runVmCampaign({ ...base(dir), runs: 1, jobs: 1, shrinkEvals: 3, backend: panics });
    // Assert
    expect(r.findings.map((f) => f.record.invariant)).toEqual(['KernelBootsAndRuns']);
    const f = r.findings[0];
    expect(f?.record).toMatchObject({ target: 'vm', kernel: 'fake-6.12', kernelVersion: 'fake 6.12', count: 1 });
    expect(f?.record.shrink).toEqual({ evals: 3, accepted: 3 });
    expect(realRuns).toBe(1 + 3);
    expect(f?.record.reasons).toEqual(['boot 1: kernelPanic: Kernel panic - not syncing: test']);
    expect(f?.record.artifacts).toMatch(/work\/run-\d+$/);
    expect(f?.scenario.steps.length).toBeLessThan(f?.record.original.steps ?? 0);
    expect(readCorpus(dir).findings.map((x) => x.name)).toEqual([f?.record.name]);
    // the wall-clock cap: no time left, no candidate run
    realRuns = 0;
    const capped = await runVmCampaign({
      ...base(mkdtempSync(join(tmpdir(), 'hibfuzz-vm-'))),
      runs: 1,
      jobs: 1,
      shrinkMs: 0,
      backend: panics,
    });
    expect([realRuns, capped.findings[0]?.record.shrink]).toEqual([1, { evals: 0, accepted: 0 }]);
  });

  it('replays the corpus on the kernel before generating (not recounted); --no-replay skips it', async () => {
    // Arrange: one saved finding
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-vm-'));
    const boots: RealRun['boots'] = [
      { role: 'first', kind: 'hang', title: 'no console output for 120 s', consoleLog: '', seconds: 0 },
    ];
    const hangs = fakeBackend(modelObservation, boots);
    await runVmCampaign({ ...base(dir), runs: 1, jobs: 1, shrinkEvals: 0, backend: hangs });
    // Act
    const again = await runVmCampaign({ ...base(dir), runs: 0, backend: hangs });
    const none = await runVmCampaign({ ...base(dir), runs: 0, replayDirs: [], backend: hangs });
    // Assert
    expect(again.replayed).toEqual({ files: 1, failing: 1 });
    expect(again.findings.map((f) => [f.isNew, f.hits, f.record.count])).toEqual([[false, 1, 1]]);
    expect(none.replayed).toEqual({ files: 0, failing: 0 });
    expect(none.findings).toEqual([]);
  });

  it('three infrastructure errors in a row stop the campaign; errors between runs do not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-vm-'));
    const broken = fakeBackend(() => {
      throw new InfraError('QEMU was killed from outside (SIGKILL)');
    });
    const r = await runVmCampaign({ ...base(dir), runs: 10, jobs: 1, backend: broken });
    expect([r.runs, r.infraErrors.length, r.stoppedByInfra]).toEqual([3, 3, true]);
    let n = 0;
    const flaky = fakeBackend((s) => {
      if (n++ % 2 === 0) throw new InfraError('QEMU was killed from outside (SIGKILL)');
      return modelObservation(s);
    });
    const f = await runVmCampaign({ ...base(dir), runs: 6, jobs: 1, backend: flaky });
    expect([f.runs, f.infraErrors.length, f.stoppedByInfra, f.findings.length]).toEqual([6, 3, false, 0]);
    expect(readCorpus(dir).findings).toEqual([]);
  });

  it('vmize bends every generated scenario into the envelope of a real guest', () => {
    const inputs = fc.sample(scenarioArb({ maxMemPages: 65536 }), { seed: 7, numRuns: 200 });
    for (const x of inputs) {
      const p = parseScenario(x);
      if (!p.ok) throw new Error(p.error);
      for (const line of ['6.1', '6.12'] as const) {
        const s = vmize(p.scenario, MIN_VM_MEM_PAGES, line, { lz4: line === '6.12' });
        expect(swsuspEnvelope(s, line, MIN_VM_MEM_PAGES)).toBe(true);
        // the guest never reclaims (image_size is not reached) and the agent can make every page the model sees
        const w = s.workload;
        expect(w.anon + w.zero + w.pageCacheDirty).toBeLessThanOrEqual(agentRoom(line));
        expect([s.machine.memPages, s.storage.pages, w.slab, w.kernelText, w.pageCacheClean]).toEqual([
          VM_GUEST_PAGES,
          VM_SWAP_PAGES,
          0,
          0,
          0,
        ]);
        if (line === '6.1') expect(s.protocol).not.toMatchObject({ compression: 'lz4' });
      }
    }
  });

  it('vmize turns generated scenarios into ones the real runner accepts', async () => {
    // Arrange
    const inputs = fc.sample(scenarioArb({ maxMemPages: 65536 }), { seed: 9, numRuns: 60 });
    // Act
    const out = inputs.map((x) => {
      const p = parseScenario(x);
      if (!p.ok) throw new Error(p.error);
      return vmize(p.scenario, MIN_VM_MEM_PAGES, '6.12');
    });
    // Assert: schema-valid, and most supported by vm/ (some fault combinations stay out of reach)
    for (const s of out) expect(parseScenario(s).ok).toBe(true);
    const supported = out.filter((s) => swsuspSupport(s, identity).ok).length;
    expect(supported).toBeGreaterThan(out.length / 2);
  });
});

describe('real-kernel envelopes', () => {
  it('vmizeKexec turns generated kexec scenarios into ones the kexec-jump runner plans', async () => {
    // Arrange
    const inputs = fc.sample(scenarioArb({ maxMemPages: 65536, protocol: 'kexec' }), { seed: 3, numRuns: 60 });
    // Act
    const out = inputs.map((x) => {
      const p = parseScenario(x);
      if (!p.ok) throw new Error(p.error);
      return vmizeKexec(p.scenario, 256 * 256);
    });
    // Assert
    for (const s of out) expect(parseScenario(s).ok).toBe(true);
    expect(out.filter((s) => planScenario(s).ok).length).toBeGreaterThan(out.length / 2);
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
    expect(guestModelScenario(s, '6.1').protocol).toMatchObject({ kernel: '6.1' });
    // the real guest's own memory fits the bent machine: the model is never told a smaller guest than can exist
    const m = guestModelScenario(s, '6.12');
    expect(m.workload.slab).toBe(s.workload.slab + 14301 + 2768);
    expect(m.workload.zero).toBe(s.workload.zero);
  });

  it("predicts a real guest with the kernel's PAGES_FOR_IO (1024), not the small-machine scaling", () => {
    const p = parseScenario({
      version: 1,
      id: 'pfio',
      machine: { memPages: MIN_VM_MEM_PAGES },
      workload: { anon: 100 },
      protocol: { kind: 'swsusp', kernel: '6.1' },
      storage: { pages: 65536 },
      steps: [{ op: 'hibernate' }],
    });
    if (!p.ok) throw new Error(p.error);
    const m = guestModelScenario(p.scenario, '6.1');
    // the model alone would reserve min(1024, memPages / 32) = 768 pages on this 96 MiB machine
    expect(m.protocol.kind === 'swsusp' && m.protocol.pagesForIo).toBe(1024);
  });
});

describe('image_size on a real guest', () => {
  const withImageSize = (imageSizePages: number): Scenario => {
    const p = parseScenario({
      version: 1,
      id: 'imgsize',
      machine: { memPages: 131072 },
      workload: { anon: 16384 },
      protocol: { kind: 'swsusp', kernel: '6.12', imageSizePages },
      storage: { pages: 65536 },
      steps: [{ op: 'hibernate' }, { op: 'resume' }],
    });
    if (!p.ok) throw new Error(p.error);
    return p.scenario;
  };
  it('is refused below the guest image (the kernel would reclaim memory the model does not have)', () => {
    const r = swsuspSupport(withImageSize(20000), identity);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/imageSizePages 20000 < the guest's image/);
  });
  it('is run when the guest image fits under it', () => {
    expect(swsuspSupport(withImageSize(60000), identity)).toEqual({ ok: true });
  });
});

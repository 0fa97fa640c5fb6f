import { describe, expect, it } from 'vitest';
import { BOOT_VERDICTS, type Observation, type StepOutcome } from './outcome.ts';
import { parseScenario, type Scenario } from './scenario/schema.ts';
import { QEMU_PC_512M } from './testdata/qemu-machine.ts';
import { compareObservations, judgeRealRun } from './verdict.ts';

const scenario = (steps: unknown[]): Scenario => {
  const p = parseScenario({
    version: 1,
    id: 'v',
    machine: { memPages: 131072 },
    workload: { anon: 16384 },
    protocol: { kind: 'swsusp', kernel: '6.1' },
    storage: { pages: 65536 },
    steps,
  });
  if (!p.ok) throw new Error(p.error);
  return p.scenario;
};
const stats = { dataPages: 37000, zeroPages: 10, metaPages: 73, streamPages: 37084, writes: 37200 };
const obs = (target: 'model' | 'vm', steps: StepOutcome[]): Observation => ({
  target,
  kernel: 'k',
  steps,
  violations: [],
});
const cycle = scenario([{ op: 'hibernate' }, { op: 'resume' }]);
const modelCycle = obs('model', [
  { op: 'hibernate', result: 'poweredOff', image: stats },
  { op: 'resume', result: 'resumed', pagesChecked: 16384, pagesCorrupt: 0 },
]);
const realCycle = (checked = 16384): Observation =>
  obs('vm', [
    { op: 'hibernate', result: 'poweredOff', image: stats, storage: { signed: true } },
    { op: 'resume', result: 'resumed', pagesChecked: checked, pagesCorrupt: 0, storageAfter: { signed: false } },
  ]);
const pass = { kind: 'pass', title: 'ok' } as const;

describe('judgeRealRun', () => {
  it('passes only when every boot passed, no invariant is violated and the model agrees', () => {
    const j = judgeRealRun(cycle, modelCycle, realCycle(), [pass, pass]);
    expect(j.verdict).toBe('pass');
    expect(j.reasons).toEqual([]);
    expect(j.invariants.find((x) => x.invariant === 'ImageResumedAtMostOnce')?.result).toBe('held');
  });

  it('makes every boot verdict but pass a finding, whatever the steps say and whatever the model predicted', () => {
    for (const kind of BOOT_VERDICTS) {
      for (const predicted of [modelCycle, realCycle()]) {
        const j = judgeRealRun(cycle, predicted, realCycle(), [pass, { kind, title: 't' }]);
        // invariantViolated with no violation in the facts is unexplained: a finding too
        const want = kind === 'pass' ? 'pass' : kind === 'infraError' ? 'error' : 'finding';
        expect(j.verdict, `${kind}`).toBe(want);
      }
    }
  });

  it("finds a guest whose machine is not the model's; a torn map (no machine) is not judged, a matching one passes", () => {
    const qemu = QEMU_PC_512M;
    const same = judgeRealRun(cycle, modelCycle, { ...realCycle(), machine: qemu }, [pass, pass]);
    expect(same.verdict).toBe('pass');
    expect(same.machine?.tolerated.map((t) => t.tolerance)).toEqual(['firmwareEbda', 'firmwareTopTables']);
    const bios = { ...qemu, nosave: [{ start: 0x9f, end: 0x100 }] }; // a guest that saves PFN 0
    const other = judgeRealRun(cycle, modelCycle, { ...realCycle(), machine: bios }, [pass, pass]);
    expect(other.verdict).toBe('finding');
    expect(other.reasons).toEqual([
      'differential: machine: PFNs [0x0, 0x1) (1 frames) are saveable on the guest, not in the model (nosave or beyond its memory)',
    ]);
    expect(judgeRealRun(cycle, modelCycle, realCycle(), [pass, pass]).machine).toBeUndefined();
  });

  it('is never a pass when the model could not predict the scenario', () => {
    expect(judgeRealRun(cycle, undefined, realCycle(), [pass, pass]).verdict).toBe('error');
  });

  it('finds a resume that verified no page, although the outcome class is "resumed"', () => {
    // the QEMU-killed-after-hibernateReturned case: 0 pages checked never agrees with 16 384
    const j = judgeRealRun(cycle, modelCycle, realCycle(0), [pass, pass]);
    expect(j.verdict).toBe('finding');
    expect(j.diff?.differences).toEqual(['step 1: model resume:resumed:intact, vm resume:resumed:unverified']);
  });

  it('excuses a violation only through a known limit, and says so', () => {
    const s = scenario([{ op: 'hibernate', ioErrorAfterSignature: true }, { op: 'resume' }]);
    const torn: StepOutcome[] = [
      {
        op: 'hibernate',
        result: 'poweredOff',
        image: stats,
        fault: 'fired',
        storage: {
          signed: true,
          image: {
            complete: false,
            problem: 'map page unreadable',
            compressor: 'lzo',
            stats,
            pfnsAscending: true,
            countsConsistent: true,
            nosavePfns: 0,
          },
        },
      },
      { op: 'resume', result: 'refused', reason: 'truncatedImage', errno: 'EFAULT' },
    ];
    const model = {
      ...obs('model', torn),
      violations: [{ invariant: 'ImageCommittedAtomically' as const, message: 'torn' }],
    };
    const j = judgeRealRun(s, model, obs('vm', torn), [pass, pass]);
    expect(j.judgement.verdict).toBe('violatedAsPredicted');
    expect(j.verdict).toBe('pass');
  });
});

describe('judgeRealRun conformance', () => {
  it('finds an image written with another compressor than the scenario asked (never a silent substitute)', () => {
    const s = { ...cycle, protocol: { ...cycle.protocol, compression: 'lz4' } } as Scenario;
    const image = {
      complete: true,
      compressor: 'lzo' as const,
      stats,
      pfnsAscending: true,
      countsConsistent: true,
      nosavePfns: 0,
    };
    const real = obs('vm', [
      { op: 'hibernate', result: 'poweredOff', image: stats, storage: { signed: true, image } },
      { op: 'resume', result: 'resumed', pagesChecked: 16384, pagesCorrupt: 0, storageAfter: { signed: false } },
    ]);
    const j = judgeRealRun(s, modelCycle, real, [pass, pass]);
    expect(j.verdict).toBe('finding');
    expect(j.reasons).toEqual(['image: step 0 was written with lzo, the scenario asked lz4']);
  });
});

describe('compareObservations', () => {
  it('compares image counts within the tolerance it is given', () => {
    const more = obs('vm', [
      { op: 'hibernate', result: 'poweredOff', image: { ...stats, zeroPages: 2800 } },
      { op: 'resume', result: 'resumed', pagesChecked: 16384, pagesCorrupt: 0 },
    ]);
    expect(compareObservations(modelCycle, more).differences).toEqual([
      'step 0: model image zeroPages 10, vm 2800 (±0)',
    ]);
    expect(compareObservations(modelCycle, more, { imageTolerancePages: 3000 }).verdict).toBe('agree');
  });

  it('says when a scheduled fault fired on one target and not on the other', () => {
    const f = (fault: 'fired' | 'notFired'): Observation =>
      obs('vm', [{ op: 'hibernate', result: 'poweredOff', image: stats, fault }]);
    expect(compareObservations({ ...f('fired'), target: 'model' }, f('notFired')).differences).toEqual([
      'step 0: the scheduled fault fired on the model, notFired on vm',
    ]);
  });
});

describe('judgeRealRun: a crash the model predicts', () => {
  const fuse = (() => {
    const p = parseScenario({
      version: 1,
      id: 'f',
      machine: { memPages: 131072 },
      workload: { anon: 16384 },
      protocol: { kind: 'swsusp', kernel: '6.1', compression: 'none', interface: 'uswsusp' },
      storage: { kind: 'fuseFile', pages: 65536 },
      steps: [{ op: 'hibernate' }, { op: 'resume' }],
    });
    if (!p.ok) throw new Error(p.error);
    return p.scenario;
  })();
  const hang = { op: 'hibernate', result: 'crashed', at: 'hibernating', boot: 'hang', title: 't' } as const;
  const predicted: Observation = {
    ...obs('model', [{ ...hang, cause: 'fuseServerFrozen' }]),
    violations: [{ invariant: 'FailureLosesNothing', step: 0, message: 'died' }],
  };
  const frozen = { kind: 'hang', title: 'tasks: agent S in request_wait_answer', cause: 'fuseServerFrozen' } as const;

  it('passes a hang whose task dump names the predicted cause, its loss explained by the known limit', () => {
    const j = judgeRealRun(fuse, predicted, obs('vm', [{ ...hang, cause: 'fuseServerFrozen' }]), [frozen]);
    expect(j.reasons).toEqual([]);
    expect(j.verdict).toBe('pass');
    expect(j.judgement.predicted.map((v) => v.limitName)).toEqual(['freezerFreezesFuseServer']);
  });

  it('finds a hang with no named cause, a panic, or a hang the model did not predict', () => {
    const noCause = judgeRealRun(fuse, predicted, obs('vm', [hang]), [{ kind: 'hang', title: 't' }]);
    expect(noCause.verdict).toBe('finding');
    expect(noCause.reasons).toContain(
      'differential: step 0: model hibernate:crashed:hibernating:fuseServerFrozen, vm hibernate:crashed:hibernating',
    );
    const panic = { ...hang, boot: 'kernelPanic', cause: 'fuseServerFrozen' } as const;
    expect(judgeRealRun(fuse, predicted, obs('vm', [panic]), [{ ...frozen, kind: 'kernelPanic' }]).verdict).toBe(
      'finding',
    );
    const unpredicted = obs('model', [{ op: 'hibernate', result: 'failed', errno: 'EBUSY', phase: 'freeze' }]);
    const j = judgeRealRun(fuse, unpredicted, obs('vm', [{ ...hang, cause: 'fuseServerFrozen' }]), [frozen]);
    expect(j.verdict).toBe('finding');
    expect(j.reasons[0]).toMatch(/^boot 1: hang: /);
  });
});

// Known limits are matched against what happened, inside their windows (limits.ts), never on scenario features.
import { describe, expect, it } from 'vitest';
import { type KnownLimitName, knownLimitInfo, limitFor, limitRun } from './limits.ts';
import type { Observation, StepOutcome, Violation } from './outcome.ts';
import { parseScenario, type ScenarioInput } from './scenario/schema.ts';

const scenario = (protocol: ScenarioInput['protocol'], steps: ScenarioInput['steps']) => {
  const r = parseScenario({
    version: 1,
    id: 't',
    machine: { memPages: 1024 },
    protocol,
    storage: { pages: 2048 },
    steps,
  });
  if (!r.ok) throw new Error(r.error);
  return r.scenario;
};
const obs = (steps: StepOutcome[]): Observation => ({ target: 'vm', kernel: 'k', steps, violations: [] });
const v = (invariant: Violation['invariant'], step: number): Violation => ({ invariant, step, message: 'm' });
const stats = { dataPages: 10, zeroPages: 0, metaPages: 1, streamPages: 12, writes: 14 };
const limit = (s: ReturnType<typeof scenario>, steps: StepOutcome[], x: Violation): KnownLimitName | undefined =>
  limitFor(limitRun(s, { observation: obs(steps) }), x);

describe('known limits on a real run (observation facts)', () => {
  const NOCOMP = { kind: 'swsusp', compression: 'none' } as const;
  it('torn last map page: an EIO after the signature that the kernel ignored is inside the window', () => {
    const s = scenario(NOCOMP, [{ op: 'hibernate', ioErrorAfterSignature: true }]);
    const o: StepOutcome = { op: 'hibernate', result: 'poweredOff', image: stats, fault: 'fired' };
    expect(limit(s, [o], v('ImageCommittedAtomically', 0))).toBe('tornLastMapPage');
  });
  it('torn last map page: a failed hibernation whose header is signed after an early EIO is not', () => {
    const s = scenario(NOCOMP, [{ op: 'hibernate', ioErrorAtWrite: 5 }]);
    const o: StepOutcome = {
      op: 'hibernate',
      result: 'failed',
      errno: 'EIO',
      phase: 'write',
      fault: 'fired',
      storage: { signed: true },
    };
    expect(limit(s, [o], v('ImageCommittedAtomically', 0))).toBeUndefined();
  });
  it('torn last map page: a fault that never fired explains nothing', () => {
    const s = scenario(NOCOMP, [{ op: 'hibernate', ioErrorAfterSignature: true }]);
    const o: StepOutcome = { op: 'hibernate', result: 'poweredOff', image: stats, fault: 'notFired' };
    expect(limit(s, [o], v('ImageCommittedAtomically', 0))).toBeUndefined();
  });
  it('no mount check: only a noresume boot between the image and the resume', () => {
    const s = scenario({ kind: 'swsusp' }, [
      { op: 'bootNoresume' },
      { op: 'hibernate' },
      { op: 'resume' },
      { op: 'hibernate' },
      { op: 'bootNoresume' },
      { op: 'resume' },
    ]);
    const off: StepOutcome = { op: 'hibernate', result: 'poweredOff', image: stats };
    const res: StepOutcome = { op: 'resume', result: 'resumed', pagesChecked: 1, pagesCorrupt: 0 };
    const steps: StepOutcome[] = [{ op: 'bootNoresume' }, off, res, off, { op: 'bootNoresume' }, res];
    expect(limit(s, steps, v('StaleImageNeverResumed', 2))).toBeUndefined();
    expect(limit(s, steps, v('StaleImageNeverResumed', 5))).toBe('noMountCheck');
  });
  it('nocompress has no CRC: only corruption after the resumed image was written, and only when applied', () => {
    const s = scenario(NOCOMP, [
      { op: 'hibernate' },
      { op: 'corrupt', region: 'data', index: 1 },
      { op: 'resume' },
      { op: 'hibernate' },
      { op: 'resume' },
    ]);
    const off: StepOutcome = { op: 'hibernate', result: 'poweredOff', image: stats };
    const res: StepOutcome = { op: 'resume', result: 'resumed', pagesChecked: 1, pagesCorrupt: 1 };
    const steps: StepOutcome[] = [off, { op: 'corrupt', applied: true }, res, off, res];
    expect(limit(s, steps, v('CorruptImageNeverResumed', 2))).toBe('nocompressNoCrc');
    expect(limit(s, steps, v('CorruptImageNeverResumed', 4))).toBeUndefined();
    const notApplied: StepOutcome[] = [off, { op: 'corrupt', applied: false }, res, off, res];
    expect(limit(s, notApplied, v('CorruptImageNeverResumed', 2))).toBeUndefined();
  });
  it('DMA after stop: only the hibernation that got past the image point with the fault', () => {
    const s = scenario({ kind: 'swsusp' }, [{ op: 'hibernate', dmaAfterStopPages: 2 }, { op: 'resume' }]);
    const failedEarly: StepOutcome = { op: 'hibernate', result: 'failed', errno: 'ENOMEM', phase: 'preallocate' };
    expect(limit(s, [failedEarly], v('FailureLosesNothing', 0))).toBeUndefined();
    const off: StepOutcome = { op: 'hibernate', result: 'poweredOff', image: stats };
    const res: StepOutcome = { op: 'resume', result: 'resumed', pagesChecked: 1, pagesCorrupt: 1 };
    expect(limit(s, [off, res], v('ResumeRestoresIdenticalMemory', 1))).toBe('deviceDmaAfterStop');
  });
  it('every limit names its protocols, invariants, window and source', () => {
    for (const l of Object.values(knownLimitInfo)) {
      expect(l.protocols.length * l.invariants.length).toBeGreaterThan(0);
      expect(l.window.length + l.source.length + l.reason.length).toBeGreaterThan(30);
    }
  });
});

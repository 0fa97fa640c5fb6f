import { describe, expect, it } from 'vitest';
import type { ImageCheck, Observation, StepOutcome } from '../outcome.ts';
import { parseScenario, type Scenario } from '../scenario/schema.ts';
import { judgeObservation, type ObservedJudgement } from './observed.ts';

const scenario = (steps: unknown[], extra: Record<string, unknown> = {}): Scenario => {
  const p = parseScenario({
    version: 1,
    id: 'obs',
    machine: { memPages: 131072 },
    workload: { anon: 16384 },
    protocol: { kind: 'swsusp', kernel: '6.1' },
    storage: { pages: 65536 },
    steps,
    ...extra,
  });
  if (!p.ok) throw new Error(p.error);
  return p.scenario;
};

const stats = { dataPages: 37000, zeroPages: 0, metaPages: 73, streamPages: 37074, writes: 37200 };
const goodImage: ImageCheck = {
  complete: true,
  compressor: 'lzo',
  stats,
  pfnsAscending: true,
  countsConsistent: true,
  nosavePfns: 0,
  physpages: { header: 130939, machine: 130939 },
  tagged: { expected: 16384, missing: 0, duplicated: 0, wrongData: 0 },
};
const poweredOff = (image: ImageCheck | undefined = goodImage, signed = true): StepOutcome => ({
  op: 'hibernate',
  result: 'poweredOff',
  image: stats,
  storage: image === undefined ? { signed } : { signed, image },
});
const resumed = (checked = 16384, corrupt = 0, signedAfter = false): StepOutcome => ({
  op: 'resume',
  result: 'resumed',
  pagesChecked: checked,
  pagesCorrupt: corrupt,
  storageAfter: { signed: signedAfter },
});
const obs = (steps: StepOutcome[]): Observation => ({ target: 'vm', kernel: 'k', steps, violations: [] });
const result = (js: readonly ObservedJudgement[], inv: string) => js.find((j) => j.invariant === inv)?.result;
const violated = (js: readonly ObservedJudgement[]) =>
  js.filter((j) => j.result === 'violated').map((j) => j.invariant);

describe('judgeObservation', () => {
  const cycle = scenario([{ op: 'hibernate' }, { op: 'resume' }]);

  it('holds every invariant the facts of a clean cycle bear on, and says which it could not observe', () => {
    // Arrange + Act
    const js = judgeObservation(cycle, obs([poweredOff(), resumed()]));
    // Assert
    expect(violated(js)).toEqual([]);
    for (const inv of [
      'EveryPageSavedOnce',
      'NosaveNeverSaved',
      'ImageCommittedAtomically',
      'ResumeRestoresIdenticalMemory',
      'ImageResumedAtMostOnce',
      'StaleImageNeverResumed',
    ]) {
      expect(result(js, inv), inv).toBe('held');
    }
    expect(result(js, 'QuiescedMemoryUnchanged')).toBe('notObserved');
    expect(result(js, 'RestoreNeverClobbers')).toBe('notObserved');
  });

  it('never calls an invariant held when no fact bears on it (a resume that verified nothing)', () => {
    const js = judgeObservation(cycle, obs([poweredOff(), resumed(0, 0)]));
    expect(result(js, 'ResumeRestoresIdenticalMemory')).toBe('notObserved');
  });

  it('finds each broken fact under its invariant', () => {
    const cases: [StepOutcome[], string][] = [
      [[poweredOff({ ...goodImage, pfnsAscending: false }), resumed()], 'EveryPageSavedOnce'],
      [
        [poweredOff({ ...goodImage, tagged: { expected: 5, missing: 0, duplicated: 1, wrongData: 0 } }), resumed()],
        'EveryPageSavedOnce',
      ],
      [[poweredOff({ ...goodImage, nosavePfns: 3 }), resumed()], 'NosaveNeverSaved'],
      [[poweredOff({ ...goodImage, physpages: { header: 131072, machine: 130939 } }), resumed()], 'EveryPageSavedOnce'],
      [[poweredOff({ ...goodImage, complete: false, problem: 'torn map' }), resumed()], 'ImageCommittedAtomically'],
      [[poweredOff(undefined, false), resumed()], 'ImageCommittedAtomically'],
      [[poweredOff(), resumed(16384, 2)], 'ResumeRestoresIdenticalMemory'],
      [[poweredOff(), resumed(16384, 0, true)], 'ImageResumedAtMostOnce'],
      [
        [poweredOff(), { op: 'resume', result: 'crashed', at: 'load', boot: 'kernelPanic', title: 'Oops' }],
        'RestoreNeverClobbers',
      ],
      [
        [poweredOff(), { op: 'resume', result: 'crashed', at: 'afterResume', boot: 'kernelPanic', title: 'Oops' }],
        'ResumeRestoresIdenticalMemory',
      ],
      [
        [{ op: 'hibernate', result: 'crashed', at: 'hibernating', boot: 'hang', title: 'no output' }, resumed()],
        'FailureLosesNothing',
      ],
    ];
    for (const [steps, inv] of cases) expect(violated(judgeObservation(cycle, obs(steps))), inv).toContain(inv);
  });

  it('judges a failed hibernation by what the running system and its storage show', () => {
    const s = scenario([{ op: 'hibernate', ioErrorAtWrite: 100 }, { op: 'resume' }]);
    const failed = (corrupt: number, signed: boolean, slotsLeaked: number): StepOutcome => ({
      op: 'hibernate',
      result: 'failed',
      errno: 'EIO',
      phase: 'write',
      fault: 'fired',
      memory: { checked: 16384, corrupt },
      storage: { signed },
      slotsLeaked,
    });
    const noImage: StepOutcome = { op: 'resume', result: 'noImage' };
    expect(violated(judgeObservation(s, obs([failed(0, false, 0), noImage])))).toEqual([]);
    expect(violated(judgeObservation(s, obs([failed(1, false, 0), noImage])))).toEqual(['FailureLosesNothing']);
    expect(violated(judgeObservation(s, obs([failed(0, true, 0), noImage])))).toEqual(['FailureLosesNothing']);
    expect(violated(judgeObservation(s, obs([failed(0, false, 7), noImage])))).toEqual(['SwapSlotsFreedOnError']);
  });

  it('derives stale and repeated resumes from the sequence of steps, not from the runner', () => {
    const twice = scenario([{ op: 'hibernate' }, { op: 'resume' }, { op: 'resume' }]);
    expect(violated(judgeObservation(twice, obs([poweredOff(), resumed(), resumed()])))).toEqual([
      'ImageResumedAtMostOnce',
    ]);
    const stale = scenario([{ op: 'hibernate' }, { op: 'bootNoresume' }, { op: 'resume' }]);
    expect(violated(judgeObservation(stale, obs([poweredOff(), { op: 'bootNoresume' }, resumed()])))).toEqual([
      'StaleImageNeverResumed',
    ]);
    // test_resume failed with the image left signed (Debian 6.1): the next boot resumes an image nobody hibernated
    const tr = scenario([{ op: 'hibernate', abortAt: 'testResume' }, { op: 'write', pages: 100 }, { op: 'resume' }]);
    const failedTr: StepOutcome = {
      op: 'hibernate',
      result: 'failed',
      errno: 'EBUSY',
      phase: 'testResume',
      storage: { signed: true },
    };
    expect(violated(judgeObservation(tr, obs([failedTr, { op: 'write', pages: 100 }, resumed()])))).toEqual([
      'FailureLosesNothing',
      'StaleImageNeverResumed',
    ]);
  });

  it('judges a resume on another machine as MismatchedImageRefused, and a corrupted one by its pages', () => {
    const other = scenario([{ op: 'hibernate' }, { op: 'resume', memPages: 65536 }]);
    expect(violated(judgeObservation(other, obs([poweredOff(), resumed()])))).toEqual(['MismatchedImageRefused']);
    const corrupt = scenario([{ op: 'hibernate' }, { op: 'corrupt', region: 'data', index: 3 }, { op: 'resume' }]);
    const js = judgeObservation(corrupt, obs([poweredOff(), { op: 'corrupt', applied: true }, resumed(16384, 1)]));
    expect(violated(js)).toEqual(['CorruptImageNeverResumed']);
  });
});

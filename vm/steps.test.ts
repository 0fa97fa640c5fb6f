// The step/crash mapping over recorded agent event sequences and boot verdicts (no QEMU).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { StorageFacts } from '../spec/outcome.ts';
import type { HibernateStep } from '../spec/scenario/schema.ts';
import { classifyConsole, type Verdict } from './console/classify.ts';
import { AgentEvents, agentLine, parseAgentEvents } from './console/events.ts';
import { type BootFacts, hibernateOutcome, resumeOutcome, writeOutcome } from './steps.ts';

const PASS: Verdict = { kind: 'pass', title: 'powered off' };
const PANIC: Verdict = { kind: 'kernelPanic', title: 'Kernel panic - not syncing: Fatal exception' };
const HIB: HibernateStep = { op: 'hibernate' } as HibernateStep;
const IMAGE = { dataPages: 38229, zeroPages: 0, metaPages: 75, streamPages: 38305, writes: 22647 };

/** A boot from its agent lines (as the console printed them) and what the host saw. */
function boot(
  lines: readonly string[],
  o: Partial<Omit<BootFacts, 'report'>> & {
    poweredOff?: boolean;
    imageFound?: boolean;
    report?: Partial<BootFacts['report']>;
  } = {},
) {
  const events = parseAgentEvents(lines.map(agentLine).join('\n'));
  const facts: BootFacts = {
    verdict: o.verdict ?? PASS,
    report: {
      imageFound: o.report?.imageFound ?? o.imageFound ?? false,
      poweredOff: o.report?.poweredOff ?? o.poweredOff ?? true,
      refusal: o.report?.refusal,
      resumeErrno: o.report?.resumeErrno,
    },
    events: o.events ?? new AgentEvents(events.map((e) => ({ ...e, t: 0 }))),
    storageAtReturn: o.storageAtReturn ?? [],
    storageAtExit: o.storageAtExit ?? { signed: false },
    statsAtExit: o.statsAtExit,
    ...(o.fault === undefined ? {} : { fault: o.fault }),
    ...(o.powerLostAfterPages === undefined ? {} : { powerLostAfterPages: o.powerLostAfterPages }),
  };
  return facts;
}

const HIBERNATING = '{"ev":"hibernating","mode":"shutdown","pmTest":"none","swapUsedKiB":0}';
const VERIFY = (checked: number, corrupt = 0) =>
  `{"ev":"verify","pagesChecked":${checked},"pagesCorrupt":${corrupt},"zeroCorrupt":0,"pageCacheCorrupt":0,"firstBad":-1,"ms":18}`;
const UNSIGNED: StorageFacts = { signed: false };

describe('hibernateOutcome', () => {
  it('reports a failed write with the memory check, the disk, the leaked slots and the fault', () => {
    const b = boot(
      [HIBERNATING, '{"ev":"hibernateReturned","ok":false,"errno":"EIO","ms":767,"swapUsedKiB":8}', VERIFY(16384)],
      { storageAtReturn: [UNSIGNED], fault: { step: 0, state: 'fired' } },
    );
    const r = hibernateOutcome({ ...HIB, ioErrorAtWrite: 100 }, 0, b);
    expect(r).toEqual({
      outcome: {
        op: 'hibernate',
        result: 'failed',
        errno: 'EIO',
        phase: 'write',
        fault: 'fired',
        storage: UNSIGNED,
        memory: { checked: 16384, corrupt: 0 },
        slotsLeaked: 2,
      },
      state: 'running',
    });
  });

  it('an ENOMEM failure reports no leaked slots: its reclaim may swap pages out before any image slot exists', () => {
    const b = boot(
      [
        HIBERNATING,
        '{"ev":"hibernateReturned","ok":false,"errno":"ENOMEM","ms":767,"swapUsedKiB":4096}',
        VERIFY(16384),
      ],
      { storageAtReturn: [UNSIGNED] },
    );
    const r = hibernateOutcome(HIB, 0, b);
    expect(r.outcome).toMatchObject({ op: 'hibernate', result: 'failed', errno: 'ENOMEM' });
    expect(r.outcome).not.toHaveProperty('slotsLeaked');
  });

  it('reports a powered-off image with its counts and the disk as read after power-off', () => {
    const storage: StorageFacts = { signed: true };
    const b = boot(['{"ev":"write","pages":256,"ms":0}', HIBERNATING], { storageAtExit: storage, statsAtExit: IMAGE });
    expect(writeOutcome(b)).toEqual({ op: 'write', pages: 256 });
    expect(hibernateOutcome(HIB, 1, b)).toEqual({
      outcome: { op: 'hibernate', result: 'poweredOff', image: IMAGE, storage },
      state: 'suspended',
    });
  });

  it('a fault that never fired is notFired, not a silent pass', () => {
    const b = boot([HIBERNATING], {
      statsAtExit: IMAGE,
      storageAtExit: { signed: true },
      fault: { step: 0, state: 'notFired' },
    });
    const r = hibernateOutcome({ ...HIB, ioErrorAtWrite: 0 }, 0, b);
    expect(r.outcome).toMatchObject({ result: 'poweredOff', fault: 'notFired' });
  });

  it('a panic while hibernating is a crashed step, the system lost', () => {
    const b = boot([HIBERNATING], { verdict: PANIC, poweredOff: false });
    expect(hibernateOutcome(HIB, 0, b)).toEqual({
      outcome: { op: 'hibernate', result: 'crashed', at: 'hibernating', boot: 'kernelPanic', title: PANIC.title },
      state: 'lost',
    });
  });

  it('a panic before the agent hibernated skips the write and crashes the hibernation', () => {
    const b = boot(['{"ev":"agentStart","id":1,"prog":"w1,h,v"}'], { verdict: PANIC, poweredOff: false });
    expect(writeOutcome(b)).toMatchObject({ op: 'skip', step: 'write' });
    expect(hibernateOutcome(HIB, 1, b).outcome).toMatchObject({ result: 'crashed', at: 'hibernating' });
  });

  it('QEMU gone after the return but before the verify: crashed, never "nothing lost"', () => {
    const dead: Verdict = { kind: 'unexpectedReboot', title: 'QEMU exited without a power-off (triple fault?)' };
    const b = boot([HIBERNATING, '{"ev":"hibernateReturned","ok":false,"errno":"EIO"}'], {
      verdict: dead,
      poweredOff: false,
      storageAtReturn: [UNSIGNED],
    });
    expect(hibernateOutcome(HIB, 0, b).outcome).toMatchObject({ result: 'crashed', boot: 'unexpectedReboot' });
  });

  it('a power cut by the host is powerLost with the disk as left', () => {
    const b = boot([HIBERNATING], { powerLostAfterPages: 500, fault: { step: 0, state: 'fired' } });
    expect(hibernateOutcome({ ...HIB, powerLossAfterWrite: 500 }, 0, b)).toEqual({
      outcome: { op: 'hibernate', result: 'powerLost', writes: 500, fault: 'fired', storage: UNSIGNED },
      state: 'suspended',
    });
  });

  it('an abort reports the memory check and the disk at the return', () => {
    const b = boot([HIBERNATING, '{"ev":"hibernateReturned","ok":true,"ms":1}', VERIFY(16384)], {
      storageAtReturn: [{ signed: true }],
    });
    expect(hibernateOutcome({ ...HIB, abortAt: 'testResume' }, 0, b).outcome).toEqual({
      op: 'hibernate',
      result: 'aborted',
      at: 'testResume',
      storage: { signed: true },
      memory: { checked: 16384, corrupt: 0 },
    });
  });
});

describe('resumeOutcome', () => {
  const RESUMED = [
    '{"ev":"init","boot":"resume","dev":"254:0"}',
    '{"ev":"resuming"}',
    '{"ev":"hibernateReturned","ok":true,"ms":520}',
  ];

  it('resumed: pages from the verify event, the signature after it', () => {
    const b = boot([...RESUMED, VERIFY(17408)], { imageFound: true, storageAtReturn: [UNSIGNED] });
    expect(resumeOutcome(b)).toEqual({
      op: 'resume',
      result: 'resumed',
      pagesChecked: 17408,
      pagesCorrupt: 0,
      storageAfter: { signed: false },
    });
  });

  it('a panic after the return, before the verify, is crashed afterResume (not resumed with 0 checked)', () => {
    const b = boot(RESUMED, { verdict: PANIC, poweredOff: false, imageFound: true, storageAtReturn: [UNSIGNED] });
    expect(resumeOutcome(b)).toEqual({
      op: 'resume',
      result: 'crashed',
      at: 'afterResume',
      boot: 'kernelPanic',
      title: PANIC.title,
    });
  });

  it('a resume that ended without a verify is resumed with 0 pages checked, never intact by default', () => {
    const b = boot(RESUMED, { imageFound: true });
    expect(resumeOutcome(b)).toEqual({ op: 'resume', result: 'resumed', pagesChecked: 0, pagesCorrupt: 0 });
  });

  it('an oops while loading the image is crashed at load', () => {
    const oops: Verdict = { kind: 'kernelPanic', title: 'Oops: 0000 [#1] PREEMPT SMP NOPTI' };
    const b = boot(RESUMED.slice(0, 2), { verdict: oops, poweredOff: false, imageFound: true });
    expect(resumeOutcome(b)).toMatchObject({ result: 'crashed', at: 'load', boot: 'kernelPanic' });
  });

  it('refusals, ENOMEM and no image', () => {
    const refused = boot(RESUMED.slice(0, 2), {
      imageFound: true,
      report: {
        refusal: { reason: 'crcMismatch', errno: 'ENODATA', line: '' },
        resumeErrno: 'ENODATA',
      },
    });
    expect(resumeOutcome(refused)).toEqual({
      op: 'resume',
      result: 'refused',
      reason: 'crcMismatch',
      errno: 'ENODATA',
    });
    const oom = boot(RESUMED.slice(0, 2), {
      imageFound: true,
      report: { refusal: undefined, resumeErrno: 'ENOMEM' },
    });
    expect(resumeOutcome(oom)).toMatchObject({ result: 'refused', reason: 'outOfMemory' });
    expect(resumeOutcome(boot(RESUMED.slice(0, 2)))).toEqual({ op: 'resume', result: 'noImage' });
  });

  it('an image given up with an errno no refusal names is a failed boot, not a dropped step', () => {
    const b = boot(RESUMED.slice(0, 2), {
      imageFound: true,
      report: { refusal: undefined, resumeErrno: 'EBUSY' },
    });
    expect(resumeOutcome(b)).toMatchObject({ result: 'crashed', at: 'load', boot: 'bootFailed' });
  });
});

describe('golden consoles through the step mapping', () => {
  const golden = (name: string) => {
    const text = readFileSync(new URL(`./console/testdata/${name}`, import.meta.url), 'utf8');
    const report = classifyConsole(text.slice(text.indexOf('\n\n') + 2), { kind: 'exited', code: 0 });
    return boot([], {
      verdict: report.verdict,
      report,
      events: new AgentEvents(report.events.map((e) => ({ ...e, t: 0 }))),
    });
  };

  it('Oops and panic after hibernateReturned, before the verify: resume crashed afterResume', () => {
    expect(resumeOutcome(golden('panic-6.1-after-resume.log'))).toMatchObject({
      op: 'resume',
      result: 'crashed',
      at: 'afterResume',
      boot: 'kernelPanic',
      title: 'Kernel panic - not syncing: Fatal exception',
    });
  });

  it('an oops while the image loads: resume crashed at load', () => {
    expect(resumeOutcome(golden('panic-6.1-oops-during-load.log'))).toMatchObject({ result: 'crashed', at: 'load' });
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { judgeObservation } from '../../spec/invariants/observed.ts';
import type { StepOutcome } from '../../spec/outcome.ts';
import { parseScenario } from '../../spec/scenario/schema.ts';
import type { ExitInfo } from '../console/classify.ts';
import { InfraError } from '../errors.ts';
import { parseEvents } from './events.ts';
import { type BootContext, type DiskFacts, hibernateOutcome, kjumpBootVerdict, resumeOutcome } from './outcome.ts';
import type { PlanHibernate } from './plan.ts';

const abortHib: PlanHibernate = { kind: 'hibernate', index: 0, mode: 'abort' };
const ctxA = (hib = abortHib, imageOnDisk = true): BootContext => ({ role: 'a', hib, imageOnDisk });
const ctxC: BootContext = { role: 'c', hib: { kind: 'hibernate', index: 0, mode: 'poweroff' }, imageOnDisk: true };
const exited: ExitInfo = { kind: 'exited', code: 0 };
const POWER_DOWN = '[    6.5] reboot: Power down';
const stats = { dataPages: 2048, zeroPages: 0, metaPages: 4, streamPages: 2053, writes: 2054 };
const disk = (signed: boolean): DiskFacts => ({ storage: { signed }, stats });
const noImage: DiskFacts = { storage: { signed: false }, stats: undefined };

const golden = (name: string) => {
  const log = readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8');
  return { log, evs: parseEvents(log.split('\n').map((text, t) => ({ t, text }))) };
};

/** A console log of HIBFUZZ event lines (one per element) and kernel lines (elements starting with '['). */
const run = (lines: readonly string[]) => {
  const log = lines.map((l) => (l.startsWith('[') ? l : `HIBFUZZ ${l}`)).join('\n');
  return { log, evs: parseEvents(log.split('\n').map((text, t) => ({ t, text }))) };
};
const verify = (corrupt = 0) =>
  `{"ev":"a-verify","checked":2048,"corrupt":${corrupt},"moved":0,"inRegion":2048,"corruptOutside":0,"listCorrupt":0,"zeroChecked":0,"zeroCorrupt":0,"firstBad":-1}`;
const A_TO_B = ['{"ev":"a-init"}', '{"ev":"a-load"}', '{"ev":"a-loaded","rc":0}', '{"ev":"a-jump"}', '{"ev":"b-init"}'];

describe('run 1 (A, B, A again): boot verdict and hibernate outcome', () => {
  it('the recorded abort: pass (the known vmcore warning of B set aside), aborted with memory and storage facts', () => {
    const { log, evs } = golden('abort-a.log');
    const boot = kjumpBootVerdict(evs, log, exited, ctxA());
    expect(boot).toEqual({ kind: 'pass', title: 'powered off' });
    expect(hibernateOutcome(abortHib, evs, boot, disk(false))).toEqual({
      op: 'hibernate',
      result: 'aborted',
      at: 'afterImageWritten',
      image: stats,
      storage: { signed: false },
      memory: { checked: 2048, corrupt: 0, corruptOutside: 0 },
    });
  });

  it('any other WARNING is a kernel panic verdict, and the step crashed while hibernating', () => {
    const r = run([...A_TO_B, '[    1.0] WARNING: CPU: 0 PID: 1 at kernel/kexec_core.c:99 x', POWER_DOWN]);
    const boot = kjumpBootVerdict(r.evs, r.log, exited, ctxA());
    expect(boot.kind).toBe('kernelPanic');
    expect(hibernateOutcome(abortHib, r.evs, boot, disk(false))).toMatchObject({
      result: 'crashed',
      at: 'hibernating',
      boot: 'kernelPanic',
    });
  });

  it('the recorded stock-helper run on unpatched 6.12: jumpBackHelperOom, crashed while hibernating', () => {
    const { log, evs } = golden('stock-helper-a.log');
    const boot = kjumpBootVerdict(evs, log, exited, ctxA(abortHib, false));
    expect(boot).toEqual({
      kind: 'bootFailed',
      title: 'jumpBackHelperOom: kexec: Could not allocate control_code_buffer',
    });
    expect(hibernateOutcome(abortHib, evs, boot, noImage)).toEqual({
      op: 'hibernate',
      result: 'crashed',
      at: 'hibernating',
      boot: 'bootFailed',
      title: boot.title,
    });
  });

  it('the stock helper OOM is bootFailed titled jumpBackHelperOom: with the kernel line', () => {
    const r = run([
      ...A_TO_B,
      '{"ev":"b-save-rc","rc":0}',
      '[    1.2] kexec: Could not allocate control_code_buffer',
      '{"ev":"b-helper-loaded","rc":255}',
      POWER_DOWN,
    ]);
    expect(kjumpBootVerdict(r.evs, r.log, exited, ctxA())).toEqual({
      kind: 'bootFailed',
      title: 'jumpBackHelperOom: kexec: Could not allocate control_code_buffer',
    });
  });

  it('a jump that never returns is unexpectedReboot titled noReturn:', () => {
    const r = run([...A_TO_B, '{"ev":"b-save-rc","rc":0}', '{"ev":"jump"}']);
    const boot = kjumpBootVerdict(r.evs, r.log, exited, ctxA());
    expect(boot.kind).toBe('unexpectedReboot');
    expect(boot.title).toMatch(/^noReturn: /);
  });

  it('a timeout is a hang; B that never reaches /init is saveKernelNoBoot', () => {
    const r = run(A_TO_B.slice(0, 4));
    expect(kjumpBootVerdict(r.evs, r.log, { kind: 'timeout' }, ctxA()).kind).toBe('hang');
    expect(kjumpBootVerdict(r.evs, `${r.log}\n${POWER_DOWN}`, exited, ctxA()).title).toMatch(/^saveKernelNoBoot: /);
  });

  it('QEMU killed by a signal is the host, not the kernel', () => {
    const r = run(A_TO_B);
    expect(() => kjumpBootVerdict(r.evs, r.log, { kind: 'signal', signal: 'SIGTERM' }, ctxA())).toThrow(InfraError);
  });

  it('B finishing without an image is guestError', () => {
    const r = run([...A_TO_B, '{"ev":"b-save-rc","rc":0}', '{"ev":"a-back"}', verify(), POWER_DOWN]);
    expect(kjumpBootVerdict(r.evs, r.log, exited, ctxA(abortHib, false)).title).toMatch(/^guestError: /);
  });

  it('EIO: failed in write, the fault fired, A checked its memory', () => {
    const hib: PlanHibernate = { ...abortHib, eioAt: 100 };
    const r = run([...A_TO_B, '{"ev":"b-eio","at":100}', '{"ev":"b-save-rc","rc":5}', '{"ev":"a-back"}', verify()]);
    const boot = kjumpBootVerdict(r.evs, `${r.log}\n${POWER_DOWN}`, exited, ctxA(hib, false));
    expect(hibernateOutcome(hib, r.evs, boot, noImage)).toEqual({
      op: 'hibernate',
      result: 'failed',
      errno: 'EIO',
      phase: 'write',
      fault: 'fired',
      storage: { signed: false },
      memory: { checked: 2048, corrupt: 0, corruptOutside: 0 },
    });
  });

  it('a scheduled fault that did not fire is reported as such', () => {
    const hib: PlanHibernate = { ...abortHib, eioAt: 1_000_000 };
    const r = run([...A_TO_B, '{"ev":"b-save-rc","rc":0}', '{"ev":"jump"}', '{"ev":"a-back"}', verify(), POWER_DOWN]);
    const boot = kjumpBootVerdict(r.evs, r.log, exited, ctxA(hib));
    expect(hibernateOutcome(hib, r.evs, boot, disk(false))).toMatchObject({ result: 'aborted', fault: 'notFired' });
  });

  it('power loss: powerLost with the writes, nothing signed', () => {
    const hib: PlanHibernate = { kind: 'hibernate', index: 0, mode: 'poweroff', powerLossAt: 500 };
    const r = run([...A_TO_B, '{"ev":"b-powerloss","writes":500}', POWER_DOWN]);
    const boot = kjumpBootVerdict(r.evs, r.log, exited, ctxA(hib, false));
    expect(hibernateOutcome(hib, r.evs, boot, noImage)).toEqual({
      op: 'hibernate',
      result: 'powerLost',
      writes: 500,
      fault: 'fired',
      storage: { signed: false },
    });
  });

  it('a load kexec-tools refuses: failed ENOMEM in load, A intact', () => {
    const r = run(['{"ev":"a-init"}', '{"ev":"a-load"}', '{"ev":"a-loaded","rc":255}', verify(), POWER_DOWN]);
    const boot = kjumpBootVerdict(r.evs, r.log, exited, ctxA(abortHib, false));
    expect(boot.kind).toBe('pass');
    expect(hibernateOutcome(abortHib, r.evs, boot, noImage)).toMatchObject({
      result: 'failed',
      errno: 'ENOMEM',
      phase: 'load',
      memory: { corrupt: 0 },
    });
  });
});

describe('run 2 (cold boot of C, then A): boot verdict and resume outcome', () => {
  const C = ['{"ev":"c-init"}'];
  const resumeOf = (lines: readonly string[], exit: ExitInfo = exited) => {
    const r = run(lines);
    return resumeOutcome(r.evs, kjumpBootVerdict(r.evs, r.log, exit, ctxC));
  };

  it('the recorded cold resume: pass, resumed with 4096 pages checked, the signature gone', () => {
    const { log, evs } = golden('coldresume-c.log');
    const boot = kjumpBootVerdict(evs, log, exited, ctxC);
    expect(boot.kind).toBe('pass');
    expect(resumeOutcome(evs, boot)).toEqual({
      op: 'resume',
      result: 'resumed',
      pagesChecked: 4096,
      pagesCorrupt: 0,
      storageAfter: { signed: false },
    });
  });

  it('no image, a refused image', () => {
    expect(resumeOf([...C, '{"ev":"c-noimage","stale":1}', POWER_DOWN])).toEqual({ op: 'resume', result: 'noImage' });
    expect(resumeOf([...C, '{"ev":"c-refused","reason":"crcMismatch"}', POWER_DOWN])).toEqual({
      op: 'resume',
      result: 'refused',
      reason: 'crcMismatch',
      errno: 'ENODATA',
    });
  });

  it('resumed: pages checked by A, and the signature after it ran', () => {
    const o = resumeOf([
      ...C,
      '{"ev":"c-restored"}',
      '{"ev":"a-back"}',
      verify(),
      '{"ev":"disk","committed":0}',
      POWER_DOWN,
    ]);
    expect(o).toEqual({
      op: 'resume',
      result: 'resumed',
      pagesChecked: 2048,
      pagesCorrupt: 0,
      storageAfter: { signed: false },
    });
  });

  it('C dead before it restored is a crash in load; A not back after the jump is a crash after resume', () => {
    expect(resumeOf([], { kind: 'exited', code: 0 })).toMatchObject({ result: 'crashed', at: 'load' });
    expect(resumeOf([...C, '{"ev":"c-restored"}'])).toMatchObject({
      result: 'crashed',
      at: 'afterResume',
      boot: 'unexpectedReboot',
      title: expect.stringMatching(/^noReturn: /),
    });
  });
});

describe('the monitors judge these facts (no invariant is named by the runner)', () => {
  const parsed = parseScenario({
    version: 1,
    id: 'k',
    machine: { memPages: 131072 },
    workload: { anon: 2048 },
    protocol: { kind: 'kexec', saveKernelPages: 20480 },
    storage: { pages: 147456 },
    steps: [{ op: 'hibernate' }, { op: 'resume' }],
  });
  if (!parsed.ok) throw new Error(parsed.error);
  const violated = (steps: StepOutcome[]) =>
    judgeObservation(parsed.scenario, { target: 'vm', kernel: 'k', steps, violations: [] })
      .filter((j) => j.result === 'violated')
      .map((j) => j.invariant);
  const off: StepOutcome = { op: 'hibernate', result: 'poweredOff', image: stats, storage: { signed: true } };

  it('an image still signed after resume violates ImageResumedAtMostOnce', () => {
    const resumed: StepOutcome = {
      op: 'resume',
      result: 'resumed',
      pagesChecked: 2048,
      pagesCorrupt: 0,
      storageAfter: { signed: true },
    };
    expect(violated([off, resumed])).toEqual(['ImageResumedAtMostOnce']);
  });

  it('a clean cold resume violates nothing', () => {
    const resumed: StepOutcome = { op: 'resume', result: 'resumed', pagesChecked: 2048, pagesCorrupt: 0 };
    expect(violated([off, resumed])).toEqual([]);
  });
});

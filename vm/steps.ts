// Pure: what one boot's agent events, its console verdict and the host's reads of the disk say about a scenario
// step (spec/outcome.ts StepOutcome). No invariant is named here: the monitors (spec/invariants/observed.ts) judge.
//
// A boot that died (panic, hang, triple fault, boot failure) is a step outcome where it happened: the original
// system while it hibernated (hibernate crashed at 'hibernating'), the resume kernel while it loaded the image
// (resume crashed at 'load'), or the resumed system before its agent verified memory ('afterResume').

import { PAGE_SIZE } from '../spec/brand.ts';
import type {
  BootVerdictKind,
  Errno,
  FaultState,
  ImageStats,
  MemoryCheck,
  StepOutcome,
  StorageFacts,
} from '../spec/outcome.ts';
import type { HibernateStep } from '../spec/scenario/schema.ts';
import type { BootReport, Verdict } from './console/classify.ts';
import type { AgentEvents, EventOf } from './console/events.ts';

/** Boot verdicts that mean the kernel died (or never came up) where the scenario needed it alive. */
export const CRASH_VERDICTS = ['bootFailed', 'hang', 'kernelPanic', 'unexpectedReboot'] as const;
export const isCrash = (k: BootVerdictKind): boolean => (CRASH_VERDICTS as readonly string[]).includes(k);

/** Everything the step mapping knows about one boot. */
export interface BootFacts {
  readonly verdict: Verdict;
  readonly report: Pick<BootReport, 'imageFound' | 'poweredOff' | 'refusal' | 'resumeErrno'>;
  readonly events: AgentEvents;
  /** the scenario step whose scheduled fault the disk server ran in this boot, and whether it hit */
  readonly fault?: { readonly step: number; readonly state: FaultState };
  /** the host cut the power (powerLossAfterWrite) after this many image pages */
  readonly powerLostAfterPages?: number;
  /** the disk read when the agent said hibernateReturned (the k-th read for the k-th event) */
  readonly storageAtReturn: readonly StorageFacts[];
  /** the disk read after QEMU exited, and the counts of a signed image on it */
  readonly storageAtExit: StorageFacts;
  readonly statsAtExit: ImageStats | undefined;
}

/** Where the original system is after a step. */
export type SystemState = 'running' | 'suspended' | 'lost';

const NO_IMAGE: ImageStats = { dataPages: 0, zeroPages: 0, metaPages: 0, streamPages: 0, writes: 0 };

const memoryOf = (v: EventOf<'verify'> | undefined): MemoryCheck | undefined =>
  v === undefined ? undefined : { checked: v.pagesChecked, corrupt: v.pagesCorrupt };

/** The storage read at the hibernateReturned event the cursor just consumed. */
const storageAtLastReturn = (b: BootFacts): StorageFacts | undefined =>
  b.storageAtReturn[b.events.consumed('hibernateReturned') - 1];

/** A write step: the agent's write event; a crashed boot before it skips the step with the reason. */
export function writeOutcome(b: BootFacts): StepOutcome {
  const e = b.events.take('write');
  if (e !== undefined) return { op: 'write', pages: e.pages };
  const why = isCrash(b.verdict.kind)
    ? `the kernel died before the write (${b.verdict.kind}: ${b.verdict.title})`
    : 'the agent did not report the write';
  return { op: 'skip', step: 'write', reason: why };
}

const crashedHibernate = (b: BootFacts): StepOutcome => ({
  op: 'hibernate',
  result: 'crashed',
  at: 'hibernating',
  boot: b.verdict.kind,
  title: b.verdict.title,
  ...(b.verdict.cause === undefined ? {} : { cause: b.verdict.cause }),
});

/** The agent's errno for a failed hibernation; EOTHER (one the spec does not name) stays EINVAL as before. */
const errnoOf = (e: EventOf<'hibernateReturned'>): Errno =>
  e.errno === undefined || e.errno === 'EOTHER' ? 'EINVAL' : e.errno;

/**
 * A hibernate step (index `i`) run in boot `b`: returned in the same boot (failed, aborted), or the system went
 * down (image written and powered off, power cut by the host), or the kernel died.
 */
export function hibernateOutcome(
  st: HibernateStep,
  i: number,
  b: BootFacts,
): { readonly outcome: StepOutcome; readonly state: SystemState } {
  const fault = b.fault?.step === i ? { fault: b.fault.state } : {};
  const h = b.events.take('hibernating');
  if (h === undefined) {
    if (isCrash(b.verdict.kind)) return { outcome: crashedHibernate(b), state: 'lost' };
    // the agent never started it (its fill or the program failed): reported as the agent's failure
    return { outcome: { op: 'hibernate', result: 'failed', errno: 'EINVAL', phase: 'agent' }, state: 'lost' };
  }
  const ret = b.events.peek(['hibernateReturned', 'done']);
  if (ret?.ev === 'hibernateReturned' && b.powerLostAfterPages === undefined) {
    b.events.take('hibernateReturned');
    const storage = storageAtLastReturn(b);
    const memory = memoryOf(b.events.take('verify'));
    // returned, then died before it checked its memory: the original system is lost while hibernating
    if (memory === undefined && isCrash(b.verdict.kind)) return { outcome: crashedHibernate(b), state: 'lost' };
    const facts = {
      ...fault,
      ...(storage === undefined ? {} : { storage }),
      ...(memory === undefined ? {} : { memory }),
    };
    if (ret.ok)
      return {
        outcome: { op: 'hibernate', result: 'aborted', at: st.abortAt ?? 'unknown', ...facts },
        state: 'running',
      };
    // /proc/swaps Used after the failure minus before it. ENOMEM: preallocation or the snapshot failed before an image
    // slot was taken, and its reclaim may have swapped pages out (slots legitimately in use): not a measure of leaks
    const leaked =
      h.swapUsedKiB === undefined || ret.swapUsedKiB === undefined || errnoOf(ret) === 'ENOMEM'
        ? {}
        : { slotsLeaked: Math.max(0, (ret.swapUsedKiB - h.swapUsedKiB) / (PAGE_SIZE / 1024)) };
    return {
      outcome: {
        op: 'hibernate',
        result: 'failed',
        errno: errnoOf(ret),
        phase: ret.phase ?? 'write',
        ...facts,
        ...leaked,
      },
      state: 'running',
    };
  }
  // the system went down
  const storage = { storage: b.storageAtExit };
  if (b.powerLostAfterPages !== undefined) {
    return {
      outcome: {
        op: 'hibernate',
        result: 'powerLost',
        writes: Math.floor(b.powerLostAfterPages),
        ...fault,
        ...storage,
      },
      state: 'suspended',
    };
  }
  if (!b.report.poweredOff) return { outcome: crashedHibernate(b), state: 'lost' };
  // powered off reporting success: the image's counts (none when nothing is signed; the monitors judge that)
  return {
    outcome: { op: 'hibernate', result: 'poweredOff', image: b.statsAtExit ?? NO_IMAGE, ...fault, ...storage },
    state: 'suspended',
  };
}

/**
 * A resume step: the boot kernel found an image and the original system came back (resumed), or it refused it,
 * found none, or died loading it or right after.
 */
export function resumeOutcome(b: BootFacts): StepOutcome {
  const v = b.verdict;
  const crashed = (at: 'load' | 'afterResume', boot = v.kind, title = v.title): StepOutcome => ({
    op: 'resume',
    result: 'crashed',
    at,
    boot,
    title,
  });
  const ret = b.events.take('hibernateReturned');
  if (ret !== undefined) {
    const storage = storageAtLastReturn(b);
    const check = b.events.take('verify');
    if (check === undefined && isCrash(v.kind)) return crashed('afterResume');
    return {
      op: 'resume',
      result: 'resumed',
      // no verify event: nothing was checked (never a default "intact")
      pagesChecked: check?.pagesChecked ?? 0,
      pagesCorrupt: check?.pagesCorrupt ?? 0,
      ...(storage === undefined ? {} : { storageAfter: { signed: storage.signed } }),
    };
  }
  if (isCrash(v.kind)) return crashed('load');
  // the resume boot had no key for the dm-crypt volume: its init refused to look for an image (init.sh)
  if (b.events.first('keyUnavailable') !== undefined)
    return { op: 'resume', result: 'refused', reason: 'keyUnavailable', errno: 'ENOKEY' };
  const { refusal, imageFound, resumeErrno } = b.report;
  if (refusal !== undefined) return { op: 'resume', result: 'refused', reason: refusal.reason, errno: refusal.errno };
  // "PM: Error -12 resuming": the boot kernel ran out of memory for the image
  if (imageFound && resumeErrno === 'ENOMEM')
    return { op: 'resume', result: 'refused', reason: 'outOfMemory', errno: 'ENOMEM' };
  if (imageFound) {
    // the kernel gave up on the image with an error no RefusalReason names: a failed boot, never a dropped step
    return crashed(
      'load',
      'bootFailed',
      `resume failed with ${resumeErrno ?? 'an unknown error'}: no RefusalReason for it`,
    );
  }
  return { op: 'resume', result: 'noImage' };
}

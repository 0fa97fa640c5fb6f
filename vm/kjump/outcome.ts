// kjump events -> what each boot did (a boot verdict of spec/outcome.ts BOOT_VERDICTS) and the step outcomes with
// their facts (memory, fault, storage). Pure: no invariant is named here; spec/invariants/observed.ts judges the facts.
import type {
  BootVerdictKind,
  HibernateFacts,
  ImageStats,
  MemoryCheck,
  StepOutcome,
  StorageFacts,
} from '../../spec/outcome.ts';
import type { BootSummary } from '../../spec/verdict.ts';
import { classifyConsole, type ExitInfo } from '../console/classify.ts';
import { InfraError } from '../errors.ts';
import { findEvent, hasEvent, type TimedEvent } from './events.ts';
import type { PlanHibernate } from './plan.ts';

/**
 * What went wrong in a kjump run, as the first word of the boot title (fuzz/differential.ts's allow-list matches it),
 * and the boot verdict it is:
 * jumpBackHelperOom  the stock `kexec --load-jump-back-helper` failed in B with a page allocation failure (6.12:
 *                    kimage_is_destination_range() wraps on the helper's empty segment)
 * noReturn           A did not come back after the jump (QEMU exited with no marker: a reset or triple fault)
 * saveKernelNoBoot / restoreKernelNoBoot   B / C never reached /init
 * kexecLoadFailed    A's kexec --load-preserve-context failed and A did not carry on
 * guestError         hibkj or init.sh reported an error, or a run ended without its outcome
 * timeout            no power-off before the host's timeout
 */
export const KJUMP_TROUBLE = {
  guestError: 'bootFailed',
  jumpBackHelperOom: 'bootFailed',
  kexecLoadFailed: 'bootFailed',
  noReturn: 'unexpectedReboot',
  restoreKernelNoBoot: 'bootFailed',
  saveKernelNoBoot: 'bootFailed',
  timeout: 'hang',
} as const satisfies Record<string, BootVerdictKind>;
export type KjumpTrouble = keyof typeof KJUMP_TROUBLE;

/** What the run was meant to do, for telling an expected end from trouble. */
export interface BootContext {
  readonly role: 'a' | 'c';
  readonly hib: PlanHibernate;
  /** the container header on disk after the run is committed or marked stale (an image was written) */
  readonly imageOnDisk: boolean;
}

/**
 * A WARNING every save kernel prints: kexec-tools gives B an elfcorehdr= with no PT_NOTE entries (A never filled
 * crash notes), and 6.12's vmcore init vmalloc()s the empty notes buffer (mm/vmalloc.c warns on size 0). B reads A's
 * memory through /dev/mem, not /proc/vmcore. Only that exact pair of lines is set aside; any other WARNING counts.
 */
const VMCORE_NOTE = /Warning: Zero PT_NOTE entries found/;
const VMCORE_WARN = /WARNING: CPU: \d+ PID: \d+ at mm\/vmalloc\.c:\d+ /;

export function withoutKnownWarnings(log: string): string {
  const lines = log.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!VMCORE_WARN.test(lines[i] ?? '')) continue;
    if (lines.slice(Math.max(0, i - 4), i).some((l) => VMCORE_NOTE.test(l))) lines[i] = '(known B vmcore warning)';
  }
  return lines.join('\n');
}

const CONTROL_BUFFER = /Could not allocate control_code_buffer/;
const OOM = /page allocation failure|oom-kill|Out of memory/;

function rcOf(e: { rc: number } | undefined): string {
  return e === undefined ? 'none' : String(e.rc);
}

/** The kjump classification of one run (undefined: it ended as planned). */
export function kjumpTrouble(
  evs: readonly TimedEvent[],
  log: string,
  timedOut: boolean,
  ctx: BootContext,
): { name: KjumpTrouble; detail: string } | undefined {
  const helper = findEvent(evs, 'b-helper-loaded');
  if (helper !== undefined && helper.rc !== 0) {
    const lines = log.split('\n');
    const line = lines.find((l) => CONTROL_BUFFER.test(l)) ?? lines.find((l) => OOM.test(l));
    if (line !== undefined) return { name: 'jumpBackHelperOom', detail: line.replace(/^\[[\s\d.]+\]\s*/, '').trim() };
    return { name: 'guestError', detail: `kexec --load-jump-back-helper failed in B (rc ${helper.rc})` };
  }
  const err = findEvent(evs, 'error');
  if (err !== undefined)
    return { name: 'guestError', detail: `${err.what}: ${err.msg ?? `errno ${err.errno ?? '?'}`}` };
  if (timedOut) return { name: 'timeout', detail: 'QEMU timed out' };
  return ctx.role === 'a' ? troubleOfA(evs, ctx) : troubleOfC(evs);
}

function troubleOfA(evs: readonly TimedEvent[], ctx: BootContext): { name: KjumpTrouble; detail: string } | undefined {
  const verified = hasEvent(evs, 'a-verify');
  const loaded = findEvent(evs, 'a-loaded');
  if (loaded !== undefined && loaded.rc !== 0) {
    return verified ? undefined : { name: 'kexecLoadFailed', detail: `kexec --load-preserve-context rc ${loaded.rc}` };
  }
  if (!hasEvent(evs, 'a-jump')) return { name: 'guestError', detail: 'A never jumped to the save kernel' };
  if (!hasEvent(evs, 'b-init')) return { name: 'saveKernelNoBoot', detail: 'save kernel B never reached /init' };
  const saved = findEvent(evs, 'b-save-rc');
  const powerLoss = hasEvent(evs, 'b-powerloss');
  const expectReturn = ctx.hib.mode === 'abort' || (saved !== undefined && saved.rc !== 0 && !powerLoss);
  if (expectReturn && !verified) {
    if (hasEvent(evs, 'jump') && !hasEvent(evs, 'a-back')) {
      return { name: 'noReturn', detail: 'A did not come back after the jump (reset or triple fault)' };
    }
    return { name: 'noReturn', detail: `A did not come back after B (b-save-rc ${rcOf(saved)})` };
  }
  if (saved?.rc === 0 && !ctx.imageOnDisk)
    return { name: 'guestError', detail: 'B finished without a committed image' };
  if (saved === undefined && !powerLoss) return { name: 'guestError', detail: 'B ended without a save result' };
  return undefined;
}

function troubleOfC(evs: readonly TimedEvent[]): { name: KjumpTrouble; detail: string } | undefined {
  if (!hasEvent(evs, 'c-init')) return { name: 'restoreKernelNoBoot', detail: 'restore kernel C never reached /init' };
  if (hasEvent(evs, 'c-noimage') || hasEvent(evs, 'c-refused') || hasEvent(evs, 'a-verify')) return undefined;
  if (hasEvent(evs, 'c-restored') && !hasEvent(evs, 'a-back')) {
    return { name: 'noReturn', detail: 'A did not come back after C jumped to it (reset or triple fault)' };
  }
  return { name: 'guestError', detail: 'C ended without an outcome (no noimage, refused or verify event)' };
}

/**
 * How one kjump boot ended, as a boot verdict. Throws InfraError when QEMU itself failed or was killed by a signal
 * hibfuzz did not send (the runner never kills QEMU: a timeout is its own exit kind).
 */
export function kjumpBootVerdict(
  evs: readonly TimedEvent[],
  log: string,
  exit: ExitInfo,
  ctx: BootContext,
): BootSummary {
  if (exit.kind === 'signal') throw new InfraError(`QEMU (kjump ${ctx.role}) was killed by ${exit.signal}`);
  // the generic classifier knows the swsusp agent's events, not these: its QEMU-failure rules hold when none printed
  const generic = classifyConsole(withoutKnownWarnings(log), exit).verdict;
  if (generic.kind === 'infraError' && evs.length === 0) {
    throw new InfraError(`QEMU (kjump ${ctx.role}): ${generic.title}`);
  }
  const trouble = kjumpTrouble(evs, log, exit.kind === 'timeout', ctx);
  if (generic.kind === 'kernelPanic') {
    return { kind: 'kernelPanic', title: trouble === undefined ? generic.title : `${trouble.name}: ${generic.title}` };
  }
  if (trouble !== undefined) return { kind: KJUMP_TROUBLE[trouble.name], title: `${trouble.name}: ${trouble.detail}` };
  if (!/reboot: Power down/.test(log)) {
    return { kind: 'unexpectedReboot', title: 'noReturn: QEMU exited without a power-off (reset or triple fault?)' };
  }
  return { kind: 'pass', title: 'powered off' };
}

/**
 * The storage target could not be set up in a run (guest/target.c or init.sh: no filesystem to mount, a file whose
 * extents do not cover the container, a malformed key): the test could not run as written, one line for InfraError.
 * A key C was not given is not this: C refuses the resume (c-refused keyUnavailable), as the model predicts.
 */
export function targetFailure(evs: readonly TimedEvent[], run: 'a' | 'c'): string | undefined {
  const f = findEvent(evs, 'target-failed');
  if (f === undefined) return undefined;
  return `kjump storage target (run ${run}): ${f.why ?? 'no reason given'}${f.errno ? ` (errno ${f.errno})` : ''}`;
}

/** A's own check of its memory (a-verify): tagged and zero pages; a tagged page found at another PFN changed. */
export function memoryOf(evs: readonly TimedEvent[]): MemoryCheck | undefined {
  const v = findEvent(evs, 'a-verify');
  if (v === undefined) return undefined;
  const checked = v.checked + v.zeroChecked;
  return {
    checked,
    corrupt: Math.min(checked, v.corrupt + v.zeroCorrupt + v.moved),
    corruptOutside: v.corruptOutside,
  };
}

/** Storage and image facts of the disk after run 1 (run.ts reads them with image.ts). */
export interface DiskFacts {
  readonly storage: StorageFacts;
  /** the image's counts when one was written (committed, or committed and then marked stale by A) */
  readonly stats: ImageStats | undefined;
}

/** The hibernate step's outcome: from A's and B's events, how the boot ended, and what is on disk. */
export function hibernateOutcome(
  hib: PlanHibernate,
  evs: readonly TimedEvent[],
  boot: BootSummary,
  disk: DiskFacts,
): StepOutcome {
  if (boot.kind !== 'pass') {
    const cause = boot.cause === undefined ? {} : { cause: boot.cause };
    return { op: 'hibernate', result: 'crashed', at: 'hibernating', boot: boot.kind, title: boot.title, ...cause };
  }
  const powerLoss = findEvent(evs, 'b-powerloss');
  const eio = findEvent(evs, 'b-eio');
  const scheduled = hib.eioAt !== undefined ? eio : hib.powerLossAt !== undefined ? powerLoss : undefined;
  const facts: HibernateFacts = {
    storage: disk.storage,
    ...(hib.eioAt !== undefined || hib.powerLossAt !== undefined
      ? { fault: scheduled !== undefined ? 'fired' : 'notFired' }
      : {}),
  };
  const memory = memoryOf(evs);
  const withMemory = { ...facts, ...(memory !== undefined ? { memory } : {}) };
  const loaded = findEvent(evs, 'a-loaded');
  if (loaded !== undefined && loaded.rc !== 0) {
    // kexec-tools found no room for B in its region: hibernation fails before anything stops
    return { op: 'hibernate', result: 'failed', errno: 'ENOMEM', phase: 'load', ...withMemory };
  }
  if (powerLoss !== undefined) return { op: 'hibernate', result: 'powerLost', writes: powerLoss.writes, ...facts };
  if (eio !== undefined || hasEvent(evs, 'b-nospace')) {
    const errno = eio !== undefined ? 'EIO' : 'ENOSPC';
    return { op: 'hibernate', result: 'failed', errno, phase: 'write', ...withMemory };
  }
  if (disk.stats === undefined) {
    return { op: 'hibernate', result: 'crashed', at: 'hibernating', boot: 'bootFailed', title: 'guestError: no image' };
  }
  if (hib.mode === 'abort') {
    return { op: 'hibernate', result: 'aborted', at: 'afterImageWritten', image: disk.stats, ...withMemory };
  }
  return { op: 'hibernate', result: 'poweredOff', image: disk.stats, ...facts };
}

/** The resume step's outcome: C's events (and A's, after C jumped back to it) and how the boot ended. */
export function resumeOutcome(evs: readonly TimedEvent[], boot: BootSummary): StepOutcome {
  if (boot.kind !== 'pass') {
    const at = hasEvent(evs, 'c-restored') || hasEvent(evs, 'a-back') ? 'afterResume' : 'load';
    return { op: 'resume', result: 'crashed', at, boot: boot.kind, title: boot.title };
  }
  if (hasEvent(evs, 'c-noimage')) return { op: 'resume', result: 'noImage' };
  const refused = findEvent(evs, 'c-refused');
  // errnos as the model's loader gives them: a bad checksum is ENODATA, a bad header EINVAL
  if (refused !== undefined) {
    const errno =
      refused.reason === 'crcMismatch' ? 'ENODATA' : refused.reason === 'keyUnavailable' ? 'ENOKEY' : 'EINVAL';
    return { op: 'resume', result: 'refused', reason: refused.reason, errno };
  }
  const memory = memoryOf(evs);
  const disk = findEvent(evs, 'disk');
  return {
    op: 'resume',
    result: 'resumed',
    pagesChecked: memory?.checked ?? 0,
    pagesCorrupt: memory?.corrupt ?? 0,
    ...(disk !== undefined ? { storageAfter: { signed: disk.committed === 1 } } : {}),
  };
}

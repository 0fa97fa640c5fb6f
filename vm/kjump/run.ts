// kjump runner: a kexec-protocol scenario on the real 6.12 kexec-jump path in QEMU (A -> save kernel B -> A, or
// B powers off and a cold-booted restore kernel C brings A back). Returns an Observation, phase timings, artifacts.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageStats, Observation, StepOutcome, Violation } from '../../spec/outcome.ts';
import type { Scenario } from '../../spec/scenario/schema.ts';
import { BootError, InfraError } from '../errors.ts';
import { cacheRoot } from '../kernels.ts';
import { ensureKjumpKernel, type KjumpKernel, kernelLabel } from './build.ts';
import { buildKjumpInitrds } from './guest-image.ts';
import {
  AREC_PAGES,
  type ARecord,
  type ContainerHeader,
  checkSavedOnce,
  decodeMetaPages,
  parseARecord,
  parseContainerHeader,
  sum64,
} from './image.ts';
import {
  aCmdline,
  type ConsoleLine,
  cCmdline,
  classifyFailure,
  findEvent,
  type GuestEvent,
  type HelperKind,
  type KjumpFailureKind,
  type KjumpPlan,
  num,
  parseEvents,
  phaseTimings,
  planScenario,
  type Timings,
} from './plan.ts';

const PG = 4096;

export interface KjumpRunOptions {
  /** extra kernel patches (e.g. JUMP_BACK_PATCH from build.ts) */
  readonly patches?: readonly string[];
  readonly kernelTree?: string;
  /** B's way back to A: own = hibkj jumpback (works unpatched), stock = kexec --load-jump-back-helper */
  readonly helper?: HelperKind;
  readonly cacheDir?: string;
  /** where console logs and the disk image go (default: a fresh directory under the OS temp dir) */
  readonly artifactsDir?: string;
  readonly timeoutMs?: number;
  /** add `-d int,cpu_reset -D <artifacts>/qemu-<role>.dlog` */
  readonly qemuDebug?: boolean;
  readonly onLine?: (role: string, line: ConsoleLine) => void;
  /** save all of A's RAM even when no resume step follows (abort-latency measurements with a full dump) */
  readonly fullImage?: boolean;
  /**
   * Fault: B's jump-back segment goes to this physical address instead of A's control page, so the entry is unmapped
   * in B's kexec page table and the jump faults (QEMU exits with no marker: outcome noReturn).
   */
  readonly jumpBackSegment?: number;
}

export interface KjumpArtifacts {
  readonly dir: string;
  readonly disk: string;
  readonly consoles: readonly string[];
}

export interface KjumpRun {
  readonly timings: Readonly<Record<string, Timings>>;
  readonly artifacts: KjumpArtifacts;
  readonly events: Readonly<Record<string, readonly GuestEvent[]>>;
}

export type KjumpRunResult =
  | (KjumpRun & { readonly ok: true; readonly observation: Observation })
  | (KjumpRun & {
      readonly ok: false;
      readonly kind: KjumpFailureKind | 'unsupported';
      readonly error: BootError | InfraError;
    });

interface QemuRun {
  readonly lines: ConsoleLine[];
  readonly log: string;
  readonly exitMs: number;
  readonly timedOut: boolean;
}

function runQemu(
  args: readonly string[],
  consoleFile: string,
  timeoutMs: number,
  onLine?: (l: ConsoleLine) => void,
): Promise<QemuRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const lines: ConsoleLine[] = [];
    let buf = '';
    let log = '';
    let timedOut = false;
    const p = spawn('qemu-system-x86_64', [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const take = (b: Buffer) => {
      const s = b.toString('latin1');
      log += s;
      buf += s;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const l = { t: performance.now() - t0, text: buf.slice(0, nl).replace(/\r$/, '') };
        lines.push(l);
        onLine?.(l);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
      }
    };
    p.stdout.on('data', take);
    p.stderr.on('data', take);
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, timeoutMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(new InfraError(`cannot start qemu-system-x86_64 (run vm/kjump/setup-build.sh): ${e.message}`));
    });
    p.on('close', () => {
      clearTimeout(timer);
      if (buf !== '') lines.push({ t: performance.now() - t0, text: buf });
      writeFileSync(consoleFile, log);
      resolve({ lines, log, exitMs: performance.now() - t0, timedOut });
    });
  });
}

function qemuArgs(
  plan: KjumpPlan,
  bzImage: string,
  initrd: string,
  cmdline: string,
  disk: string,
  dlog?: string,
): string[] {
  return [
    ...['-accel', 'tcg', '-m', `${plan.memMiB}M`, '-smp', String(plan.cpus), '-nographic', '-no-reboot'],
    ...['-kernel', bzImage, '-initrd', initrd, '-append', cmdline],
    ...['-drive', `file=${disk},if=virtio,format=raw`],
    ...(dlog !== undefined ? ['-d', 'int,cpu_reset', '-D', dlog] : []),
  ];
}

function readPages(fd: number, page: number, count: number): Buffer {
  const b = Buffer.alloc(count * PG);
  readSync(fd, b, 0, b.length, page * PG);
  return b;
}

interface DiskReport {
  readonly header: ContainerHeader;
  readonly arec: ARecord | undefined;
  readonly sumOk: boolean;
  readonly violations: Violation[];
}

/** Read the committed image and check EveryPageSavedOnce against A's record. */
function inspectDisk(disk: string, plan: KjumpPlan, hibernateIndex: number): DiskReport {
  const fd = openSync(disk, 'r');
  try {
    const header = parseContainerHeader(readPages(fd, 0, 1));
    const arecBuf = readPages(fd, plan.diskPages - AREC_PAGES, AREC_PAGES);
    const arec = parseARecord(arecBuf);
    const violations: Violation[] = [];
    if (!header.committed && !header.stale) return { header, arec, sumOk: false, violations };
    const meta = readPages(fd, header.streamOff + 1, header.metaPages);
    const entries = decodeMetaPages(meta, header.dataPages + header.zeroPages);
    const dataBase = header.streamOff + 1 + header.metaPages;
    let s = sum64(readPages(fd, header.streamOff, 1 + header.metaPages));
    for (let i = 0; i < header.dataPages; i += 1024) {
      s = sum64(readPages(fd, dataBase + i, Math.min(1024, header.dataPages - i)), s);
    }
    const sumOk = s === header.sum64;
    if (entries.length !== header.dataPages + header.zeroPages) {
      violations.push({
        invariant: 'EveryPageSavedOnce',
        step: hibernateIndex,
        message: 'PFN list length differs from data + zero pages',
        expected: String(header.dataPages + header.zeroPages),
        actual: String(entries.length),
      });
    }
    if (header.lostPages > 0) {
      violations.push({
        invariant: 'EveryPageSavedOnce',
        step: hibernateIndex,
        message: 'listed pages of A that B could not find',
        expected: '0',
        actual: String(header.lostPages),
      });
    }
    if (arec !== undefined) {
      const r = checkSavedOnce(entries, arec, (i) => readPages(fd, dataBase + i, 1));
      if (r.missing + r.duplicated + r.wrongData > 0 || r.firstUnordered !== undefined) {
        violations.push({
          invariant: 'EveryPageSavedOnce',
          step: hibernateIndex,
          message: `tagged pages: ${r.missing} missing, ${r.duplicated} duplicated, ${r.wrongData} with wrong data; first unordered PFN at ${String(r.firstUnordered)}`,
          expected: `${r.checked} pages once each, ascending`,
        });
      }
    }
    return { header, arec, sumOk, violations };
  } finally {
    closeSync(fd);
  }
}

/** Flip one bit of the image on disk (the corrupt step): header = stream header page, meta/map = a PFN page, data. */
function corruptDisk(disk: string, h: ContainerHeader, region: string, index: number, bit: number): boolean {
  let page: number;
  if (region === 'header') page = h.streamOff;
  else if (region === 'meta' || region === 'map') page = h.streamOff + 1 + (index % Math.max(1, h.metaPages));
  else page = h.streamOff + 1 + h.metaPages + (index % Math.max(1, h.dataPages));
  const fd = openSync(disk, 'r+');
  try {
    const b = readPages(fd, page, 1);
    const byte = Math.floor(bit / 8);
    b[byte] = (b[byte] ?? 0) ^ (1 << (bit % 8));
    writeSync(fd, b, 0, PG, page * PG);
  } finally {
    closeSync(fd);
  }
  return true;
}

const imageStats = (h: ContainerHeader): ImageStats => ({
  dataPages: h.dataPages,
  zeroPages: h.zeroPages,
  metaPages: h.metaPages,
  streamPages: h.streamPages,
  writes: h.streamPages + 1,
});

function verifyViolations(evs: readonly GuestEvent[], step: number, afterFailure: boolean): Violation[] {
  const v = findEvent(evs, 'a-verify');
  const out: Violation[] = [];
  if (v === undefined) return out;
  const corrupt = (num(v, 'corrupt') ?? 0) + (num(v, 'zeroCorrupt') ?? 0);
  const moved = num(v, 'moved') ?? 0;
  const outside = num(v, 'corruptOutside') ?? 0;
  if (corrupt + moved > 0) {
    out.push({
      invariant: afterFailure ? 'FailureLosesNothing' : 'ResumeRestoresIdenticalMemory',
      step,
      message: `tagged pages of A after the return: ${corrupt} corrupt, ${moved} at another PFN`,
      expected: '0',
      actual: String(corrupt + moved),
    });
  }
  if (outside > 0) {
    out.push({
      invariant: 'SaveKernelStaysInItsBox',
      step,
      message: `${outside} tagged pages outside B's region changed`,
      expected: '0',
      actual: String(outside),
    });
  }
  return out;
}

/** Run one kexec scenario on the real kernel. Never throws for kernel findings; InfraError for host problems. */
export async function runKjumpScenario(scenario: Scenario, opts: KjumpRunOptions = {}): Promise<KjumpRunResult> {
  const dir = opts.artifactsDir ?? mkdtempSync(join(tmpdir(), `hibfuzz-kjump-${scenario.id}-`));
  mkdirSync(dir, { recursive: true });
  const disk = join(dir, 'disk.img');
  const consoles: string[] = [];
  const timings: Record<string, Timings> = {};
  const events: Record<string, GuestEvent[]> = {};
  const artifacts: KjumpArtifacts = { dir, disk, consoles };
  const base = { timings, artifacts, events };
  const planned = planScenario(scenario);
  if (!planned.ok) return { ...base, ok: false, kind: 'unsupported', error: new InfraError(planned.error) };
  const plan = opts.fullImage ? { ...planned.plan, full: true } : planned.plan;
  const helper = opts.helper ?? 'own';
  const cacheDir = opts.cacheDir ?? cacheRoot();
  const kernel: KjumpKernel = await ensureKjumpKernel({
    cacheDir,
    ...(opts.patches !== undefined ? { patches: opts.patches } : {}),
    ...(opts.kernelTree !== undefined ? { kernelTree: opts.kernelTree } : {}),
  });
  const initrds = await buildKjumpInitrds(kernel.bzImage, cacheDir);
  const fd = openSync(disk, 'w');
  closeSync(fd);
  truncateSync(disk, plan.diskPages * PG);
  const timeout = opts.timeoutMs ?? 180_000;

  const outcomes: StepOutcome[] = [];
  const violations: Violation[] = [];
  const hib = plan.steps.find((s) => s.kind === 'hibernate');
  if (hib === undefined || hib.kind !== 'hibernate') throw new Error('unreachable: plan without hibernate');
  for (const s of plan.steps) if (s.kind === 'write') outcomes.push({ op: 'write', pages: s.pages });

  // Run 1: A fills, jumps to B; B saves and jumps back (abort) or powers off.
  const consoleA = join(dir, 'console-a.log');
  consoles.push(consoleA);
  const cmdA = aCmdline(plan, helper, hib.mode, {
    ...(hib.eioAt !== undefined ? { eioAt: hib.eioAt } : {}),
    ...(hib.powerLossAt !== undefined ? { powerLossAt: hib.powerLossAt } : {}),
    ...(opts.jumpBackSegment !== undefined ? { jumpBackSegment: opts.jumpBackSegment } : {}),
  });
  const dlogA = opts.qemuDebug ? join(dir, 'qemu-a.dlog') : undefined;
  const r1 = await runQemu(qemuArgs(plan, kernel.bzImage, initrds.a, cmdA, disk, dlogA), consoleA, timeout, (l) =>
    opts.onLine?.('a', l),
  );
  const ev1 = parseEvents(r1.lines);
  events.a = ev1;
  timings.a = phaseTimings(r1.lines, ev1, r1.exitMs);
  const fail1 = classifyFailure(ev1, r1.log, r1.timedOut, 'a');
  const saveRc = num(findEvent(ev1, 'b-save-rc'), 'rc');
  const expectReturn =
    hib.mode === 'abort' || (saveRc !== undefined && saveRc !== 0 && findEvent(ev1, 'b-powerloss') === undefined);
  if (fail1 !== undefined && (expectReturn || fail1.kind !== 'noReturn')) {
    return {
      ...base,
      ok: false,
      kind: fail1.kind,
      error: new BootError(`${fail1.message} [${kernelLabel(kernel)}]`, r1.log),
    };
  }
  const loaded = findEvent(ev1, 'a-loaded');
  if (loaded !== undefined && num(loaded, 'rc') !== 0) {
    // kexec-tools refused the load (no room for B in its region): hibernation fails before anything stops.
    outcomes.push({ op: 'hibernate', result: 'failed', errno: 'ENOMEM', phase: 'load' });
    violations.push(...verifyViolations(ev1, hib.index, true));
    const observation: Observation = { target: 'vm', kernel: kernelLabel(kernel), steps: outcomes, violations };
    return { ...base, ok: true, observation };
  }
  if (findEvent(ev1, 'b-init') === undefined) {
    return {
      ...base,
      ok: false,
      kind: 'saveKernelNoBoot',
      error: new BootError('save kernel B never reached /init', r1.log),
    };
  }
  const d = inspectDisk(disk, plan, hib.index);
  const powerLoss = findEvent(ev1, 'b-powerloss');
  const eio = findEvent(ev1, 'b-eio');
  const nospace = findEvent(ev1, 'b-nospace');
  if (powerLoss !== undefined) {
    outcomes.push({ op: 'hibernate', result: 'powerLost', writes: num(powerLoss, 'writes') ?? 0 });
  } else if (eio !== undefined || nospace !== undefined) {
    outcomes.push({ op: 'hibernate', result: 'failed', errno: eio !== undefined ? 'EIO' : 'ENOSPC', phase: 'write' });
    violations.push(...verifyViolations(ev1, hib.index, true));
    if (findEvent(ev1, 'a-verify') === undefined) {
      violations.push({
        invariant: 'FailureLosesNothing',
        step: hib.index,
        message: 'A did not come back after B failed',
      });
    }
  } else {
    violations.push(...d.violations);
    if (!d.header.committed && !d.header.stale) {
      return {
        ...base,
        ok: false,
        kind: 'guestError',
        error: new BootError('B finished without a committed image', r1.log),
      };
    }
    if (hib.mode === 'abort') {
      outcomes.push({ op: 'hibernate', result: 'aborted', at: 'afterImageWritten', image: imageStats(d.header) });
      violations.push(...verifyViolations(ev1, hib.index, false));
    } else {
      outcomes.push({ op: 'hibernate', result: 'poweredOff', image: imageStats(d.header) });
    }
  }

  let corrupted = false;
  for (const s of plan.steps) {
    if (s.kind === 'corrupt') {
      const applied = (d.header.committed || d.header.stale) && corruptDisk(disk, d.header, s.region, s.page, s.bit);
      corrupted ||= applied;
      outcomes.push({ op: 'corrupt', applied });
    } else if (s.kind === 'resume') {
      // Run 2: cold boot of the restore kernel C, confined to B's region.
      const consoleC = join(dir, 'console-c.log');
      consoles.push(consoleC);
      // Without a committed image C boots on the whole RAM (there is no region to respect) and finds nothing.
      const cmdC = cCmdline(d.header.committed ? d.header.cmdline : '');
      const dlogC = opts.qemuDebug ? join(dir, 'qemu-c.dlog') : undefined;
      const r2 = await runQemu(qemuArgs(plan, kernel.bzImage, initrds.b, cmdC, disk, dlogC), consoleC, timeout, (l) =>
        opts.onLine?.('c', l),
      );
      const ev2 = parseEvents(r2.lines);
      events.c = ev2;
      timings.c = phaseTimings(r2.lines, ev2, r2.exitMs);
      if (findEvent(ev2, 'c-noimage') !== undefined) outcomes.push({ op: 'resume', result: 'noImage' });
      else if (findEvent(ev2, 'c-refused') !== undefined) {
        const why = findEvent(ev2, 'c-refused')?.data.reason === 'badHeader' ? 'badHeader' : 'crcMismatch';
        // errnos as the model's loader gives them: a bad checksum is ENODATA, a bad header EINVAL
        outcomes.push({
          op: 'resume',
          result: 'refused',
          reason: why,
          errno: why === 'crcMismatch' ? 'ENODATA' : 'EINVAL',
        });
      } else {
        const fail2 = classifyFailure(ev2, r2.log, r2.timedOut, 'c');
        if (fail2 !== undefined) {
          return {
            ...base,
            ok: false,
            kind: fail2.kind,
            error: new BootError(`cold resume: ${fail2.message}`, r2.log),
          };
        }
        const v = findEvent(ev2, 'a-verify');
        outcomes.push({
          op: 'resume',
          result: 'resumed',
          pagesChecked: num(v, 'checked') ?? 0,
          pagesCorrupt: num(v, 'corrupt') ?? 0,
        });
        violations.push(...verifyViolations(ev2, s.index, false));
        if (hib.mode === 'abort' || d.header.stale) {
          violations.push({
            invariant: 'StaleImageNeverResumed',
            step: s.index,
            message: 'the image of an aborted hibernation (A ran on after it) was resumed',
          });
        }
        if (corrupted) {
          violations.push({
            invariant: 'CorruptImageNeverResumed',
            step: s.index,
            message: 'a corrupted image was resumed',
          });
        }
        const disk2 = findEvent(ev2, 'disk');
        if (disk2 !== undefined && disk2.data.committed === 1) {
          violations.push({
            invariant: 'ImageResumedAtMostOnce',
            step: s.index,
            message: 'the image is still committed after resume',
          });
        }
      }
    }
  }
  const observation: Observation = { target: 'vm', kernel: kernelLabel(kernel), steps: outcomes, violations };
  writeFileSync(join(dir, 'observation.json'), `${JSON.stringify({ observation, timings }, null, 2)}\n`);
  return { ...base, ok: true, observation };
}

// Real-kernel runner: one scenario through QEMU boots (hibernate, host-side faults, resume) -> an Observation.
//
// Phases of one cycle: boot (first) -> fill -> snapshot+write -> poweroff -> [corrupt | bootNoresume]* -> boot
// (resume) -> load -> verify. The agent (guest/agent.c) runs every write and hibernate step of the scenario in order
// inside the original system; a successful resume continues its program in the resume boot.
import { execFile } from 'node:child_process';
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Errno, ImageStats, Observation, StepOutcome, Violation } from '../spec/outcome.ts';
import type { HibernateStep, Scenario } from '../spec/scenario/schema.ts';
import type { AgentEvent, BootReport, Verdict } from './console/classify.ts';
import { AGENT_PREFIX, classifyConsole, isErrno } from './console/classify.ts';
import { InfraError } from './errors.ts';
import type { SnapshotPaths } from './fast.ts';
import {
  copySparse,
  dropSnapshot,
  saveSnapshot,
  snapshotExists,
  snapshotKey,
  snapshotPaths,
  waitRunning,
} from './fast.ts';
import { corruptImagePage } from './image/corrupt.ts';
import { lz4DecompressSafe } from './image/lz4.ts';
import { lzo1xDecompressSafe } from './image/lzo.ts';
import { buildInitramfs } from './initramfs.ts';
import type { Kernel } from './kernels.ts';
import { cacheRoot, resolveKernel } from './kernels.ts';
import type { BootRole } from './plan.ts';
import { agentWords, debianLineOf, kernelCmdline, memMiB, vmSupports } from './plan.ts';
import { chooseAccel } from './qemu/accel.ts';
import type { Accel, QemuConfig } from './qemu/args.ts';
import { DEFAULT_QEMU } from './qemu/args.ts';
import type { ConsoleLine } from './qemu/launch.ts';
import { launchQemu } from './qemu/launch.ts';
import { startNbdServer } from './qemu/nbd.ts';
import { Qmp } from './qemu/qmp.ts';

export interface VmRunOptions {
  /** `debian-6.1`, `debian-6.12` or a kernel path (kernels.ts) */
  readonly kernel: string;
  /** per-run directory: disk image, console logs, qemu args */
  readonly workDir: string;
  /** per boot; default 180 s */
  readonly timeoutMs?: number;
  readonly log?: (line: string) => void;
  /** default: HIBFUZZ_ACCEL (tcg | kvm | auto: probe KVM, fall back to TCG), tcg when unset */
  readonly accel?: Accel;
  /** copy the disk after each image was written (artifacts.images); default false */
  readonly keepImages?: boolean;
  /** reuse booted guests through QEMU migration files (fast.ts); default: HIBFUZZ_VM_FAST=1 */
  readonly fast?: boolean;
}

export interface BootArtifact {
  readonly role: BootRole;
  readonly consoleLog: string;
  readonly args: readonly string[];
  readonly verdict: Verdict;
  readonly seconds: number;
}

export interface VmRunResult {
  readonly observation: Observation;
  /** seconds per phase of the first cycle (boot, fill, snapshotWrite, poweroff, resumeBoot, load, verify) */
  readonly timings: Readonly<Record<string, number>>;
  /** worst boot verdict (pass when every boot ended as planned) */
  readonly verdict: Verdict;
  /** steps after the original system was lost (refused resume, panic) are not run */
  readonly stepsRun: number;
  readonly artifacts: {
    readonly disk: string;
    readonly boots: readonly BootArtifact[];
    /** copy of the disk after each image was written, before any host step touched it */
    readonly images: readonly string[];
  };
}

const SEVERITY: readonly Verdict['kind'][] = [
  'pass',
  'unexpectedReboot',
  'bootFailed',
  'hang',
  'invariantViolated',
  'kernelPanic',
  'infraError',
];

let qemuVersionCache: Promise<string> | undefined;
/** `qemu-system-x86_64 --version` first line (part of snapshot keys). */
function qemuVersion(): Promise<string> {
  qemuVersionCache ??= new Promise((resolve) => {
    execFile(DEFAULT_QEMU, ['--version'], (err, stdout) => resolve(err ? 'unknown' : (stdout.split('\n')[0] ?? '')));
  });
  return qemuVersionCache;
}

interface BootRun {
  readonly report: BootReport;
  readonly lines: readonly ConsoleLine[];
  readonly durationMs: number;
  /** host killed QEMU to simulate power loss after this many image pages were written */
  readonly powerLostAfterPages: number | undefined;
}

/** Run one scenario on a real kernel. Infra problems throw InfraError; kernel findings are in the result. */
export async function runScenarioInVm(scenario: Scenario, opts: VmRunOptions): Promise<VmRunResult> {
  const support = vmSupports(scenario);
  if (!support.ok) throw new InfraError(`scenario ${scenario.id}: not runnable in a VM: ${support.reason}`);
  const log = opts.log ?? (() => {});
  const timeoutMs = opts.timeoutMs ?? 180_000;
  mkdirSync(opts.workDir, { recursive: true });
  const kernel = await resolveKernel(opts.kernel, { log });
  const kernels = new Map<string, { kernel: Kernel; initrd: string }>();
  const prepared = async (spec: string) => {
    let k = kernels.get(spec);
    if (k === undefined) {
      const kk = spec === opts.kernel ? kernel : await resolveKernel(spec, { log });
      k = { kernel: kk, initrd: await buildInitramfs(kk) };
      kernels.set(spec, k);
    }
    return k;
  };

  const disk = join(opts.workDir, 'disk.img');
  const fd = openSync(disk, 'w');
  ftruncateSync(fd, scenario.storage.pages * 4096);
  closeSync(fd);

  const first = await prepared(opts.kernel);
  const accel = opts.accel ?? (await chooseAccel({ kernel: first.kernel.bzImage, initrd: first.initrd, disk }));
  const boots: BootArtifact[] = [];
  const images: string[] = [];
  const steps: StepOutcome[] = [];
  const violations: Violation[] = [];
  const timings: Record<string, number> = {};
  let worst: Verdict = { kind: 'pass', title: 'every boot ended as planned' };
  const note = (v: Verdict) => {
    if (SEVERITY.indexOf(v.kind) > SEVERITY.indexOf(worst.kind)) worst = v;
  };

  const fast = opts.fast ?? process.env.HIBFUZZ_VM_FAST === '1';

  const boot = async (
    role: BootRole,
    bootOpts: { memPages?: number; kernelSpec?: string; wpages?: number; hib?: HibernateStep },
  ): Promise<BootRun> => {
    const k = await prepared(bootOpts.kernelSpec ?? opts.kernel);
    const n = boots.length + 1;
    const logPath = join(opts.workDir, `boot-${n}-${role}.log`);
    // write faults: the disk is served by our NBD server, which counts image page writes exactly (qemu/nbd.ts)
    const hib = bootOpts.hib;
    const faulty =
      hib?.ioErrorAtWrite !== undefined ||
      hib?.powerLossAfterWrite !== undefined ||
      hib?.ioErrorAfterSignature === true;
    let killQemu: () => void = () => {};
    const nbd = faulty
      ? await startNbdServer({
          socketPath: join(opts.workDir, `boot-${n}.nbd`),
          diskPath: disk,
          faults: {
            ...(hib?.ioErrorAtWrite === undefined ? {} : { ioErrorAtWrite: hib.ioErrorAtWrite }),
            ...(hib?.powerLossAfterWrite === undefined ? {} : { powerLossAfterWrite: hib.powerLossAfterWrite }),
            ...(hib?.ioErrorAfterSignature === true ? { ioErrorAfterPage: scenario.storage.offset } : {}),
          },
          onPowerLoss: () => killQemu(),
        })
      : undefined;
    const qmpSocket = join(opts.workDir, `boot-${n}.qmp`);
    const mem = memMiB(bootOpts.memPages ?? scenario.machine.memPages);
    // fast: the first and resume boots stop at a snapshot point (fast.ts); restore it when it exists
    const waitable = fast && role !== 'noresume';
    const append = kernelCmdline(scenario, role, {
      ...(bootOpts.wpages === undefined ? {} : { noresumeWritePages: bootOpts.wpages }),
      wait: waitable,
    });
    let snap: SnapshotPaths | undefined;
    let restoring = false;
    if (waitable) {
      const key = snapshotKey({
        role: role === 'first' ? 'first' : 'resume',
        bzImage: k.kernel.bzImage,
        initrd: k.initrd,
        memMiB: mem,
        cpus: scenario.machine.cpus,
        diskPages: scenario.storage.pages,
        append,
        qemuVersion: `${await qemuVersion()} ${accel}`,
      });
      snap = snapshotPaths(cacheRoot(), key);
      restoring = snapshotExists(snap);
      if (restoring && role === 'first') await copySparse(snap.disk, disk);
    }
    const config: QemuConfig = {
      accel,
      memMiB: mem,
      cpus: scenario.machine.cpus,
      kernel: k.kernel.bzImage,
      initrd: k.initrd,
      append,
      disk: nbd === undefined ? { path: disk } : { path: disk, nbdSocket: nbd.socketPath },
      qmpSocket,
      ...(restoring && snap !== undefined ? { incoming: `exec:cat ${snap.state}` } : {}),
    };
    let onWaiting: () => void = () => {};
    const waiting = new Promise<void>((resolve) => {
      onWaiting = resolve;
    });
    const running = launchQemu(config, {
      logPath,
      timeoutMs,
      onLine: (l) => {
        if (l.text.includes('"ev":"hibernating"')) nbd?.arm();
        if (l.text.includes('"ev":"waiting"')) onWaiting();
        log(`[${role} ${(l.t / 1000).toFixed(2)}] ${l.text}`);
      },
    });
    killQemu = () => running.kill();
    let exited = false;
    void running.done.then(
      () => {
        exited = true;
        onWaiting();
      },
      () => {
        exited = true;
        onWaiting();
      },
    );
    const qmpP = waitable ? Qmp.connect(qmpSocket) : undefined;
    let control: Promise<void> = Promise.resolve();
    if (waitable && qmpP !== undefined && snap !== undefined) {
      const sp = snap;
      const line = role === 'first' ? `${agentWords(scenario).join(' ')}\n` : '\n';
      control = (async () => {
        const qmp = await qmpP;
        if (restoring) {
          await waitRunning(qmp);
        } else {
          await waiting;
          if (exited) return;
          try {
            await saveSnapshot(qmp, sp, role === 'first' ? () => copySparse(disk, sp.disk) : undefined);
            log(`saved snapshot ${sp.dir}`);
          } catch (e) {
            log(`snapshot failed, continuing without it: ${e instanceof Error ? e.message : String(e)}`);
            dropSnapshot(sp);
            await qmp.execute('cont').catch(() => {});
          }
        }
        running.send(line);
      })().catch((e: unknown) => {
        log(`fast path: ${e instanceof Error ? e.message : String(e)}`);
        running.kill();
      });
    }
    const r = await running.done;
    await control;
    await nbd?.close();
    const powerLostAfterPages = nbd?.powerLost() === true ? nbd.writesStored() : undefined;
    if (qmpP !== undefined) void qmpP.then((q) => q.close()).catch(() => {});
    rmSync(qmpSocket, { force: true });
    writeFileSync(join(opts.workDir, `boot-${n}.args.json`), `${JSON.stringify(r.args)}\n`);
    const exit = powerLostAfterPages !== undefined ? ({ kind: 'exited', code: 0 } as const) : r.exit;
    // a restored boot starts after init's first words: say so for the classifier
    const consoleText = restoring ? `${AGENT_PREFIX}{"ev":"restored","role":"${role}"}\n${r.log}` : r.log;
    if (restoring) writeFileSync(logPath, consoleText);
    let report = classifyConsole(consoleText, exit);
    if (powerLostAfterPages !== undefined && report.verdict.kind === 'unexpectedReboot') {
      report = { ...report, verdict: { kind: 'pass', title: `power cut after ${powerLostAfterPages} pages` } };
    }
    boots.push({ role, consoleLog: logPath, args: r.args, verdict: report.verdict, seconds: r.durationMs / 1000 });
    note(report.verdict);
    if (report.verdict.kind === 'infraError') throw new InfraError(`boot ${n} (${role}): ${report.verdict.title}`);
    return { report, lines: r.lines, durationMs: r.durationMs, powerLostAfterPages };
  };

  // ---- walk the steps, consuming agent events boot by boot --------------------------------------------------------
  let events: AgentEvent[] = [];
  let cursor = 0;
  let lines: readonly ConsoleLine[] = [];
  let cycle = 0;
  /** the original system is alive in the current boot's events (its program continues there) */
  let alive = false;
  /** an image was written and the original system is suspended on disk */
  let suspended = false;
  // a boot that mounted filesystems read-write happened while an image was pending (bug class 1)
  let noresumeSinceImage = false;
  let lost = false;
  let corrupted = false;
  /** the real system left the scenario's path (stale resume): stop */
  let diverged = false;
  let stepsRun = 0;

  const take = (ev: string): AgentEvent | undefined => {
    while (cursor < events.length) {
      const e = events[cursor++];
      if (e?.ev === ev) return e;
      if (e?.ev === 'done') {
        cursor--;
        return undefined;
      }
    }
    return undefined;
  };
  const peekNext = (evs: readonly string[]): AgentEvent | undefined => {
    for (let i = cursor; i < events.length; i++) {
      const e = events[i];
      if (e !== undefined && evs.includes(e.ev)) return e;
    }
    return undefined;
  };
  const lineTime = (pred: (t: string) => boolean): number | undefined => lines.find((l) => pred(l.text))?.t;
  const nextHibernate = (from: number): HibernateStep | undefined => {
    for (let j = from; j < scenario.steps.length; j++) {
      const st = scenario.steps[j];
      if (st?.op === 'hibernate') return st;
      if (st?.op === 'resume' || st?.op === 'bootNoresume') return undefined;
    }
    return undefined;
  };

  const startBoot = async (role: 'first' | 'resume', i: number, memPages?: number, kernelSpec?: string) => {
    const hib = nextHibernate(i);
    const b = await boot(role, {
      ...(memPages === undefined ? {} : { memPages }),
      ...(kernelSpec === undefined ? {} : { kernelSpec }),
      ...(hib === undefined ? {} : { hib }),
    });
    events = [...b.report.events];
    cursor = 0;
    lines = b.lines;
    return b;
  };

  let current: BootRun | undefined;
  const stepsFirstBoot = scenario.steps[0]?.op;
  if (stepsFirstBoot === 'write' || stepsFirstBoot === 'hibernate') {
    current = await startBoot('first', 0);
    alive = true;
    const tInit = lineTime((t) => t.includes('"ev":"agentStart"'));
    const filled = take('filled');
    cursor = 0;
    if (tInit !== undefined) timings.boot = tInit / 1000;
    if (filled !== undefined && typeof filled.ms === 'number') timings.fill = filled.ms / 1000;
  }

  // Boot the original system for a write/hibernate step; false when it is off for good (its image is on disk or
  // gone): a later write/hibernate cannot run in it, so the scenario stops there.
  const ensureRunning = async (i: number): Promise<boolean> => {
    if (alive) return true;
    if (boots.length > 0) {
      stepsRun = i;
      diverged = true;
      return false;
    }
    current = await startBoot('first', i);
    alive = true;
    return true;
  };
  for (const [i, st] of scenario.steps.entries()) {
    if (lost && (st.op === 'write' || st.op === 'hibernate')) break;
    stepsRun = i + 1;
    switch (st.op) {
      case 'write': {
        if (!(await ensureRunning(i))) break;
        const e = take('write');
        steps.push({ op: 'write', pages: e !== undefined && typeof e.pages === 'number' ? e.pages : 0 });
        break;
      }
      case 'hibernate': {
        if (!(await ensureRunning(i))) break;
        const tStart = lineTime((t) => t.includes('"ev":"hibernating"'));
        const h = take('hibernating');
        if (h === undefined) {
          lost = true;
          steps.push({ op: 'hibernate', result: 'failed', errno: 'EINVAL', phase: 'agent' });
          break;
        }
        const ret = peekNext(['hibernateReturned', 'done']);
        const cut = current?.powerLostAfterPages;
        if (ret?.ev === 'hibernateReturned' && cut === undefined) {
          // returned in the same boot: error, abort (pm_test / test_resume)
          take('hibernateReturned');
          const v = take('verify');
          const corrupt = v !== undefined && typeof v.pagesCorrupt === 'number' ? v.pagesCorrupt : 0;
          if (ret.ok === false) {
            const errno: Errno = isErrno(ret.errno) ? ret.errno : 'EINVAL';
            steps.push({
              op: 'hibernate',
              result: 'failed',
              errno,
              phase: typeof ret.phase === 'string' ? ret.phase : 'write',
            });
            if (corrupt > 0)
              violations.push({
                invariant: 'FailureLosesNothing',
                step: i,
                message: `${corrupt} pages changed after a failed hibernation`,
              });
          } else {
            steps.push({ op: 'hibernate', result: 'aborted', at: st.abortAt ?? 'unknown' });
            if (corrupt > 0) {
              const inv = st.abortAt === 'testResume' ? 'ResumeRestoresIdenticalMemory' : 'AbortCopiesNothing';
              violations.push({
                invariant: inv,
                step: i,
                message: `${corrupt} pages corrupt after ${st.abortAt ?? 'abort'}`,
              });
            }
          }
          break;
        }
        // the system went down: image written (or power cut)
        alive = false;
        const tOff = lineTime((t) => t.includes('reboot: Power down'));
        if (cycle === 0 && tStart !== undefined && current !== undefined) {
          timings.snapshotWrite = ((tOff ?? current.durationMs) - tStart) / 1000;
          timings.poweroff = tOff !== undefined ? (current.durationMs - tOff) / 1000 : 0;
        }
        if (opts.keepImages === true) {
          const copy = join(opts.workDir, `image-${images.length + 1}.img`);
          await copySparse(disk, copy);
          images.push(copy);
        }
        if (cut !== undefined) {
          steps.push({ op: 'hibernate', result: 'powerLost', writes: Math.floor(cut) });
          suspended = true;
          break;
        }
        const stats = imageStats(disk, scenario.storage.pages);
        if (stats === undefined || current?.report.poweredOff !== true) {
          steps.push({ op: 'hibernate', result: 'failed', errno: 'EIO', phase: 'write' });
          lost = true;
          break;
        }
        steps.push({ op: 'hibernate', result: 'poweredOff', image: stats });
        suspended = true;
        break;
      }
      case 'corrupt': {
        const dev = new Uint8Array(readFileSync(disk));
        const r = corruptImagePage(
          dev,
          { region: st.region, index: st.index, bit: st.bit },
          { devicePages: scenario.storage.pages },
        );
        if (r.ok) {
          const hit = r.hit;
          const off = hit.devicePage * 4096 + hit.byteOffset;
          const fdw = openSync(disk, 'r+');
          const b = Buffer.from([r.bytes[off] ?? 0]);
          writeSync(fdw, b, 0, 1, off);
          closeSync(fdw);
          corrupted = true;
          log(
            `corrupt: ${st.region}[${hit.index}] device page ${hit.devicePage} byte ${hit.byteOffset} mask ${hit.mask}`,
          );
        }
        steps.push({ op: 'corrupt', applied: r.ok });
        break;
      }
      case 'bootNoresume': {
        await boot('noresume', { wpages: st.writeStoragePages });
        if (suspended) noresumeSinceImage = true;
        steps.push({ op: 'bootNoresume' });
        break;
      }
      case 'resume': {
        const kernelSpec = st.kernel === undefined ? undefined : debianLineOf(st.kernel);
        const b = await startBoot('resume', i + 1, st.memPages, kernelSpec);
        current = b;
        const tResuming = lineTime((t) => t.includes('"ev":"resuming"'));
        const ret = take('hibernateReturned');
        if (ret !== undefined && !suspended) {
          // an image came back although no hibernation was pending (e.g. a failed test_resume left it signed):
          // the system jumped back to an older state; what it does next no longer follows the scenario
          const v = take('verify');
          const checked = v !== undefined && typeof v.pagesChecked === 'number' ? v.pagesChecked : 0;
          const corrupt = v !== undefined && typeof v.pagesCorrupt === 'number' ? v.pagesCorrupt : 0;
          steps.push({ op: 'resume', result: 'resumed', pagesChecked: checked, pagesCorrupt: corrupt });
          violations.push({
            invariant: 'StaleImageNeverResumed',
            step: i,
            message: 'the kernel resumed an image although no hibernation was pending (stale image)',
            expected: 'noImage',
            actual: 'resumed',
          });
          diverged = true;
        } else if (ret !== undefined) {
          alive = true;
          suspended = false;
          const v = take('verify');
          const checked = v !== undefined && typeof v.pagesChecked === 'number' ? v.pagesChecked : 0;
          const corrupt = v !== undefined && typeof v.pagesCorrupt === 'number' ? v.pagesCorrupt : 0;
          steps.push({ op: 'resume', result: 'resumed', pagesChecked: checked, pagesCorrupt: corrupt });
          if (noresumeSinceImage) {
            violations.push({
              invariant: 'StaleImageNeverResumed',
              step: i,
              message: 'the kernel resumed an image older than a read-write (noresume) boot',
              expected: 'refused or noImage',
              actual: 'resumed',
            });
          }
          noresumeSinceImage = false;
          if (corrupt > 0) {
            violations.push({
              invariant: corrupted ? 'CorruptImageNeverResumed' : 'ResumeRestoresIdenticalMemory',
              step: i,
              message: `${corrupt} of ${checked} pages differ after resume`,
              expected: '0 corrupt pages',
              actual: `${corrupt} (first bad page ${String(v?.firstBad)})`,
            });
          }
          if (cycle === 0) {
            const tRet = lineTime((t) => t.includes('"ev":"hibernateReturned"'));
            if (tResuming !== undefined) timings.resumeBoot = tResuming / 1000;
            if (tResuming !== undefined && tRet !== undefined) timings.load = (tRet - tResuming) / 1000;
            if (v !== undefined && typeof v.ms === 'number') timings.verify = v.ms / 1000;
          }
          cycle++;
        } else {
          if (suspended) lost = true;
          suspended = false;
          const rf = b.report.refusal;
          noresumeSinceImage = false;
          if (rf !== undefined) steps.push({ op: 'resume', result: 'refused', reason: rf.reason, errno: rf.errno });
          else if (b.report.imageFound && b.report.resumeErrno === 'ENOMEM') {
            // "PM: Error -12 resuming": the boot kernel ran out of memory for the image
            steps.push({ op: 'resume', result: 'refused', reason: 'outOfMemory', errno: 'ENOMEM' });
          } else if (b.report.imageFound) {
            // e.g. "PM: Error -12 resuming" (ENOMEM in the boot kernel): no RefusalReason names it, so the step is
            // left out rather than mislabelled
            note({
              kind: 'bootFailed',
              title: `resume failed with ${b.report.resumeErrno ?? 'an unknown error'}: no RefusalReason for it`,
            });
            stepsRun = i;
            break;
          } else steps.push({ op: 'resume', result: 'noImage' });
        }
        break;
      }
    }
    if (diverged || boots.some((bt) => bt.verdict.kind === 'kernelPanic' || bt.verdict.kind === 'hang')) break;
  }

  const firstViolation = violations[0];
  if (firstViolation !== undefined)
    note({ kind: 'invariantViolated', title: `${firstViolation.invariant}: ${firstViolation.message}` });
  return {
    observation: { target: 'vm', kernel: kernel.version, steps, violations },
    timings,
    verdict: worst,
    stepsRun,
    artifacts: { disk, boots, images },
  };
}

const PAGE = 4096;
const SF_NOCOMPRESS_MODE = 2;
const SF_COMPRESSION_ALG_LZ4 = 16;
const ZERO_FLAG = 1n << 63n;
const BM_END_OF_MAP = 0xffffffffffffffffn;

/**
 * ImageStats of the signed image on the disk, or undefined when there is none. Reads only what the counts need
 * (swsusp_header, the swap-map chain, swsusp_info and the metadata chunks), so it costs milliseconds where a full
 * parse (vm/image) decompresses every chunk; `writes` = stored stream pages + map pages + the header page.
 */
export function imageStats(disk: string, devicePages: number): ImageStats | undefined {
  const fd = openSync(disk, 'r');
  try {
    const page = (i: number): Buffer | undefined => {
      if (!Number.isSafeInteger(i) || i < 0 || i >= devicePages) return undefined;
      const b = Buffer.alloc(PAGE);
      return readSync(fd, b, 0, PAGE, i * PAGE) === PAGE ? b : undefined;
    };
    const head = page(0);
    if (head === undefined || head.toString('latin1', 4086, 4096) !== 'S1SUSPEND\0') return undefined;
    const flags = head.readUInt32LE(4072);
    const entries: number[] = [];
    const seen = new Set<number>();
    let mapPages = 0;
    for (let m = Number(head.readBigUInt64LE(4064)); m !== 0; ) {
      const mp = seen.has(m) ? undefined : page(m);
      if (mp === undefined) return undefined;
      seen.add(m);
      mapPages++;
      for (let j = 0; j < 511; j++) {
        const e = Number(mp.readBigUInt64LE(j * 8));
        if (e !== 0) entries.push(e);
      }
      m = Number(mp.readBigUInt64LE(4088));
    }
    const info = page(entries[0] ?? -1);
    if (info === undefined) return undefined;
    const imagePages = Number(info.readBigUInt64LE(416));
    const pages = Number(info.readBigUInt64LE(424));
    const nrMeta = pages - imagePages - 1;
    if (nrMeta < 0) return undefined;
    // metadata pages: raw after swsusp_info (nocompress), else the first compressed chunks
    const meta: Buffer[] = [];
    let k = 1;
    while (meta.length < nrMeta && k < entries.length) {
      const first = page(entries[k] ?? -1);
      if (first === undefined) return undefined;
      if ((flags & SF_NOCOMPRESS_MODE) !== 0) {
        meta.push(first);
        k++;
        continue;
      }
      const cmpLen = Number(first.readBigUInt64LE(0));
      const n = Math.ceil((8 + cmpLen) / PAGE);
      const parts: Buffer[] = [first];
      for (let j = 1; j < n; j++) {
        const p = page(entries[k + j] ?? -1);
        if (p === undefined) return undefined;
        parts.push(p);
      }
      k += n;
      const input = new Uint8Array(Buffer.concat(parts).subarray(8, 8 + cmpLen));
      const r =
        (flags & SF_COMPRESSION_ALG_LZ4) !== 0
          ? lz4DecompressSafe(input, 32 * PAGE)
          : lzo1xDecompressSafe(input, 32 * PAGE);
      if (!r.ok) return undefined;
      const out = Buffer.from(r.out);
      for (let o = 0; o + PAGE <= out.length && meta.length < nrMeta; o += PAGE) meta.push(out.subarray(o, o + PAGE));
    }
    let zero = 0;
    scan: for (const mp of meta) {
      for (let j = 0; j < 512; j++) {
        const v = mp.readBigUInt64LE(j * 8);
        if (v === BM_END_OF_MAP) break scan;
        if ((v & ZERO_FLAG) !== 0n) zero++;
      }
    }
    return {
      dataPages: imagePages,
      zeroPages: zero,
      metaPages: nrMeta,
      streamPages: pages,
      writes: entries.length + mapPages + 1,
    };
  } finally {
    closeSync(fd);
  }
}

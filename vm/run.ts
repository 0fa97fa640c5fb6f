// Real-kernel runner: one scenario through QEMU boots (hibernate, host-side faults, resume) -> an Observation.
//
// Phases of one cycle: boot (first) -> fill -> snapshot+write -> poweroff -> [corrupt | bootNoresume]* -> boot
// (resume) -> load -> verify. The agent (guest/agent.c) runs every write and hibernate step of the scenario in order
// inside the original system; a successful resume continues its program in the resume boot.
import {
  closeSync,
  copyFileSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Errno, ImageStats, Observation, StepOutcome, Violation } from '../spec/outcome.ts';
import type { HibernateStep, Scenario } from '../spec/scenario/schema.ts';
import type { AgentEvent, BootReport, Verdict } from './console/classify.ts';
import { classifyConsole, isErrno } from './console/classify.ts';
import { InfraError } from './errors.ts';
import { corruptImagePage } from './image/corrupt.ts';
import { parseSwsuspImage } from './image/parse.ts';
import { buildInitramfs } from './initramfs.ts';
import type { Kernel } from './kernels.ts';
import { resolveKernel } from './kernels.ts';
import type { BootRole } from './plan.ts';
import { blkdebugIoError, debianLineOf, kernelCmdline, memMiB, vmSupports } from './plan.ts';
import type { Accel, QemuConfig } from './qemu/args.ts';
import type { ConsoleLine } from './qemu/launch.ts';
import { launchQemu } from './qemu/launch.ts';
import { Qmp } from './qemu/qmp.ts';

export interface VmRunOptions {
  /** `debian-6.1`, `debian-6.12` or a kernel path (kernels.ts) */
  readonly kernel: string;
  /** per-run directory: disk image, console logs, qemu args */
  readonly workDir: string;
  /** per boot; default 180 s */
  readonly timeoutMs?: number;
  readonly log?: (line: string) => void;
  readonly accel?: Accel;
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

/** Which polling interval the power-loss watcher uses (ms). */
const POWER_LOSS_POLL_MS = 2;

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
  await prepared(opts.kernel);

  const disk = join(opts.workDir, 'disk.img');
  const fd = openSync(disk, 'w');
  ftruncateSync(fd, scenario.storage.pages * 4096);
  closeSync(fd);

  const boots: BootArtifact[] = [];
  const images: string[] = [];
  const steps: StepOutcome[] = [];
  const violations: Violation[] = [];
  const timings: Record<string, number> = {};
  let worst: Verdict = { kind: 'pass', title: 'every boot ended as planned' };
  const note = (v: Verdict) => {
    if (SEVERITY.indexOf(v.kind) > SEVERITY.indexOf(worst.kind)) worst = v;
  };

  const boot = async (
    role: BootRole,
    bootOpts: { memPages?: number; kernelSpec?: string; wpages?: number; hib?: HibernateStep },
  ): Promise<BootRun> => {
    const k = await prepared(bootOpts.kernelSpec ?? opts.kernel);
    const n = boots.length + 1;
    const logPath = join(opts.workDir, `boot-${n}-${role}.log`);
    let blkdebugConfig: string | undefined;
    if (bootOpts.hib?.ioErrorAtWrite !== undefined) {
      blkdebugConfig = join(opts.workDir, `boot-${n}.blkdebug`);
      writeFileSync(blkdebugConfig, blkdebugIoError(bootOpts.hib.ioErrorAtWrite));
    }
    const qmpSocket = join(opts.workDir, `boot-${n}.qmp`);
    const config: QemuConfig = {
      accel: opts.accel ?? 'tcg',
      memMiB: memMiB(bootOpts.memPages ?? scenario.machine.memPages),
      cpus: scenario.machine.cpus,
      kernel: k.kernel.bzImage,
      initrd: k.initrd,
      append: kernelCmdline(
        scenario,
        role,
        bootOpts.wpages === undefined ? {} : { noresumeWritePages: bootOpts.wpages },
      ),
      disk: blkdebugConfig === undefined ? { path: disk } : { path: disk, blkdebugConfig },
      qmpSocket,
    };
    const powerLoss = bootOpts.hib?.powerLossAfterWrite;
    let hibernatingSeen = false;
    const running = launchQemu(config, {
      logPath,
      timeoutMs,
      onLine: (l) => {
        if (l.text.includes('"ev":"hibernating"')) hibernatingSeen = true;
        log(`[${role} ${(l.t / 1000).toFixed(2)}] ${l.text}`);
      },
    });
    let powerLostAfterPages: number | undefined;
    let watcher: Promise<void> = Promise.resolve();
    if (powerLoss !== undefined) {
      // power loss: QEMU is killed once the guest has written powerLoss image pages (QMP query-blockstats, polled)
      watcher = (async () => {
        const qmp = await Qmp.connect(qmpSocket);
        let exited = false;
        void running.done.then(() => {
          exited = true;
        });
        try {
          while (!hibernatingSeen && !exited) await sleep(POWER_LOSS_POLL_MS);
          if (exited) return;
          const base = (await qmp.blockStats()).reduce((a, b) => a + b.wrBytes, 0);
          while (!exited) {
            const pages = ((await qmp.blockStats()).reduce((a, b) => a + b.wrBytes, 0) - base) / 4096;
            if (pages >= powerLoss) {
              running.kill();
              powerLostAfterPages = pages;
              return;
            }
            await sleep(POWER_LOSS_POLL_MS);
          }
        } catch {
          // QEMU exited under us: nothing to cut
        } finally {
          qmp.close();
        }
      })();
    }
    const r = await running.done;
    await watcher;
    writeFileSync(join(opts.workDir, `boot-${n}.args.json`), `${JSON.stringify(r.args)}\n`);
    const exit = powerLostAfterPages !== undefined ? ({ kind: 'exited', code: 0 } as const) : r.exit;
    let report = classifyConsole(r.log, exit);
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
  let lost = false;
  let corrupted = false;
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

  for (const [i, st] of scenario.steps.entries()) {
    if (lost && (st.op === 'write' || st.op === 'hibernate')) break;
    stepsRun = i + 1;
    switch (st.op) {
      case 'write': {
        if (!alive) {
          current = await startBoot('first', i);
          alive = true;
        }
        const e = take('write');
        steps.push({ op: 'write', pages: e !== undefined && typeof e.pages === 'number' ? e.pages : 0 });
        break;
      }
      case 'hibernate': {
        if (!alive) {
          current = await startBoot('first', i);
          alive = true;
        }
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
        const copy = join(opts.workDir, `image-${images.length + 1}.img`);
        copyFileSync(disk, copy);
        images.push(copy);
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
        steps.push({ op: 'bootNoresume' });
        break;
      }
      case 'resume': {
        const kernelSpec = st.kernel === undefined ? undefined : debianLineOf(st.kernel);
        const b = await startBoot('resume', i + 1, st.memPages, kernelSpec);
        current = b;
        const tResuming = lineTime((t) => t.includes('"ev":"resuming"'));
        const ret = take('hibernateReturned');
        if (ret !== undefined && suspended) {
          alive = true;
          suspended = false;
          const v = take('verify');
          const checked = v !== undefined && typeof v.pagesChecked === 'number' ? v.pagesChecked : 0;
          const corrupt = v !== undefined && typeof v.pagesCorrupt === 'number' ? v.pagesCorrupt : 0;
          steps.push({ op: 'resume', result: 'resumed', pagesChecked: checked, pagesCorrupt: corrupt });
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
          if (rf !== undefined) steps.push({ op: 'resume', result: 'refused', reason: rf.reason, errno: rf.errno });
          else if (b.report.imageFound) {
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
    if (boots.some((bt) => bt.verdict.kind === 'kernelPanic' || bt.verdict.kind === 'hang')) break;
  }

  return {
    observation: { target: 'vm', kernel: kernel.version, steps, violations },
    timings,
    verdict: worst,
    stepsRun,
    artifacts: { disk, boots, images },
  };
}

/** ImageStats of the image on the disk, or undefined when no signed image parses. */
export function imageStats(disk: string, devicePages: number): ImageStats | undefined {
  const dev = new Uint8Array(readFileSync(disk));
  const r = parseSwsuspImage(dev, { devicePages });
  if (!r.ok) return undefined;
  const im = r.image;
  const zero = im.zeroFlags.filter((z) => z).length;
  return {
    dataPages: im.info.imagePages,
    zeroPages: zero,
    metaPages: im.nrMeta,
    streamPages: im.info.pages,
    // stored stream pages + swap-map pages + the swsusp_header page
    writes: im.usedEntries + im.mapPages.length + 1,
  };
}

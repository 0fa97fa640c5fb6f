// One boot of the guest: the NBD fault server, the fast path (snapshot restore / save over QMP), QEMU, the console
// verdict. Everything it opens (NBD server, QMP socket, QEMU) is closed or killed before it returns or throws.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FaultState, StorageFacts } from '../spec/outcome.ts';
import type { HibernateStep, Scenario } from '../spec/scenario/schema.ts';
import type { BootReport, ExitInfo } from './console/classify.ts';
import { classifyConsole } from './console/classify.ts';
import { parseE820Ram } from './console/e820.ts';
import { AGENT_PREFIX, parseAgentEvent, type TimedEvent, timedEvents } from './console/events.ts';
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
import type { Kernel } from './kernels.ts';
import { cacheRoot } from './kernels.ts';
import type { BootRole } from './plan.ts';
import { agentWords, kernelCmdline, memMiB } from './plan.ts';
import type { Accel, QemuConfig } from './qemu/args.ts';
import type { ConsoleLine, RunningBoot } from './qemu/launch.ts';
import { launchQemu, qemuVersionLine } from './qemu/launch.ts';
import { type NbdServer, startNbdServer } from './qemu/nbd.ts';
import { Qmp } from './qemu/qmp.ts';
import { BACKSTOP_MS, dumpTasksThenKill, socketPath, TIMEOUT_LINE } from './qemu/taskdump.ts';

export { TIMEOUT_LINE } from './qemu/taskdump.ts';

/** What every boot of one run shares. */
export interface BootContext {
  readonly scenario: Scenario;
  readonly workDir: string;
  readonly disk: string;
  readonly accel: Accel;
  readonly fast: boolean;
  readonly timeoutMs: number;
  readonly log: (line: string) => void;
}

/** A hibernate step whose write fault the disk server applies in this boot. */
export interface ScheduledFault {
  readonly step: HibernateStep;
  /** index of the step in the scenario */
  readonly index: number;
  /** it is the boot's n-th hibernation (0-based): the server counts writes from the n-th `hibernating` event */
  readonly ordinal: number;
}

export interface BootRequest {
  /** 1-based boot number (file names) */
  readonly n: number;
  readonly role: BootRole;
  readonly kernel: Kernel;
  readonly initrd: string;
  readonly memPages: number;
  readonly noresumeWritePages?: number;
  readonly fault?: ScheduledFault;
  /**
   * read the disk when the agent reports hibernateReturned (the kernel is done with the swap area then); the
   * argument is the boot's console so far (the guest's memory map)
   */
  readonly readAtReturn?: (consoleSoFar: string) => StorageFacts;
}

export interface BootRun {
  readonly report: BootReport;
  readonly events: readonly TimedEvent[];
  readonly lines: readonly ConsoleLine[];
  readonly durationMs: number;
  readonly args: readonly string[];
  readonly logPath: string;
  /** the console of the whole boot: for a restored boot, the saved one up to the snapshot first */
  readonly fullConsole: string;
  readonly fault?: { readonly step: number; readonly state: FaultState };
  readonly powerLostAfterPages?: number;
  readonly storageAtReturn: readonly StorageFacts[];
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** The NBD server for a boot with a write fault (qemu/nbd.ts counts image page writes exactly). */
function startFaultServer(ctx: BootContext, f: ScheduledFault, onPowerLoss: () => void): Promise<NbdServer> {
  const st = f.step;
  return startNbdServer({
    socketPath: socketPath('nbd'),
    diskPath: ctx.disk,
    faults: {
      ...(st.ioErrorAtWrite === undefined ? {} : { ioErrorAtWrite: st.ioErrorAtWrite }),
      ...(st.powerLossAfterWrite === undefined ? {} : { powerLossAfterWrite: st.powerLossAfterWrite }),
      ...(st.ioErrorAfterSignature === true ? { ioErrorAfterPage: ctx.scenario.storage.offset } : {}),
    },
    onPowerLoss,
  });
}

export const hasWriteFault = (st: HibernateStep): boolean =>
  st.ioErrorAtWrite !== undefined || st.powerLossAfterWrite !== undefined || st.ioErrorAfterSignature === true;

/** Fast path: the snapshot of this boot's wait point, and whether it can be restored. */
async function snapshotOf(ctx: BootContext, req: BootRequest, append: readonly string[]) {
  const key = snapshotKey({
    role: req.role === 'first' ? 'first' : 'resume',
    bzImage: req.kernel.bzImage,
    initrd: req.initrd,
    memMiB: memMiB(req.memPages),
    cpus: ctx.scenario.machine.cpus,
    diskPages: ctx.scenario.storage.pages,
    append,
    qemuVersion: await qemuVersionLine(),
    accel: ctx.accel,
  });
  const snap = snapshotPaths(cacheRoot(), key);
  // the console up to the wait point (the guest's memory map) is kept next to the state; a first-boot snapshot whose
  // console tore the map would make NosaveNeverSaved unobservable on every run that restores it: made anew
  let restoring = snapshotExists(snap) && existsSync(consoleOf(snap));
  if (restoring && req.role === 'first' && parseE820Ram(readFileSync(consoleOf(snap), 'utf8')) === undefined) {
    ctx.log(`snapshot ${snap.dir}: its console has no readable memory map; taking it again`);
    dropSnapshot(snap);
    restoring = false;
  }
  return { snap, restoring };
}
const consoleOf = (snap: SnapshotPaths): string => join(snap.dir, 'console.log');

/** No agent event for this long after the first write into an image file: the writer is stuck (the FUSE target). */
export const WRITER_STALL_MS = 30_000;
/** The line hibfuzz adds to such a boot's console (console/classify.ts names the hang from it and the dump). */
export const WRITER_STALL_LINE = `hibfuzz: the image writer made no progress for ${WRITER_STALL_MS / 1000} s after imageFileWrite: sysrq-t sent, QEMU stopped`;

/** Run one boot. Throws InfraError when the host failed (QEMU, the fast path, the console says infraError). */
export async function runBoot(ctx: BootContext, req: BootRequest): Promise<BootRun> {
  const { n, role } = req;
  const logPath = join(ctx.workDir, `boot-${n}-${role}.log`);
  const waitable = ctx.fast && role !== 'noresume';
  const append = kernelCmdline(ctx.scenario, role, {
    ...(req.noresumeWritePages === undefined ? {} : { noresumeWritePages: req.noresumeWritePages }),
    wait: waitable,
  });
  const fast = waitable ? await snapshotOf(ctx, req, append) : undefined;
  if (fast?.restoring === true && role === 'first') await copySparse(fast.snap.disk, ctx.disk);
  const qmpSocket = socketPath('qmp');
  let running: RunningBoot | undefined;
  let nbd: NbdServer | undefined;
  let qmp: Promise<Qmp> | undefined;
  const storageAtReturn: StorageFacts[] = [];
  const savedConsole = fast?.restoring === true ? readFileSync(consoleOf(fast.snap), 'utf8') : '';
  let timeoutTimer: NodeJS.Timeout | undefined;
  try {
    if (req.fault !== undefined) nbd = await startFaultServer(ctx, req.fault, () => running?.kill());
    const config: QemuConfig = {
      accel: ctx.accel,
      memMiB: memMiB(req.memPages),
      cpus: ctx.scenario.machine.cpus,
      kernel: req.kernel.bzImage,
      initrd: req.initrd,
      append,
      disk: nbd === undefined ? { path: ctx.disk } : { path: ctx.disk, nbdSocket: nbd.socketPath },
      qmpSocket,
      ...(fast?.restoring === true ? { incoming: { stateFile: fast.snap.state } } : {}),
    };
    let onWaiting: () => void = () => {};
    const waiting = new Promise<void>((resolve) => {
      onWaiting = resolve;
    });
    let hibernations = 0;
    const seen: string[] = [];
    // A hang ends with a task dump: every task's state and stack are asked for (sysrq-t), the console gets
    // SYSRQ_GRACE_MS to print them, then QEMU is stopped and the boot ends as a hang (classified from the console,
    // which names a known cause from the dump). Two triggers: the boot's timeout, and the writer's progress watch
    // (FUSE target: after imageFileWrite, no further agent event for WRITER_STALL_MS means the writer is stuck).
    let hung: string | undefined;
    let stallTimer: NodeJS.Timeout | undefined;
    const dumpTasksThenStop = async (line: string) => {
      if (hung !== undefined) return;
      hung = line;
      ctx.log(`boot ${n} (${role}): ${line}`);
      qmp ??= Qmp.connect(qmpSocket);
      await dumpTasksThenKill(qmp, () => running?.kill(), ctx.log);
    };
    timeoutTimer = setTimeout(() => void dumpTasksThenStop(TIMEOUT_LINE), ctx.timeoutMs);
    const boot = launchQemu(config, {
      logPath,
      timeoutMs: ctx.timeoutMs + BACKSTOP_MS,
      onLine: (l) => {
        seen.push(l.text);
        ctx.log(`[${role} ${(l.t / 1000).toFixed(2)}] ${l.text}`);
        const e = parseAgentEvent(l.text);
        if (e?.ev === 'hibernating' && hibernations++ === req.fault?.ordinal) nbd?.arm();
        if (e?.ev === 'hibernateReturned' && req.readAtReturn !== undefined)
          storageAtReturn.push(req.readAtReturn(`${savedConsole}${seen.join('\n')}\n`));
        if (e?.ev === 'waiting') onWaiting();
        if (e !== undefined && hung === undefined) clearTimeout(stallTimer);
        if (e?.ev === 'imageFileWrite')
          stallTimer = setTimeout(() => void dumpTasksThenStop(WRITER_STALL_LINE), WRITER_STALL_MS);
      },
    });
    running = boot;
    let exited = false;
    const ended = boot.done.finally(() => {
      exited = true;
      onWaiting();
    });
    if (waitable) qmp = Qmp.connect(qmpSocket);
    const control =
      fast === undefined || qmp === undefined
        ? Promise.resolve()
        : (async () => {
            const q = await qmp;
            if (fast.restoring) await waitRunning(q);
            else {
              await waiting;
              if (exited) return;
              await saveWaitPoint(ctx, q, fast.snap, role, `${seen.join('\n')}\n`);
            }
            boot.send(role === 'first' ? `${agentWords(ctx.scenario).join(' ')}\n` : '\n');
          })();
    // a failing fast path is the host's trouble: stop QEMU, report it
    const failed = control.then(
      () => undefined,
      (e: unknown) => {
        boot.kill();
        return new InfraError(`boot ${n} (${role}): fast path: ${message(e)}`);
      },
    );
    const r = await ended;
    clearTimeout(stallTimer);
    clearTimeout(timeoutTimer);
    const problem = await failed;
    if (problem !== undefined) throw problem;
    const powerLostAfterPages = nbd?.powerLost() === true ? nbd.writesStored() : undefined;
    writeFileSync(join(ctx.workDir, `boot-${n}.args.json`), `${JSON.stringify(r.args)}\n`);
    // a restored boot starts after init's first words: say so for the classifier
    const consoleText =
      (fast?.restoring === true ? `${AGENT_PREFIX}{"ev":"restored","role":"${role}"}\n${r.log}` : r.log) +
      (hung === undefined ? '' : `${hung}\n`);
    if (fast?.restoring === true) writeFileSync(logPath, consoleText);
    const exit: ExitInfo =
      powerLostAfterPages !== undefined
        ? { kind: 'exited', code: 0 }
        : hung !== undefined
          ? { kind: 'timeout' }
          : r.exit;
    if (hung !== undefined) writeFileSync(logPath, consoleText);
    let report = classifyConsole(consoleText, exit);
    if (powerLostAfterPages !== undefined && report.verdict.kind === 'unexpectedReboot') {
      report = { ...report, verdict: { kind: 'pass', title: `power cut after ${powerLostAfterPages} pages` } };
    }
    if (report.verdict.kind === 'infraError') throw new InfraError(`boot ${n} (${role}): ${report.verdict.title}`);
    return {
      report,
      events: timedEvents(r.lines),
      lines: r.lines,
      durationMs: r.durationMs,
      args: r.args,
      logPath,
      fullConsole: savedConsole + r.log,
      ...(nbd === undefined || req.fault === undefined
        ? {}
        : { fault: { step: req.fault.index, state: nbd.faultFired() ? 'fired' : 'notFired' } }),
      ...(powerLostAfterPages === undefined ? {} : { powerLostAfterPages }),
      storageAtReturn,
    };
  } finally {
    clearTimeout(timeoutTimer);
    running?.kill();
    await nbd?.close();
    await qmp?.then((q) => q.close()).catch(() => {});
    rmSync(qmpSocket, { force: true });
  }
}

/** First run of a wait point: save the VM there (and the console so far), then let it go on. */
async function saveWaitPoint(ctx: BootContext, q: Qmp, snap: SnapshotPaths, role: BootRole, console: string) {
  if (role === 'first' && parseE820Ram(console) === undefined) {
    ctx.log('not saving the snapshot: the console tore the memory map (the next run boots again)');
    await q.execute('cont').catch(() => {});
    return;
  }
  try {
    await saveSnapshot(q, snap, role === 'first' ? () => copySparse(ctx.disk, snap.disk) : undefined);
    writeFileSync(consoleOf(snap), console);
    ctx.log(`saved snapshot ${snap.dir}`);
  } catch (e) {
    ctx.log(`snapshot failed, continuing without it: ${message(e)}`);
    dropSnapshot(snap);
    await q.execute('cont').catch(() => {});
  }
}

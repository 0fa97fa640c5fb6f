// kjump runner: a kexec-protocol scenario on the real 6.12 kexec-jump path in QEMU (A -> save kernel B -> A, or
// B powers off and a cold-booted restore kernel C brings A back). Returns the observation (facts, no invariant names),
// one record per boot, phase timings and artifacts; throws only InfraError (the host's trouble).
import { execFile } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { MachineObservation } from '../../spec/machine.ts';
import type { Observation, StepOutcome } from '../../spec/outcome.ts';
import type { Scenario } from '../../spec/scenario/schema.ts';
import type { BootRecord } from '../backend.ts';
import { InfraError } from '../errors.ts';
import { cacheRoot } from '../kernels.ts';
import { chooseAccel } from '../qemu/accel.ts';
import { type Accel, checkQemuConfig, type QemuConfig } from '../qemu/args.ts';
import { type BootResult, type ConsoleLine, launchQemu } from '../qemu/launch.ts';
import { Qmp } from '../qemu/qmp.ts';
import { BACKSTOP_MS, dumpTasksThenKill, socketPath, TIMEOUT_LINE } from '../qemu/taskdump.ts';
import { ensureKjumpKernel, type KjumpKernel, kernelLabel } from './build.ts';
import {
  firstBootMachine,
  firstBootSaveable,
  parseEvents,
  phaseTimings,
  type TimedEvent,
  type Timings,
} from './events.ts';
import { buildKjumpInitrds } from './guest-image.ts';
import { type ContainerHeader, type DiskImage, type PageReader, readDiskImage } from './image.ts';
import {
  type BootContext,
  type DiskFacts,
  hibernateOutcome,
  kjumpBootVerdict,
  resumeOutcome,
  targetFailure,
} from './outcome.ts';
import { aCmdline, cCmdline, type HelperKind, type KjumpPlan, planScenario } from './plan.ts';
import {
  encryptedPage,
  firstUncovered,
  type Pages,
  parseDebugfsBlocks,
  physicalRun,
  TARGET_FILE,
  throughCrypt,
  throughExtents,
} from './target.ts';

const PG = 4096;
const DEFAULT_TIMEOUT_MS = 180_000;

export interface KjumpRunOptions {
  /**
   * A prebuilt kernel to run instead of building one: a bzImage with KEXEC_JUMP and the guest's drivers built in
   * (vm/kjump/config.fragment, as every gate build has), with the label it is reported as. patches and kernelTree are
   * then ignored (they say how to build).
   */
  readonly kernel?: { readonly bzImage: string; readonly label: string };
  /** build with gate.fragment too (default true: the configuration of kjump-6.12 and of every gate build, one build
   * serves both) */
  readonly gate?: boolean;
  /** extra kernel patches (e.g. JUMP_BACK_PATCH from build.ts) */
  readonly patches?: readonly string[];
  readonly kernelTree?: string;
  /** B's way back to A: own = hibkj jumpback (works unpatched), stock = kexec --load-jump-back-helper */
  readonly helper?: HelperKind;
  readonly cacheDir?: string;
  /** where console logs and the disk image go (default: a fresh directory under the OS temp dir) */
  readonly artifactsDir?: string;
  readonly timeoutMs?: number;
  /** default: HIBFUZZ_ACCEL through vm/qemu/accel.ts (tcg unless told otherwise) */
  readonly accel?: Accel;
  readonly onLine?: (role: KjumpRole, line: ConsoleLine) => void;
  /** save all of A's RAM even when no resume step follows (abort-latency measurements with a full dump) */
  readonly fullImage?: boolean;
  /**
   * Fault: B's jump-back segment goes to this physical address instead of A's control page, so the entry is unmapped
   * in B's kexec page table and the jump faults (QEMU exits with no marker: noReturn).
   */
  readonly jumpBackSegment?: number;
  /** Fault: A's swap file is this many pages short of the container (B must refuse it: one line, InfraError). */
  readonly targetShortPages?: number;
}

/** a: one QEMU run of A, B and (after an abort) A again; c: the cold boot of the restore kernel, then A. */
export type KjumpRole = 'a' | 'c';

export interface KjumpBoot extends BootRecord {
  readonly role: KjumpRole;
}

export interface KjumpArtifacts {
  readonly dir: string;
  readonly disk: string;
  readonly consoles: readonly string[];
}

export interface KjumpRunResult {
  /** violations is always empty: the monitors (spec/invariants/observed.ts) judge the facts */
  readonly observation: Observation;
  readonly boots: readonly KjumpBoot[];
  readonly timings: Readonly<Partial<Record<KjumpRole, Timings>>>;
  readonly artifacts: KjumpArtifacts;
  /** the guest events of each run, for reports */
  readonly events: Readonly<Partial<Record<KjumpRole, readonly TimedEvent[]>>>;
}

function diskReader(fd: number): PageReader {
  return (page, count) => {
    const b = Buffer.alloc(count * PG);
    readSync(fd, b, 0, b.length, page * PG);
    return b;
  };
}

/** The target's pages as the host reads and writes them, independently of the guest. */
interface TargetIo {
  readonly read: Pages;
  readonly write: (page: number, data: Buffer) => void;
}

/**
 * The raw disk; the swap file's blocks as Debian's debugfs reads A's filesystem (a file that is missing or does not
 * cover the container reads as zeros: no image; the guest's target-failed event says why); the decrypted volume.
 */
async function targetIo(disk: string, fd: number, plan: KjumpPlan): Promise<TargetIo> {
  const raw = diskReader(fd);
  const rawWrite = (page: number, data: Buffer) => writeSync(fd, data, 0, data.length, page * PG);
  const t = plan.target;
  // the FUSE file is bytes [0, size) of the disk (hibfused's backing range): the host reads the disk itself
  if (t.kind === 'raw' || t.kind === 'fuse') return { read: raw, write: rawWrite };
  if (t.kind === 'crypt') {
    const key = t.key ?? '';
    return {
      read: throughCrypt(raw, key),
      write: (page, data) => rawWrite(page, encryptedPage(key, page, data)),
    };
  }
  const r = await promisify(execFile)('debugfs', ['-R', `stat ${TARGET_FILE}`, disk]).catch((e: unknown) => {
    if ((e as { code?: unknown }).code === 'ENOENT')
      throw new InfraError('debugfs missing (run vm/kjump/setup-build.sh)');
    return { stdout: '' };
  });
  const extents = parseDebugfsBlocks(r.stdout);
  if (extents === undefined || firstUncovered(extents, plan.diskPages) !== undefined) {
    return { read: (_p, count) => Buffer.alloc(count * PG), write: () => {} };
  }
  return {
    read: throughExtents(raw, extents),
    write: (page, data) => {
      const r = physicalRun(extents, page);
      if (r === undefined) throw new InfraError(`kjump: file page ${page} is in no extent of ${TARGET_FILE}`);
      rawWrite(r.at, data);
    },
  };
}

async function readDisk(disk: string, plan: KjumpPlan, lines: readonly ConsoleLine[]): Promise<DiskImage> {
  const fd = openSync(disk, 'r');
  try {
    return readDiskImage((await targetIo(disk, fd, plan)).read, plan.diskPages, firstBootSaveable(lines));
  } finally {
    closeSync(fd);
  }
}

/** Flip one bit of the image on disk (the corrupt step): header = stream header page, meta = a PFN page, data. */
async function corruptDisk(
  disk: string,
  plan: KjumpPlan,
  h: ContainerHeader,
  region: 'data' | 'header' | 'meta',
  index: number,
  bit: number,
) {
  let page: number;
  if (region === 'header') page = h.streamOff;
  else if (region === 'meta') page = h.streamOff + 1 + (index % Math.max(1, h.metaPages));
  else page = h.streamOff + 1 + h.metaPages + (index % Math.max(1, h.dataPages));
  const fd = openSync(disk, 'r+');
  try {
    const io = await targetIo(disk, fd, plan);
    const b = io.read(page, 1);
    const byte = Math.floor(bit / 8);
    b[byte] = (b[byte] ?? 0) ^ (1 << (bit % 8));
    io.write(page, b);
  } finally {
    closeSync(fd);
  }
}

interface Booted {
  readonly r: BootResult;
  readonly evs: TimedEvent[];
  readonly logPath: string;
}

/** Run one QEMU boot to its end. InfraError when the host cannot (bad path, no QEMU). */
async function boot(
  role: KjumpRole,
  config: QemuConfig,
  dir: string,
  timeoutMs: number,
  onLine?: KjumpRunOptions['onLine'],
): Promise<Booted> {
  const problem = checkQemuConfig(config);
  if (problem !== undefined) throw new InfraError(`kjump: ${problem}`);
  const logPath = join(dir, `console-${role}.log`);
  // at the timeout the guest is asked for its task dump (vm/qemu/taskdump.ts), then stopped: a hang with its dump
  const qmpSocket = socketPath('qmp');
  let qmp: Promise<Qmp> | undefined;
  let hung = false;
  const running = launchQemu(
    { ...config, qmpSocket },
    {
      logPath,
      timeoutMs: timeoutMs + BACKSTOP_MS,
      ...(onLine !== undefined ? { onLine: (l: ConsoleLine) => onLine(role, l) } : {}),
    },
  );
  const timer = setTimeout(() => {
    hung = true;
    qmp = Qmp.connect(qmpSocket);
    void dumpTasksThenKill(
      qmp,
      () => running.kill(),
      () => {},
    );
  }, timeoutMs);
  try {
    const done = await running.done;
    if (!hung) return { r: done, evs: parseEvents(done.lines), logPath };
    appendFileSync(logPath, `${TIMEOUT_LINE}\n`);
    const r: BootResult = { ...done, exit: { kind: 'timeout' }, log: `${done.log}${TIMEOUT_LINE}\n` };
    return { r, evs: parseEvents(r.lines), logPath };
  } finally {
    clearTimeout(timer);
    await qmp?.then((q) => q.close()).catch(() => {});
    rmSync(qmpSocket, { force: true });
  }
}

function bootRecord(role: KjumpRole, b: Booted, ctx: BootContext): KjumpBoot {
  const v = kjumpBootVerdict(b.evs, b.r.log, b.r.exit, ctx);
  return { role, ...v, consoleLog: b.logPath, seconds: b.r.durationMs / 1000 };
}

function diskFacts(d: DiskImage): DiskFacts {
  return {
    storage: { signed: d.header.committed, ...(d.check !== undefined ? { image: d.check } : {}) },
    stats: d.check?.stats,
  };
}

/** The kexec-jump kernel of these options, built (or taken from the cache). */
async function builtKernel(cacheDir: string, opts: KjumpRunOptions): Promise<{ bzImage: string; label: string }> {
  const k: KjumpKernel = await ensureKjumpKernel({
    cacheDir,
    gate: opts.gate ?? true,
    ...(opts.patches !== undefined ? { patches: opts.patches } : {}),
    ...(opts.kernelTree !== undefined ? { kernelTree: opts.kernelTree } : {}),
  });
  return { bzImage: k.bzImage, label: kernelLabel(k) };
}

/** Run one kexec scenario on the real kernel. Kernel trouble is data (boots, crashed steps); InfraError for the host. */
export async function runKjumpScenario(scenario: Scenario, opts: KjumpRunOptions = {}): Promise<KjumpRunResult> {
  const planned = planScenario(scenario);
  if (!planned.ok) throw new InfraError(`kjump cannot run ${scenario.id} as written: ${planned.error}`);
  const plan = opts.fullImage ? { ...planned.plan, full: true } : planned.plan;
  const dir = opts.artifactsDir ?? mkdtempSync(join(tmpdir(), `hibfuzz-kjump-${scenario.id}-`));
  mkdirSync(dir, { recursive: true });
  const disk = join(dir, 'disk.img');
  const cacheDir = opts.cacheDir ?? cacheRoot();
  const kernel = opts.kernel ?? (await builtKernel(cacheDir, opts));
  const initrds = await buildKjumpInitrds(kernel.bzImage, cacheDir, { fuse: plan.target.kind === 'fuse' });
  closeSync(openSync(disk, 'w'));
  truncateSync(disk, plan.target.physicalPages * PG);
  const accel = opts.accel ?? (await chooseAccel({ kernel: kernel.bzImage, initrd: initrds.b, disk }));
  const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const qemu = (initrd: string, append: readonly string[]): QemuConfig => ({
    accel,
    memMiB: plan.memMiB,
    cpus: plan.cpus,
    kernel: kernel.bzImage,
    initrd,
    append,
    disk: { path: disk },
  });

  const outcomes: StepOutcome[] = [];
  const boots: KjumpBoot[] = [];
  const timings: Partial<Record<KjumpRole, Timings>> = {};
  const events: Partial<Record<KjumpRole, TimedEvent[]>> = {};
  const artifacts: KjumpArtifacts = { dir, disk, consoles: [] };
  let machine: MachineObservation | undefined;
  const result = (): KjumpRunResult => {
    const observation: Observation = {
      target: 'vm',
      kernel: kernel.label,
      steps: outcomes,
      violations: [],
      ...(machine === undefined ? {} : { machine }),
    };
    writeFileSync(join(dir, 'observation.json'), `${JSON.stringify({ observation, boots, timings }, null, 2)}\n`);
    return {
      observation,
      boots,
      timings,
      artifacts: { ...artifacts, consoles: boots.map((b) => b.consoleLog) },
      events,
    };
  };
  for (const s of plan.steps) if (s.kind === 'write') outcomes.push({ op: 'write', pages: s.pages });

  // Run 1: A fills, jumps to B; B saves and jumps back (abort) or powers off.
  const helper = opts.helper ?? 'own';
  const short = opts.targetShortPages === undefined ? [] : [`hibkj.tshort=${opts.targetShortPages}`];
  const aWords = [...aCmdline(plan, helper, opts.jumpBackSegment), ...short];
  const a = await boot('a', qemu(initrds.a, aWords), dir, timeout, opts.onLine);
  events.a = a.evs;
  machine = firstBootMachine(a.r.lines);
  const targetA = targetFailure(a.evs, 'a');
  if (targetA !== undefined) throw new InfraError(targetA);
  timings.a = phaseTimings(a.r.lines, a.evs, a.r.durationMs);
  const d = await readDisk(disk, plan, a.r.lines);
  const bootA = bootRecord('a', a, { role: 'a', hib: plan.hibernate, imageOnDisk: d.check !== undefined });
  boots.push(bootA);
  const hib = hibernateOutcome(plan.hibernate, a.evs, bootA, diskFacts(d));
  outcomes.push(hib);
  if (hib.op === 'hibernate' && hib.result === 'crashed') return result();

  let imageOnDisk = d.check !== undefined;
  for (const s of plan.steps) {
    if (s.kind === 'corrupt') {
      if (imageOnDisk) await corruptDisk(disk, plan, d.header, s.region, s.page, s.bit);
      outcomes.push({ op: 'corrupt', applied: imageOnDisk });
    } else if (s.kind === 'resume') {
      // Run 2: cold boot of the restore kernel C, confined to B's region. Without a committed image C boots on the
      // whole RAM (there is no region to respect) and finds nothing.
      const cmd = cCmdline(d.header.committed ? d.header.cmdline : '', plan);
      const c = await boot('c', qemu(initrds.b, cmd), dir, timeout, opts.onLine);
      events.c = c.evs;
      const targetC = targetFailure(c.evs, 'c');
      if (targetC !== undefined) throw new InfraError(targetC);
      timings.c = phaseTimings(c.r.lines, c.evs, c.r.durationMs);
      const bootC = bootRecord('c', c, { role: 'c', hib: plan.hibernate, imageOnDisk });
      boots.push(bootC);
      outcomes.push(resumeOutcome(c.evs, bootC));
      imageOnDisk = false;
    }
  }
  return result();
}

// kjump runner: a kexec-protocol scenario on the real 6.12 kexec-jump path in QEMU (A -> save kernel B -> A, or
// B powers off and a cold-booted restore kernel C brings A back). Returns the observation (facts, no invariant names),
// one record per boot, phase timings and artifacts; throws only InfraError (the host's trouble).
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Observation, StepOutcome } from '../../spec/outcome.ts';
import type { Scenario } from '../../spec/scenario/schema.ts';
import type { BootRecord } from '../backend.ts';
import { InfraError } from '../errors.ts';
import { cacheRoot } from '../kernels.ts';
import { chooseAccel } from '../qemu/accel.ts';
import { type Accel, checkQemuConfig, type QemuConfig } from '../qemu/args.ts';
import { type BootResult, type ConsoleLine, launchQemu } from '../qemu/launch.ts';
import { ensureKjumpKernel, type KjumpKernel, kernelLabel } from './build.ts';
import { firstBootRam, parseEvents, phaseTimings, type TimedEvent, type Timings } from './events.ts';
import { buildKjumpInitrds } from './guest-image.ts';
import { type ContainerHeader, type DiskImage, type PageReader, readDiskImage } from './image.ts';
import { type BootContext, type DiskFacts, hibernateOutcome, kjumpBootVerdict, resumeOutcome } from './outcome.ts';
import { aCmdline, cCmdline, type HelperKind, type KjumpPlan, planScenario } from './plan.ts';

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

function readDisk(disk: string, plan: KjumpPlan, lines: readonly ConsoleLine[]): DiskImage {
  const fd = openSync(disk, 'r');
  try {
    return readDiskImage(diskReader(fd), plan.diskPages, firstBootRam(lines));
  } finally {
    closeSync(fd);
  }
}

/** Flip one bit of the image on disk (the corrupt step): header = stream header page, meta = a PFN page, data. */
function corruptDisk(disk: string, h: ContainerHeader, region: 'data' | 'header' | 'meta', index: number, bit: number) {
  let page: number;
  if (region === 'header') page = h.streamOff;
  else if (region === 'meta') page = h.streamOff + 1 + (index % Math.max(1, h.metaPages));
  else page = h.streamOff + 1 + h.metaPages + (index % Math.max(1, h.dataPages));
  const fd = openSync(disk, 'r+');
  try {
    const b = diskReader(fd)(page, 1);
    const byte = Math.floor(bit / 8);
    b[byte] = (b[byte] ?? 0) ^ (1 << (bit % 8));
    writeSync(fd, b, 0, PG, page * PG);
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
  const r = await launchQemu(config, {
    logPath,
    timeoutMs,
    ...(onLine !== undefined ? { onLine: (l: ConsoleLine) => onLine(role, l) } : {}),
  }).done;
  return { r, evs: parseEvents(r.lines), logPath };
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
  const initrds = await buildKjumpInitrds(kernel.bzImage, cacheDir);
  closeSync(openSync(disk, 'w'));
  truncateSync(disk, plan.diskPages * PG);
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
  const result = (): KjumpRunResult => {
    const observation: Observation = { target: 'vm', kernel: kernel.label, steps: outcomes, violations: [] };
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
  const a = await boot('a', qemu(initrds.a, aCmdline(plan, helper, opts.jumpBackSegment)), dir, timeout, opts.onLine);
  events.a = a.evs;
  timings.a = phaseTimings(a.r.lines, a.evs, a.r.durationMs);
  const d = readDisk(disk, plan, a.r.lines);
  const bootA = bootRecord('a', a, { role: 'a', hib: plan.hibernate, imageOnDisk: d.check !== undefined });
  boots.push(bootA);
  const hib = hibernateOutcome(plan.hibernate, a.evs, bootA, diskFacts(d));
  outcomes.push(hib);
  if (hib.op === 'hibernate' && hib.result === 'crashed') return result();

  let imageOnDisk = d.check !== undefined;
  for (const s of plan.steps) {
    if (s.kind === 'corrupt') {
      if (imageOnDisk) corruptDisk(disk, d.header, s.region, s.page, s.bit);
      outcomes.push({ op: 'corrupt', applied: imageOnDisk });
    } else if (s.kind === 'resume') {
      // Run 2: cold boot of the restore kernel C, confined to B's region. Without a committed image C boots on the
      // whole RAM (there is no region to respect) and finds nothing.
      const cmd = cCmdline(d.header.committed ? d.header.cmdline : '');
      const c = await boot('c', qemu(initrds.b, cmd), dir, timeout, opts.onLine);
      events.c = c.evs;
      timings.c = phaseTimings(c.r.lines, c.evs, c.r.durationMs);
      const bootC = bootRecord('c', c, { role: 'c', hib: plan.hibernate, imageOnDisk });
      boots.push(bootC);
      outcomes.push(resumeOutcome(c.evs, bootC));
      imageOnDisk = false;
    }
  }
  return result();
}

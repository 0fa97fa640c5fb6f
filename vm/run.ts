// Real-kernel runner: one scenario through QEMU boots (hibernate, host-side faults, resume) -> an Observation of facts.
//
// Phases of one cycle: boot (first) -> fill -> snapshot+write -> poweroff -> [corrupt | bootNoresume]* -> boot
// (resume) -> load -> verify. The agent (guest/agent.c) runs every write and hibernate step of the scenario in order
// inside the original system; a successful resume continues its program in the resume boot. The runner reports
// what the agent, the console and an independent read of the disk show (vm/steps.ts); it never names an invariant
// (spec/invariants/observed.ts judges). It throws only InfraError: whatever the kernel did is data.
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { MachineObservation } from '../spec/machine.ts';
import type { Observation, StepOutcome } from '../spec/outcome.ts';
import type { HibernateStep, Scenario, Step } from '../spec/scenario/schema.ts';
import { type BootContext, type BootRun, hasWriteFault, runBoot, type ScheduledFault } from './boot.ts';
import type { Verdict } from './console/classify.ts';
import { parseMachine, parsePhyspages, parseSaveable } from './console/e820.ts';
import { AgentEvents } from './console/events.ts';
import { InfraError } from './errors.ts';
import { copySparse } from './fast.ts';
import type { PfnRange } from './image/check.ts';
import { corruptImagePage } from './image/corrupt.ts';
import { dmCryptKey } from './image/dmcrypt.ts';
import { PAGE_SIZE } from './image/format.ts';
import { type AgentPages, anonGenerations, readStorage, type StorageRead } from './image/observe.ts';
import { buildInitramfs } from './initramfs.ts';
import type { Kernel } from './kernels.ts';
import { resolveKernel } from './kernels.ts';
import type { BootRole } from './plan.ts';
import { debianLineOf, scenarioIdHash, vmSupports } from './plan.ts';
import { chooseAccel } from './qemu/accel.ts';
import type { Accel } from './qemu/args.ts';
import { type BootFacts, hibernateOutcome, resumeOutcome, type SystemState, writeOutcome } from './steps.ts';
import { type SwapFileReport, swapFileDiskPages, swapFileMismatch, swapFileReport } from './swapfile.ts';

export interface VmRunOptions {
  /** `debian-6.1`, `debian-6.12` or a kernel path (kernels.ts) */
  readonly kernel: string;
  /** a kernel path's modules tree and .config (else found next to it: vm/identity.ts findKernelConfig) */
  readonly kernelFiles?: { readonly modules?: string; readonly config?: string };
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
  /** facts only: observation.violations is always [] (the monitors judge) */
  readonly observation: Observation;
  /** the first boot whose verdict is not pass, else pass */
  readonly verdict: Verdict;
  /** seconds per phase of the first cycle (boot, fill, snapshotWrite, poweroff, resumeBoot, load, verify) */
  readonly timings: Readonly<Record<string, number>>;
  /** steps with an outcome; the run stops where the kernel died or jumped back to an older state */
  readonly stepsRun: number;
  readonly artifacts: {
    readonly disk: string;
    /** every boot, in order, with its console verdict (any that is not pass is a finding: spec judgeRealRun) */
    readonly boots: readonly BootArtifact[];
    /** copy of the disk after each image was written, before any host step touched it */
    readonly images: readonly string[];
  };
}

const oneLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

/**
 * Run one scenario on a real kernel. A scenario the VM cannot run is refused before anything is written; every
 * exception (the host's disk, QEMU, a runner bug) becomes an InfraError with one line.
 */
export async function runScenarioInVm(scenario: Scenario, opts: VmRunOptions): Promise<VmRunResult> {
  const support = vmSupports(scenario);
  if (!support.ok) throw new InfraError(`scenario ${scenario.id}: not runnable in a VM: ${support.reason}`);
  try {
    return await new SwsuspRun(scenario, opts).run();
  } catch (e) {
    if (e instanceof InfraError) throw e;
    const code = (e as { code?: unknown }).code;
    throw new InfraError(`vm run ${scenario.id}: ${typeof code === 'string' ? `${code}: ` : ''}${oneLine(e)}`);
  }
}

/** The next hibernate step with a write fault that the boot starting at step `from` runs, and its ordinal there. */
function faultIn(steps: readonly Step[], from: number): ScheduledFault | undefined {
  let ordinal = 0;
  for (let j = from; j < steps.length; j++) {
    const st = steps[j];
    if (st?.op === 'resume' || st?.op === 'bootNoresume') return undefined;
    if (st?.op !== 'hibernate') continue;
    if (hasWriteFault(st)) return { step: st, index: j, ordinal };
    ordinal++;
  }
  return undefined;
}

/** One boot: the facts for the step mapping, and the raw run (timings). */
interface Booted {
  readonly facts: BootFacts;
  readonly run: BootRun;
}

class SwsuspRun {
  readonly #s: Scenario;
  readonly #opts: VmRunOptions;
  readonly #disk: string;
  readonly #kernels = new Map<string, { kernel: Kernel; initrd: string }>();
  #ctx: BootContext | undefined;
  readonly #boots: BootArtifact[] = [];
  readonly #steps: StepOutcome[] = [];
  readonly #images: string[] = [];
  readonly #timings: Record<string, number> = {};
  /** where the original system is; fresh: not booted yet (it runs from the start in the scenario's terms) */
  #state: SystemState | 'fresh' = 'fresh';
  /** the boot in which the original system runs now */
  #current: Booted | undefined;
  /** the guest's saveable frames (first boot's e820 RAM minus its registered nosave): nosave = outside them */
  #saveable: PfnRange[] | undefined;
  /** the first boot's machine (RAM and registered nosave), when its console showed both whole */
  #machine: MachineObservation | undefined;
  /** the first boot's get_num_physpages() (its `Memory:` line), which every image it writes must carry */
  #physpages: number | undefined;
  /** write sizes the original system ran so far (the agent's page generations) */
  #writes: number[] = [];
  #cycles = 0;
  /** the disk's size in pages: the model's device, or larger for a swap file (swapfile.ts) */
  readonly #diskPages: number;
  /** storage.kind swapFile: the swap file the first boot made (its extents on the disk) */
  #swapFile: SwapFileReport | undefined;
  /** storage.kind dmCrypt: the volume's key (the host reads the disk through its own decryption) */
  readonly #key: Buffer | undefined;

  constructor(s: Scenario, opts: VmRunOptions) {
    this.#s = s;
    this.#opts = opts;
    this.#disk = join(opts.workDir, 'disk.img');
    this.#diskPages = s.storage.kind === 'swapFile' ? swapFileDiskPages(s.storage.pages) : s.storage.pages;
    this.#key = s.storage.kind === 'dmCrypt' ? dmCryptKey(s.id, s.seed) : undefined;
  }

  async run(): Promise<VmRunResult> {
    const log = this.#opts.log ?? (() => {});
    const first = await this.#prepared(this.#opts.kernel);
    mkdirSync(this.#opts.workDir, { recursive: true });
    const fd = openSync(this.#disk, 'w');
    ftruncateSync(fd, this.#diskPages * PAGE_SIZE);
    closeSync(fd);
    const accel =
      this.#opts.accel ?? (await chooseAccel({ kernel: first.kernel.bzImage, initrd: first.initrd, disk: this.#disk }));
    this.#ctx = {
      scenario: this.#s,
      workDir: this.#opts.workDir,
      disk: this.#disk,
      accel,
      fast: this.#opts.fast ?? process.env.HIBFUZZ_VM_FAST === '1',
      timeoutMs: this.#opts.timeoutMs ?? 180_000,
      log,
    };
    for (const [i, st] of this.#s.steps.entries()) if (!(await this.#step(i, st))) break;
    const bad = this.#boots.find((b) => b.verdict.kind !== 'pass');
    return {
      observation: {
        target: 'vm',
        kernel: first.kernel.version,
        steps: this.#steps,
        violations: [],
        ...(this.#machine === undefined ? {} : { machine: this.#machine }),
      },
      verdict: bad?.verdict ?? { kind: 'pass', title: 'every boot ended as planned' },
      timings: this.#timings,
      stepsRun: this.#steps.length,
      artifacts: { disk: this.#disk, boots: this.#boots, images: this.#images },
    };
  }

  async #prepared(spec: string) {
    let k = this.#kernels.get(spec);
    if (k === undefined) {
      const files = spec === this.#opts.kernel ? (this.#opts.kernelFiles ?? {}) : {};
      const kernel = await resolveKernel(spec, { log: this.#opts.log ?? (() => {}), ...files });
      const kind = this.#s.storage.kind;
      const opts = { fs: kind === 'swapFile', dmCrypt: kind === 'dmCrypt', fuse: kind === 'fuseFile' };
      k = { kernel, initrd: await buildInitramfs(kernel, undefined, opts) };
      this.#kernels.set(spec, k);
    }
    return k;
  }

  /** One step; false: the run stops here (the kernel died, or the system left the scenario's path). */
  async #step(i: number, st: Step): Promise<boolean> {
    switch (st.op) {
      case 'write':
      case 'hibernate': {
        if (this.#state === 'fresh') await this.#bootOriginal(i);
        const b = this.#current;
        if (this.#state !== 'running' || b === undefined) {
          this.#steps.push({ op: 'skip', step: st.op, reason: 'machine is off' });
          return true;
        }
        if (st.op === 'write') {
          const o = writeOutcome(b.facts);
          this.#steps.push(o);
          if (o.op === 'write') this.#writes.push(o.pages);
          return o.op === 'write';
        }
        return this.#hibernate(i, st, b);
      }
      case 'corrupt':
        this.#steps.push({ op: 'corrupt', applied: this.#corrupt(st) });
        return true;
      case 'bootNoresume':
        await this.#boot('noresume', i, { noresumeWritePages: st.writeStoragePages });
        if (this.#state !== 'suspended') this.#state = 'lost';
        this.#steps.push({ op: 'bootNoresume' });
        return true;
      case 'resume':
        return this.#resume(i, st);
    }
  }

  #hibernate(i: number, st: HibernateStep, b: Booted): boolean {
    const { outcome, state } = hibernateOutcome(st, i, b.facts);
    this.#steps.push(outcome);
    this.#state = state;
    if (state === 'suspended' && this.#cycles === 0) this.#timeHibernation(b.run);
    return !(outcome.op === 'hibernate' && outcome.result === 'crashed');
  }

  async #resume(i: number, st: Extract<Step, { op: 'resume' }>): Promise<boolean> {
    const pending = this.#state === 'suspended';
    const b = await this.#boot('resume', i + 1, {
      ...(st.memPages === undefined ? {} : { memPages: st.memPages }),
      ...(st.kernel === undefined ? {} : { kernelSpec: debianLineOf(st.kernel) }),
    });
    const o = resumeOutcome(b.facts);
    this.#steps.push(o);
    const boot = this.#boots.at(-1);
    if (o.op === 'resume' && o.result === 'crashed' && boot !== undefined && boot.verdict.kind === 'pass') {
      // the console ended as planned, but the kernel gave up on the image in a way no refusal names
      this.#boots[this.#boots.length - 1] = { ...boot, verdict: { kind: o.boot, title: o.title } };
    }
    if (o.op !== 'resume' || o.result !== 'resumed') {
      if (this.#state === 'suspended') this.#state = 'lost';
      return o.op !== 'resume' || o.result !== 'crashed';
    }
    if (this.#cycles++ === 0) this.#timeResume(b.run);
    this.#state = 'running';
    this.#current = b;
    // an image came back although none was pending: the system jumped to an older state and its program no longer
    // follows the scenario (the monitors judge it from the steps)
    return pending;
  }

  async #bootOriginal(i: number): Promise<void> {
    const b = await this.#boot('first', i, {});
    this.#state = 'running';
    this.#current = b;
    const start = b.facts.events.first('agentStart');
    const filled = b.facts.events.first('filled');
    if (start !== undefined) this.#timings.boot = start.t / 1000;
    if (filled !== undefined) this.#timings.fill = filled.ms / 1000;
  }

  /** Boot once; the facts the step mapping needs, with the disk read where the kernel was done with it. */
  async #boot(
    role: BootRole,
    from: number,
    o: { memPages?: number; kernelSpec?: string; noresumeWritePages?: number },
  ): Promise<Booted> {
    const ctx = this.#ctx;
    if (ctx === undefined) throw new InfraError('the run is not set up');
    const k = await this.#prepared(o.kernelSpec ?? this.#opts.kernel);
    const fault = role === 'noresume' ? undefined : faultIn(this.#s.steps, from);
    const r = await runBoot(ctx, {
      n: this.#boots.length + 1,
      role,
      kernel: k.kernel,
      initrd: k.initrd,
      memPages: o.memPages ?? this.#s.machine.memPages,
      ...(o.noresumeWritePages === undefined ? {} : { noresumeWritePages: o.noresumeWritePages }),
      ...(fault === undefined ? {} : { fault }),
      readAtReturn: (console) => this.#read(console, undefined).facts,
    });
    this.#boots.push({
      role,
      consoleLog: r.logPath,
      args: r.args,
      verdict: r.report.verdict,
      seconds: r.durationMs / 1000,
    });
    if (role === 'first') this.#saveable ??= parseSaveable(r.fullConsole);
    if (role === 'first') this.#machine ??= parseMachine(r.fullConsole);
    if (role === 'first') this.#physpages ??= parsePhyspages(r.fullConsole);
    if (role === 'first') this.#checkSwapFile(r.fullConsole);
    this.#checkTarget(
      role,
      r.events.map((e) => e.ev),
    );
    // the original system went down in this boot (its last hibernation did not return): check the image it left
    const evs = r.events.map((e) => e.ev);
    const down = evs.lastIndexOf('hibernating') > evs.lastIndexOf('hibernateReturned');
    const writesHere = r.events
      .slice(0, evs.lastIndexOf('hibernating') + 1)
      .flatMap((e) => (e.ev === 'write' ? [e.pages] : []));
    const agent: AgentPages | undefined = down
      ? {
          id: scenarioIdHash(this.#s.id),
          seed: this.#s.seed,
          generations: anonGenerations(this.#s.workload.anon, [
            ...(role === 'first' ? [] : this.#writes),
            ...writesHere,
          ]),
        }
      : undefined;
    const atExit = down ? this.#read(r.fullConsole, agent) : this.#read('', undefined);
    if (down && this.#opts.keepImages === true) await this.#keepImage();
    return { facts: this.#facts(r, atExit), run: r };
  }

  #facts(r: BootRun, atExit: StorageRead): BootFacts {
    return {
      verdict: r.report.verdict,
      report: r.report,
      events: new AgentEvents(r.events),
      ...(r.fault === undefined ? {} : { fault: r.fault }),
      ...(r.powerLostAfterPages === undefined ? {} : { powerLostAfterPages: r.powerLostAfterPages }),
      storageAtReturn: r.storageAtReturn,
      storageAtExit: atExit.facts,
      statsAtExit: atExit.stats,
    };
  }

  /**
   * A swap file: the first boot's report must be the scenario's file (header at storage.offset, its size), else the
   * run is not the scenario's and the runner says so (never a substitute).
   */
  #checkSwapFile(console: string): void {
    if (this.#s.storage.kind !== 'swapFile' || this.#swapFile !== undefined) return;
    const r = swapFileReport(console);
    if (r === undefined)
      throw new InfraError('the guest made no swap file (no swapFile event: see the first boot log)');
    const bad = swapFileMismatch(r, this.#s.storage);
    if (bad !== undefined) throw new InfraError(`swap file: ${bad}`);
    this.#swapFile = r;
    this.#opts.log?.(`swap file: header at disk page ${r.header}, ${r.extents.length} extents`);
  }

  /**
   * The storage target of a boot whose init ran. FUSE: the first boot served the file. dm-crypt: the mapping was
   * opened (the scenario's key, or the wrong one at a resume), or at a resume without the key the init said
   * keyUnavailable. Anything else is not the scenario's run (InfraError).
   */
  #checkTarget(role: BootRole, evs: readonly string[]): void {
    // the FUSE target: the first boot's init served the file (a fuse event), else the agent would write elsewhere
    if (this.#s.storage.kind === 'fuseFile' && role === 'first' && evs.includes('init') && !evs.includes('fuse'))
      throw new InfraError('the guest did not serve the FUSE file (no fuse event from hibfused: see the boot log)');
    if (this.#s.storage.kind !== 'dmCrypt' || !evs.includes('init')) return;
    const missing = role === 'resume' && this.#s.storage.keyAtResume === 'missing';
    if (missing && !evs.includes('keyUnavailable'))
      throw new InfraError('the resume boot had no dm-crypt key but its init did not say keyUnavailable');
    if (!missing && !evs.includes('dmCrypt'))
      throw new InfraError('the guest did not open the dm-crypt volume (no dmCrypt event: see the boot log)');
  }

  /** The disk now: signed?, and a signed image checked against the guest's RAM (and the agent's pages). */
  #read(console: string, agent: AgentPages | undefined): StorageRead {
    // the first boot's saveable frames, or during the first boot (hibernateReturned) its console so far
    const ram = this.#saveable ?? parseSaveable(console);
    const physpages = this.#physpages ?? parsePhyspages(console);
    // during the first boot (hibernateReturned) the report is in its console so far; #checkSwapFile judges it after
    const file = this.#swapFile ?? (this.#s.storage.kind === 'swapFile' ? swapFileReport(console) : undefined);
    return readStorage(this.#disk, {
      devicePages: this.#diskPages,
      resumeOffset: this.#s.storage.offset,
      ...(this.#key === undefined ? {} : { key: this.#key }),
      ...(file === undefined ? {} : { file: file.extents }),
      check: {
        ram,
        ...(physpages === undefined ? {} : { physpages }),
        ...(agent === undefined ? {} : { agent }),
      },
    });
  }

  async #keepImage(): Promise<void> {
    const copy = join(this.#opts.workDir, `image-${this.#images.length + 1}.img`);
    await copySparse(this.#disk, copy);
    this.#images.push(copy);
  }

  /** Flip one bit of an image page, located by the image parser; false when there is no such page. */
  #corrupt(st: Extract<Step, { op: 'corrupt' }>): boolean {
    const dev = new Uint8Array(readFileSync(this.#disk));
    const r = corruptImagePage(
      dev,
      { region: st.region, index: st.index, bit: st.bit },
      { devicePages: this.#diskPages, resumeOffset: this.#s.storage.offset },
    );
    if (!r.ok) return false;
    const { hit } = r;
    const off = hit.devicePage * PAGE_SIZE + hit.byteOffset;
    const fd = openSync(this.#disk, 'r+');
    try {
      writeSync(fd, Buffer.from([r.bytes[off] ?? 0]), 0, 1, off);
    } finally {
      closeSync(fd);
    }
    this.#opts.log?.(
      `corrupt: ${st.region}[${hit.index}] device page ${hit.devicePage} byte ${hit.byteOffset} mask ${hit.mask}`,
    );
    return true;
  }

  #timeHibernation(r: BootRun): void {
    const start = r.events.find((e) => e.ev === 'hibernating')?.t;
    const off = r.lines.find((l) => l.text.includes('reboot: Power down'))?.t;
    if (start === undefined) return;
    this.#timings.snapshotWrite = ((off ?? r.durationMs) - start) / 1000;
    this.#timings.poweroff = off === undefined ? 0 : (r.durationMs - off) / 1000;
  }

  #timeResume(r: BootRun): void {
    const resuming = r.events.find((e) => e.ev === 'resuming')?.t;
    const returned = r.events.find((e) => e.ev === 'hibernateReturned')?.t;
    const verify = r.events.find((e) => e.ev === 'verify');
    if (resuming !== undefined) this.#timings.resumeBoot = resuming / 1000;
    if (resuming !== undefined && returned !== undefined) this.#timings.load = (returned - resuming) / 1000;
    if (verify?.ev === 'verify') this.#timings.verify = verify.ms / 1000;
  }
}

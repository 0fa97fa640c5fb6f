// The real-kernel backend contract (after syzkaller's vmimpl Pool/Instance): every way hibfuzz boots a kernel
// (Debian 6.1/6.12 swsusp, the kexec-jump kernel, any kernel hibfuzz built, a user's bzImage) is one Backend in the
// registry (backends.ts), with an identity, declared capabilities and run(scenario) -> RealRun.
//
// Contract:
// - run() throws only InfraError (the host's trouble). What the kernel did is data: the observation (facts in
//   spec/outcome.ts, never an invariant name) and one BootSummary per boot. Which of it is a finding is decided
//   once, by spec/verdict.ts judgeRealRun().
// - supports() is checked before any work: a scenario a backend cannot run as written is unsupported, with the
//   reason; it is never run on a substitute (another storage kind, another compressor, a real hibernation instead
//   of a pm_test abort).
// - modelScenario() is the scenario the model predicts for this kernel, derived from its identity (the kernel line's
//   behaviour, the guest's measured baseline), for every backend, user kernels included.
import type { BootSummary, KernelLine, Observation, ProtocolKind, Scenario } from '../spec/index.ts';

// keep-sorted start
export const CAPABILITIES = [
  'dmCrypt',
  'ext4',
  'fuse',
  'hibernation',
  'hibernationSnapshotDev',
  'kallsyms',
  'kexecJump',
  'lz4',
  'lzo',
  'modules',
  'pmDebug',
] as const;
// keep-sorted end
/**
 * What a kernel can do that a scenario may need (CONFIG_HIBERNATION, _SNAPSHOT_DEV, KEXEC_JUMP, LZ4/LZO, PM_DEBUG; the
 * storage targets' EXT4_FS, DM_CRYPT, FUSE_FS; KALLSYMS: a task dump with symbols, from which a hang's cause is named).
 */
export type Capability = (typeof CAPABILITIES)[number];

/** Where the capabilities were read: the kernel's .config, or declared by a backend that builds the kernel. */
export type CapabilitySource = 'config' | 'probe';

export interface KernelIdentity {
  /** the --kernel spec as given (debian-6.1, kjump-6.12, /path/bzImage) */
  readonly spec: string;
  /** exact version for reports: the Debian package version, or the build label */
  readonly version: string;
  /** `uname -r` (read from the bzImage's version string) */
  readonly release: string;
  /** the swsusp behaviour the model predicts (6.1 or 6.12) */
  readonly line: KernelLine;
  /** the protocol this backend runs */
  readonly protocol: ProtocolKind;
  /** content hashes: sha256 of the bzImage, the modules tree listing+contents, the .config, the patch set */
  readonly bzImageSha256: string;
  readonly modulesSha256?: string;
  readonly configSha256?: string;
  readonly patchSetSha256?: string;
  readonly capabilities: readonly Capability[];
  readonly capabilitySource: CapabilitySource;
  /** pages the guest uses for itself on this kernel (measured: GUEST_BASELINE for Debian lines, a calibration run
   * for any other kernel, vm/baseline.ts) */
  readonly baseline?: GuestBaseline;
}

/** Pages a real guest saves besides the agent's: counted by the model as slab (data) and zero pages. */
export interface GuestBaseline {
  readonly slab: number;
  readonly zero: number;
  /** where the figure comes from */
  readonly source: string;
}

export type ImageCountPolicy =
  | {
      readonly tolerancePages: number;
      /** zero pages of the guest's own that the model predicts as data pages (it has no kernel-owned zero page) */
      readonly kernelZeroPages?: number;
    }
  | { readonly notCompared: string };

export type Support = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** One boot of a run, as the verdict and the reports need it. */
export interface BootRecord extends BootSummary {
  /** first, noresume, resume (swsusp); a, c (kjump) */
  readonly role: string;
  readonly consoleLog: string;
  readonly seconds: number;
}

export interface RealRun {
  readonly identity: KernelIdentity;
  readonly observation: Observation;
  readonly boots: readonly BootRecord[];
  /** seconds per phase */
  readonly timings: Readonly<Record<string, number>>;
  readonly artifacts: { readonly dir: string; readonly disk: string };
}

export interface BackendRunOptions {
  /** per-run directory: disk image, console logs, qemu args */
  readonly workDir: string;
  readonly timeoutMs?: number;
  readonly log?: (line: string) => void;
  /** restore booted guests from snapshots where the backend can */
  readonly fast?: boolean;
}

export interface Backend {
  readonly spec: string;
  /** resolve (download or build) the kernel once and describe it; InfraError when it cannot be had */
  identity(): Promise<KernelIdentity>;
  /** what can be refused without the kernel (the protocol, the runner's envelope): checked before identity(), so
   * an unsupported scenario never costs a download or a build */
  precheck(s: Scenario): Support;
  supports(s: Scenario, id: KernelIdentity): Support;
  modelScenario(s: Scenario, id: KernelIdentity): Scenario;
  /**
   * How the image's page counts are compared with the model's: within a tolerance (the measured spread of the
   * guest's own memory), or not at all, with the reason (reported in every result).
   */
  imageCounts(s: Scenario, id: KernelIdentity): ImageCountPolicy;
  run(s: Scenario, id: KernelIdentity, opts: BackendRunOptions): Promise<RealRun>;
}

// The backend registry: a --kernel spec -> the Backend that runs it (vm/backend.ts has the contract).
//   debian-6.1, debian-6.12   swsusp on Debian's linux-image-*-amd64-unsigned (vm/run.ts)
//   kjump-6.12[-patched]      the 2007 protocol on the kexec-jump kernel built from linux-source-6.12 (vm/kjump/)
//   PATH/bzImage              swsusp on a kernel built elsewhere (a gate build, a user's tree), modules optional
import { PAGES_FOR_IO } from '../spec/brand.ts';
import type { KernelLine, Scenario } from '../spec/index.ts';
import type {
  Backend,
  BackendRunOptions,
  Capability,
  GuestBaseline,
  ImageCountPolicy,
  KernelIdentity,
  RealRun,
  Support,
} from './backend.ts';
import { measureBaseline } from './baseline.ts';
import { InfraError, isInfraError } from './errors.ts';
import { type KernelFacts, kernelFacts, kernelLineOf } from './identity.ts';
import { isDebianLine, resolveKernel } from './kernels.ts';
import { ensureKjumpKernel, JUMP_BACK_PATCH, kernelLabel } from './kjump/build.ts';
import { KJUMP_SAVE_KERNEL_NEED_PAGES, planScenario } from './kjump/plan.ts';
import { type KjumpRunOptions, runKjumpScenario } from './kjump/run.ts';
import { MIN_VM_MEM_PAGES, vmSupports } from './plan.ts';
import { runScenarioInVm } from './run.ts';

// keep-sorted start
export const KJUMP_KERNELS = ['kjump-6.12', 'kjump-6.12-patched'] as const;
// keep-sorted end
export type KjumpKernelSpec = (typeof KJUMP_KERNELS)[number];
export const isKjumpKernel = (k: string): k is KjumpKernelSpec => (KJUMP_KERNELS as readonly string[]).includes(k);

/**
 * Pages a real Debian guest uses besides the agent's workload (kernel, its allocations, the initramfs), measured from
 * the images of the shipped 512 MiB scenarios (`hibfuzz vm suite --kernel debian-6.1 --kernel debian-6.12 --json F`,
 * 2026-12-01, real count minus the agent's pages): 6.1.192-3 saves 37 207-37 211 data pages for 16 384 agent pages,
 * 6.12 30 676-30 727 data pages and 2 761-2 769 zero pages of its own (6.6+ flags zero pages in the PFN list).
 * The model has no kernel-owned zero page, so it counts both as slab (they weigh on the half-of-RAM limit alike) and
 * the comparison moves `zero` of its predicted data pages to zero pages (spec/verdict.ts kernelZeroPages).
 */
export const GUEST_BASELINE = {
  '6.1': { slab: 20827, zero: 0 },
  '6.12': { slab: 14301, zero: 2768 },
} as const satisfies Record<KernelLine, { slab: number; zero: number }>;

/**
 * How far a real image's data/zero/meta page counts may lie from the model's: the spread of the guest's own memory
 * between runs of one kernel (measured above: at most 51 pages between the shipped scenarios of one line), with a
 * margin of 2.5x. A difference larger than this is a divergence.
 */
export const IMAGE_TOLERANCE_PAGES = 128;

/**
 * Pages the swap-file guest saves besides GUEST_BASELINE: the ext4, jbd2, mbcache, crc16 and crc32c_generic modules
 * and the mounted filesystem's own memory (vm/swapfile.ts), measured as the data-page difference of
 * vm/scenarios/swapfile-clean-cycle.json against the model with GUEST_BASELINE (`hibfuzz vm run --json`, 2026-12-02).
 */
export const SWAPFILE_GUEST_EXTRA = { '6.1': 777, '6.12': 552 } as const satisfies Record<KernelLine, number>;

/**
 * Pages the dm-crypt guest saves besides GUEST_BASELINE (dm_mod, dm_crypt, ecb, xts, the mapping's mempools and
 * workqueues), measured as the data and zero page differences of vm/scenarios/dmcrypt-clean-cycle.json against the
 * model with GUEST_BASELINE (`hibfuzz vm run --json`, 2026-12-02: 6.1.192-3 579 data pages; 6.12.117 191 data and
 * 406 zero pages, which 6.6+ flags).
 */
export const DMCRYPT_GUEST_EXTRA = {
  '6.1': { data: 579, zero: 0 },
  '6.12': { data: 191, zero: 406 },
} as const satisfies Record<KernelLine, { data: number; zero: number }>;

/** Storage targets whose own guest memory (storageGuestExtra) is measured on the Debian lines only: refused elsewhere. */
const MEASURED_ON_DEBIAN: Partial<
  Record<Scenario['storage']['kind'], { readonly what: string; readonly table: string; readonly modules: string }>
> = {
  swapFile: { what: "the filesystem's own memory", table: 'SWAPFILE_GUEST_EXTRA', modules: 'ext4 module' },
  dmCrypt: { what: "the mapping's own memory", table: 'DMCRYPT_GUEST_EXTRA', modules: 'dm-crypt modules' },
};

/**
 * The driver a storage target needs in the guest kernel: built in (=y) or a module its modules tree holds (=m);
 * init loads the modules it needs (vm/initramfs.ts), a built-in driver needs none.
 */
const STORAGE_CAPABILITY = {
  swapPartition: undefined,
  swapFile: 'ext4',
  dmCrypt: 'dmCrypt',
  fuseFile: 'fuse',
} as const satisfies Record<Scenario['storage']['kind'], Capability | undefined>;

/** The storage target's own memory in the guest (data pages, and zero pages the kernel flags), by kind and line. */
export function storageGuestExtra(s: Scenario, line: KernelLine): { readonly data: number; readonly zero: number } {
  if (s.storage.kind === 'swapFile') return { data: SWAPFILE_GUEST_EXTRA[line], zero: 0 };
  if (s.storage.kind === 'dmCrypt') return DMCRYPT_GUEST_EXTRA[line];
  return { data: 0, zero: 0 };
}

/** The scenario the model predicts for a Debian-style guest: the kernel's line, the guest's own memory, PAGES_FOR_IO. */
export function guestModelScenario(
  s: Scenario,
  line: KernelLine,
  baseline: { readonly slab: number; readonly zero: number } = GUEST_BASELINE[line],
): Scenario {
  if (s.protocol.kind !== 'swsusp') return s;
  const w = s.workload;
  const used = w.anon + w.zero + w.pageCacheClean + w.pageCacheDirty + w.slab + w.kernelText + w.dma;
  const room = Math.max(0, s.machine.memPages - 1024 - used);
  const real = s.machine.memPages >= MIN_VM_MEM_PAGES;
  const extra = storageGuestExtra(s, line);
  const fs = extra.data + extra.zero;
  const own = real ? Math.min(baseline.slab + baseline.zero + fs, room) : 0;
  // a real kernel reserves PAGES_FOR_IO whatever the machine (the model scales it down below 128 MiB)
  const pagesForIo = s.protocol.pagesForIo ?? (real ? PAGES_FOR_IO : undefined);
  if (own === 0 && s.protocol.kernel === line && pagesForIo === s.protocol.pagesForIo) return s;
  return {
    ...s,
    workload: { ...w, slab: w.slab + own },
    protocol: { ...s.protocol, kernel: line, ...(pagesForIo === undefined ? {} : { pagesForIo }) },
  };
}

const no = (reason: string): Support => ({ ok: false, reason });
const has = (id: KernelIdentity, c: Capability) => id.capabilities.includes(c);

/** undefined when the kernel has the capability; otherwise unsupported, saying why and how the answer was known. */
function needs(id: KernelIdentity, c: Capability, why: string): Support | undefined {
  if (has(id, c)) return undefined;
  const src =
    id.capabilitySource === 'config'
      ? `${id.version} is built without it`
      : `${id.version} has no known .config (give one next to the bzImage)`;
  return no(`${why} needs ${c}: ${src}`);
}

/**
 * An image_size below what the guest saves makes the kernel reclaim, and besides the scenario's page cache it frees
 * memory of its own the model counts as unreclaimable slab (measured with image_size 0 on the 512 MiB guest: 590
 * pages on 6.1.192-3, about 270 on 6.12.117): such a scenario is refused rather than predicted wrong.
 */
function imageSizeSupport(imageSizePages: number | undefined, s: Scenario, id: KernelIdentity): Support | undefined {
  if (imageSizePages === undefined) return undefined;
  const b = id.baseline ?? GUEST_BASELINE[id.line];
  const w = s.workload;
  const saved = w.anon + w.zero + w.pageCacheClean + w.pageCacheDirty + w.slab + w.kernelText + b.slab + b.zero;
  if (imageSizePages >= saved + IMAGE_TOLERANCE_PAGES) return undefined;
  return no(
    `protocol.imageSizePages ${imageSizePages} < the guest's image (about ${saved} pages): the kernel would reclaim memory of its own that the model does not have`,
  );
}

/** What a swsusp scenario needs of the kernel, checked against its identity: unsupported, never substituted. */
export function swsuspSupport(s: Scenario, id: KernelIdentity): Support {
  const base = vmSupports(s);
  if (!base.ok) return base;
  if (s.protocol.kind !== 'swsusp') return no('not a swsusp scenario');
  const need = (c: Capability, why: string) => needs(id, c, why);
  const checks: (Support | undefined)[] = [need('hibernation', 'hibernation')];
  if (s.protocol.compression === 'lz4') {
    checks.push(
      hibernateLz4(id.release)
        ? need('lz4', 'protocol.compression lz4')
        : no(`protocol.compression lz4: ${id.release} has no hibernate.compressor parameter (6.9+): it writes LZO`),
    );
  }
  if (s.protocol.compression === 'lzo') checks.push(need('lzo', 'protocol.compression lzo'));
  if (s.protocol.interface === 'uswsusp') checks.push(need('hibernationSnapshotDev', 'protocol.interface uswsusp'));
  const measured = MEASURED_ON_DEBIAN[s.storage.kind];
  if (measured !== undefined && !isDebianLine(id.spec)) {
    checks.push(
      no(
        `storage.kind ${s.storage.kind}: ${measured.what} is measured on debian-6.1 and debian-6.12 only (${measured.table}), and ${id.spec} may have no ${measured.modules}`,
      ),
    );
  }
  const driver = STORAGE_CAPABILITY[s.storage.kind];
  if (driver !== undefined) checks.push(need(driver, `storage.kind ${s.storage.kind}`));
  // the freezer on a FUSE file: the writer hangs, and the verdict needs the hang's cause, which the console names
  // from the task dump's symbols (vm/console/tasks.ts); without them the hang has no cause and could never pass
  if (s.storage.kind === 'fuseFile' && s.protocol.interface === 'uswsusp')
    checks.push(
      need('kallsyms', 'storage.kind fuseFile with protocol.interface uswsusp (a hang named from the task dump)'),
    );
  checks.push(imageSizeSupport(s.protocol.imageSizePages, s, id));
  for (const [i, st] of s.steps.entries()) {
    if (st.op === 'hibernate' && st.abortAt !== undefined && st.abortAt !== 'testResume')
      checks.push(need('pmDebug', `steps[${i}].abortAt ${st.abortAt} (/sys/power/pm_test)`));
    if (st.op === 'resume' && st.kernel !== undefined && !isDebianLine(id.spec))
      checks.push(no(`steps[${i}].kernel ${st.kernel}: a kernel given as a path resumes with itself`));
  }
  return checks.find((c) => c !== undefined) ?? { ok: true };
}

/** Wrap a runner: only InfraError leaves a backend; anything else is a runner bug, never a kernel finding. */
async function guarded<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (isInfraError(e)) throw e;
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw new InfraError(`${what}: ${msg.split('\n')[0] ?? ''}`);
  }
}

const identityOf = (spec: string, version: string, f: KernelFacts, protocol: 'kexec' | 'swsusp'): KernelIdentity => ({
  spec,
  version,
  release: f.release,
  line: kernelLineOf(f.release),
  protocol,
  bzImageSha256: f.bzImageSha256,
  ...(f.modulesSha256 !== undefined ? { modulesSha256: f.modulesSha256 } : {}),
  ...(f.configSha256 !== undefined ? { configSha256: f.configSha256 } : {}),
  capabilities: f.capabilities,
  capabilitySource: f.capabilitySource,
});

/** Where a kernel given as a path finds its modules and .config (CLI --modules, --config). */
export interface KernelFiles {
  readonly modules?: string;
  readonly config?: string;
  /** predict with this guest baseline instead of calibrating the kernel (the gate: the candidate gets the base's) */
  readonly baseline?: GuestBaseline;
}

function swsuspBackend(spec: string, files: KernelFiles): Backend {
  return {
    spec,
    imageCounts: (s, id) =>
      s.protocol.kind === 'kexec'
        ? kjumpImageCounts(s)
        : id.baseline === undefined
          ? { notCompared: `no measured guest baseline for ${id.version} (its calibration run did not hibernate)` }
          : {
              tolerancePages: IMAGE_TOLERANCE_PAGES,
              kernelZeroPages:
                s.machine.memPages >= MIN_VM_MEM_PAGES ? id.baseline.zero + storageGuestExtra(s, id.line).zero : 0,
            },
    identity: () =>
      guarded(`kernel ${spec}`, async () => {
        const k = await resolveKernel(spec, files);
        const f = await kernelFacts(k.bzImage, k.modulesDir, k.config === undefined ? {} : { config: k.config });
        const id = identityOf(spec, k.version, withHibernateLz4(f), 'swsusp');
        if (isDebianLine(spec)) {
          return {
            ...id,
            baseline: { ...GUEST_BASELINE[id.line], source: 'measured per Debian line (GUEST_BASELINE)' },
          };
        }
        if (files.baseline !== undefined) return { ...id, baseline: files.baseline };
        const baseline = await measureBaseline(spec, id, { files });
        return baseline === undefined ? id : { ...id, baseline };
      }),
    precheck: (s) => (s.protocol.kind === 'swsusp' ? vmSupports(s) : kexecOnKernel(spec, files)(s)),
    supports: (s, id) => (s.protocol.kind === 'swsusp' ? swsuspSupport(s, id) : kexecOnKernel(spec, files, id)(s)),
    modelScenario: (s, id) =>
      s.protocol.kind === 'kexec'
        ? kjumpModelScenario(s)
        : guestModelScenario(s, id.line, id.baseline ?? { slab: 0, zero: 0 }),
    run: (s, id, o) =>
      s.protocol.kind === 'kexec'
        ? guarded(`kjump runner (${spec})`, async () => {
            const k = await resolveKernel(spec, files);
            return runKjump(s, id, o, { kernel: { bzImage: k.bzImage, label: id.version } });
          })
        : guarded(`swsusp runner (${spec})`, async () => {
            const r = await runScenarioInVm(s, {
              kernel: spec,
              kernelFiles: files,
              workDir: o.workDir,
              ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
              ...(o.log === undefined ? {} : { log: o.log }),
              ...(o.fast === undefined ? {} : { fast: o.fast }),
            });
            return {
              identity: id,
              observation: r.observation,
              boots: r.artifacts.boots.map((b) => ({
                role: b.role,
                kind: b.verdict.kind,
                title: b.verdict.title,
                ...(b.verdict.cause === undefined ? {} : { cause: b.verdict.cause }),
                consoleLog: b.consoleLog,
                seconds: b.seconds,
              })),
              timings: r.timings,
              artifacts: { dir: o.workDir, disk: r.artifacts.disk },
            };
          }),
  };
}

/**
 * kjump-6.12[-patched]: Debian's 6.12 source with config.fragment and gate.fragment (the configuration every gate
 * build has, so the unpatched kernel is one build with the gate's base), built once and cached by content.
 */
function kjumpBackend(spec: KjumpKernelSpec): Backend {
  const patches = spec === 'kjump-6.12-patched' ? [JUMP_BACK_PATCH] : [];
  const build = () => ensureKjumpKernel({ patches, gate: true });
  return {
    spec,
    imageCounts: kjumpImageCounts,
    identity: () =>
      guarded(`kernel ${spec}`, async () => {
        const k = await build();
        const f = await kernelFacts(k.bzImage, undefined);
        return { ...identityOf(spec, kernelLabel(k), f, 'kexec'), patchSetSha256: k.patchSetSha256 };
      }),
    precheck: kjumpSupport(spec),
    supports: kjumpSupport(spec),
    modelScenario: kjumpModelScenario,
    run: (s, id, o) =>
      guarded(`kjump runner (${spec})`, async () => {
        const k = await build();
        return runKjump(s, id, o, { kernel: { bzImage: k.bzImage, label: kernelLabel(k) } });
      }),
  };
}

// with a resume step B saves all of A's RAM (a full dump the model does not make); otherwise the PFN list
const kjumpImageCounts = (s: Scenario): ImageCountPolicy =>
  s.steps.some((st) => st.op === 'resume')
    ? { notCompared: "with a resume the kjump save kernel dumps all of A's RAM; the model saves the PFN list only" }
    : { tolerancePages: 0 };

/** The model of a kexec scenario on the kjump guest: B's region is what the save kernel measurably needs. */
const kjumpModelScenario = (s: Scenario): Scenario =>
  s.protocol.kind === 'kexec'
    ? { ...s, protocol: { ...s.protocol, saveKernelNeedPages: KJUMP_SAVE_KERNEL_NEED_PAGES } }
    : s;

/** One kexec scenario through the kjump runner, on its own build (patches) or a prebuilt kernel. */
async function runKjump(
  s: Scenario,
  id: KernelIdentity,
  o: BackendRunOptions,
  kernel: Pick<KjumpRunOptions, 'kernel'>,
): Promise<RealRun> {
  const r = await runKjumpScenario(s, {
    artifactsDir: o.workDir,
    helper: kjumpHelper(s),
    ...kernel,
    ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
  });
  const timings: Record<string, number> = {};
  for (const [run, t] of Object.entries(r.timings)) for (const [k, v] of Object.entries(t)) timings[`${run}.${k}`] = v;
  return { identity: id, observation: r.observation, boots: r.boots, timings, artifacts: r.artifacts };
}

/**
 * A kexec scenario on a kernel given as a path: the kjump guest (no modules; the save kernel is the same bzImage) on
 * a kernel with KEXEC_JUMP and the guest's drivers built in, i.e. one built with vm/kjump/config.fragment (every gate
 * build). Debian's kernels have the guest's drivers as modules: kexec runs on kjump-6.12 instead.
 */
const kexecOnKernel =
  (spec: string, files: KernelFiles, id?: KernelIdentity) =>
  (s: Scenario): Support => {
    if (isDebianLine(spec))
      return no(`protocol kexec runs on kjump-6.12 or a kernel built with vm/kjump/config.fragment, not ${spec}`);
    if (files.modules !== undefined)
      return no(
        'protocol kexec: the kexec-jump guest loads no modules (give a kernel built with vm/kjump/config.fragment)',
      );
    const p = planScenario(s);
    if (!p.ok) return no(p.error);
    return (id === undefined ? undefined : needs(id, 'kexecJump', 'protocol kexec')) ?? { ok: true };
  };

/**
 * How B returns to A, per kexec scenario: the hibkj helper (own, works on stock 6.12) unless the scenario is about
 * the stock `kexec --load-jump-back-helper` (vm/kjump/scenarios/stock-helper.json).
 */
export const KJUMP_HELPER: Readonly<Record<string, 'own' | 'stock'>> = { 'kjump-stock-helper': 'stock' };
export const kjumpHelper = (s: Scenario): 'own' | 'stock' => KJUMP_HELPER[s.id] ?? 'own';

/** The kexec-jump runner's envelope (vm/kjump/plan.ts): all of it is known without building the kernel. */
const kjumpSupport =
  (spec: string) =>
  (s: Scenario): Support => {
    if (s.protocol.kind !== 'kexec') return no(`protocol ${s.protocol.kind} runs on the Debian kernels, not ${spec}`);
    const p = planScenario(s);
    return p.ok ? { ok: true } : no(p.error);
  };

/** The backend for a --kernel spec. A path is checked when its identity is read (InfraError if not a bzImage). */
export function openBackend(spec: string, files: KernelFiles = {}): Backend {
  if (isKjumpKernel(spec)) return kjumpBackend(spec);
  return swsuspBackend(spec, files);
}

/**
 * swsusp writes LZ4 only where the hibernate.compressor parameter exists (6.9+, kernel/power/hibernate.c
 * hibernate_compressor_param_set): a 6.1 kernel with CONFIG_CRYPTO_LZ4 still writes LZO. So `lz4` for hibernation
 * needs both.
 */
function withHibernateLz4(f: KernelFacts): KernelFacts {
  return hibernateLz4(f.release) ? f : { ...f, capabilities: f.capabilities.filter((c) => c !== 'lz4') };
}

function hibernateLz4(release: string): boolean {
  const [maj = 0, min = 0] = release.split(/[.-]/).map(Number);
  return maj > 6 || (maj === 6 && min >= 9);
}

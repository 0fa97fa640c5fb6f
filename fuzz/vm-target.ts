// `--target vm`: the campaign (campaign.ts, the same loop as the model's) on a real kernel through one backend
// (vm/backends.ts), up to `jobs` QEMUs at once, each run judged by fuzz/real-run.ts (spec/verdict.ts judgeRealRun).
// A finding is what judgeRealRun calls one: an unexplained invariant violation, a boot that did not end as planned,
// a divergence from the model. The host's trouble (InfraError, status error) is counted, never saved. Generated
// scenarios are first bent into what a real guest can be (vmize, vmizeKexec); shrinking keeps to that envelope and
// each candidate is one real run (a small budget: --shrink-evals, --shrink-budget).
import { join } from 'node:path';
import { defaultParts, type Parts, runAndJudge } from '../impl/index.ts';
import { type KernelLine, parseScenario, type Scenario, SWSUSP_ABORT_POINTS, type Violation } from '../spec/index.ts';
import type { Backend, KernelIdentity } from '../vm/backend.ts';
import { GUEST_BASELINE } from '../vm/backends.ts';
import { KJUMP_SAVE_KERNEL_NEED_PAGES } from '../vm/kjump/plan.ts';
import { corruptReadAlike } from '../vm/plan.ts';
import type { Shard } from './args.ts';
import { type CampaignProgress, type CampaignResult, type Finding, runCampaign } from './campaign.ts';
import { signatureOf } from './corpus.ts';
import { addRun } from './coverage.ts';
import { type RealResult, runReal } from './real-run.ts';
import { BOOT_TEST, DIFF_TEST } from './results.ts';
import { type Hit, modelReplayCommand, signatureTag, type Target, type TargetRun } from './target.ts';

/** The Debian line of a `--kernel` name (the model then predicts that line's swsusp profile). */
export function debianLine(kernel: string): KernelLine | undefined {
  return kernel === 'debian-6.1' ? '6.1' : kernel === 'debian-6.12' ? '6.12' : undefined;
}

/**
 * The machine every generated swsusp scenario runs on: the size the guest's own memory (vm/backends.ts
 * GUEST_BASELINE) was measured at. The baseline grows with RAM (memmap, the kernel's own tables): on 96 MiB the model
 * predicted ENOMEM where the kernel hibernated, on 256 MiB 5 000 data pages more than it wrote. One size also keeps the
 * fast-path snapshots (keyed by memory, disk size and command line, vm/fast.ts) to a handful per kernel.
 */
export const VM_GUEST_PAGES = 131072;
/** Swap: room for any image of that machine (at most ~half of RAM) with its metadata. */
export const VM_SWAP_PAGES = 65536;
/** A resume on another memory size: one smaller or one larger machine (the image is refused either way). */
export const VM_OTHER_MEM_PAGES = { smaller: 98304, larger: 163840 } as const;
/** Highest scheduled write fault: inside the shortest image a 512 MiB guest writes (an LZO stream included). */
export const VM_MAX_FAULT_WRITE = 1000;
/** Most pages a noresume boot writes to the swap area after its mkswap (dd of random pages under TCG takes time). */
export const VM_MAX_NORESUME_WRITE = 4096;
/** Slack below image_size for the guest's own memory besides the measured baseline (its spread, page tables). */
const RECLAIM_MARGIN = 4096;

/**
 * Pages the agent may fill on a guest of `line`: the kernel's default image_size (2/5 of RAM) less the guest's own
 * memory, so hibernate_preallocate_memory() never reclaims. Reclaim swaps out the guest's own anon pages: /proc/swaps
 * then shows slots in use that are no image's (read as SwapSlotsFreedOnError) and the NBD server counts the
 * swap-out writes as image writes (a fault at write 0 "fires" in reclaim); the model reclaims clean page cache only.
 */
export function agentRoom(line: KernelLine | undefined): number {
  const b = GUEST_BASELINE[line ?? '6.12'];
  return Math.floor((2 * VM_GUEST_PAGES) / 5) - b.slab - b.zero - RECLAIM_MARGIN;
}

const agentPages = (w: Scenario['workload']) => w.anon + w.zero + w.pageCacheClean + w.pageCacheDirty;

/**
 * Bend a generated scenario into what a real guest can be (vm/plan.ts agentWords: the agent fills anon, zero and page
 * cache pages; vm/run.ts sets no image_size and no PAGES_FOR_IO): swsusp on the measured 512 MiB machine, one CPU, no
 * e820 holes, a plain swap partition of VM_SWAP_PAGES, the workload's share of memory within agentRoom() (no slab,
 * kernel text or DMA the agent cannot make; its page cache is tmpfs, which reclaim cannot drop: the model's dirty
 * page cache), anon writes of at most the anon pages (the agent rewrites its own pages; the model would allocate new
 * ones, impl/steps.ts writeStep), write faults within VM_MAX_FAULT_WRITE, the line's own protocol profile, LZ4 only
 * where the kernel writes it, corruption of the regions both targets read alike, noresume boots that write nothing.
 * swsuspEnvelope() is the envelope (shrink candidates stay in it); vmSupports() has the last word.
 */
export function vmize(s: Scenario, minPages: number, line?: KernelLine, o: { readonly lz4?: boolean } = {}): Scenario {
  const memPages = Math.max(VM_GUEST_PAGES, minPages);
  const g = s.workload;
  // keep the workload's share of memory (a quarter of it: the guest's own memory takes the rest), within the room
  const share = memPages / s.machine.memPages / 4;
  const want = { anon: g.anon * share, zero: g.zero * share, pc: (g.pageCacheClean + g.pageCacheDirty) * share };
  const fit = Math.min(1, agentRoom(line) / Math.max(1, want.anon + want.zero + want.pc));
  const zero = Math.floor(want.zero * fit);
  const pageCacheDirty = Math.floor(want.pc * fit);
  // the scenario's writes need anon pages to rewrite
  const writes = Math.max(0, ...s.steps.map((st) => (st.op === 'write' ? st.pages : 0)));
  const anon = Math.max(Math.floor(want.anon * fit), Math.min(writes, agentRoom(line) - zero - pageCacheDirty));
  const w: Scenario['workload'] = { anon, zero, pageCacheClean: 0, pageCacheDirty, slab: 0, kernelText: 0, dma: 0 };
  const p = s.protocol;
  const iface = p.kind === 'swsusp' ? p.interface : 'sysfs';
  // through /dev/snapshot the agent writes the image itself, always uncompressed (vm/guest/agent.c SF_NOCOMPRESS_MODE)
  const asked = p.kind !== 'swsusp' ? 'lzo' : p.compression === 'lz4' && o.lz4 !== true ? 'lzo' : p.compression;
  const compression = iface === 'uswsusp' ? 'none' : asked;
  const protocol: Scenario['protocol'] = { kind: 'swsusp', kernel: line ?? '6.12', compression, interface: iface };
  const fault = (n: number | undefined) => (n === undefined ? undefined : Math.min(n, VM_MAX_FAULT_WRITE));
  const steps = s.steps.flatMap((st): Scenario['steps'] => {
    if (st.op === 'write') return w.anon > 0 ? [{ op: 'write', kind: 'anon', pages: Math.min(st.pages, w.anon) }] : [];
    if (st.op === 'hibernate') {
      const { dmaAfterStopPages: _d, ...rest } = st;
      if (iface === 'uswsusp') delete rest.abortAt;
      if (rest.abortAt !== undefined && !(SWSUSP_ABORT_POINTS as readonly string[]).includes(rest.abortAt)) {
        delete rest.abortAt;
      }
      if (rest.powerLossAfterWrite !== undefined) delete rest.ioErrorAtWrite;
      // the agent's own /dev/snapshot writer signs the header last: no write follows the signature; a torn LZO/LZ4
      // image fails to load with -EPERM ("PM: Error -1 resuming"), which the console classifier names no reason for
      if (iface === 'uswsusp' || compression !== 'none') delete rest.ioErrorAfterSignature;
      const pl = fault(rest.powerLossAfterWrite);
      const io = fault(rest.ioErrorAtWrite);
      return [
        {
          ...rest,
          ...(pl !== undefined ? { powerLossAfterWrite: pl } : {}),
          ...(io !== undefined ? { ioErrorAtWrite: io } : {}),
        },
      ];
    }
    // only regions both targets alter alike (vm/plan.ts corruptReadAlike); the others become a data flip
    if (st.op === 'corrupt') {
      return [{ ...st, region: corruptReadAlike(st, compression, 'swapPartition') ? st.region : 'data' }];
    }
    // a noresume boot that writes swap runs mkswap first (util-linux swapon rewrites the signature), on the model
    // (impl/steps.ts) and in the guest (vm/guest/init.sh); the guest's dd of random pages is bounded for time
    if (st.op === 'bootNoresume')
      return [{ ...st, writeStoragePages: Math.min(st.writeStoragePages, VM_MAX_NORESUME_WRITE) }];
    if (st.op === 'resume') {
      // a resume on another memory size keeps the direction of its difference
      const other =
        st.memPages !== undefined && st.memPages !== s.machine.memPages
          ? { memPages: st.memPages < s.machine.memPages ? VM_OTHER_MEM_PAGES.smaller : VM_OTHER_MEM_PAGES.larger }
          : {};
      const { memPages: _m, ...rest } = st;
      return [{ ...rest, ...other, e820Changed: false }];
    }
    return [st];
  });
  return {
    ...s,
    machine: { memPages, cpus: 1 },
    workload: w,
    protocol,
    storage: { kind: 'swapPartition', pages: VM_SWAP_PAGES, offset: 0, keyAtResume: 'same' },
    steps: steps.length > 0 ? steps : [{ op: 'hibernate' }],
  };
}

/** The envelope vmize() bends into: a shrink candidate outside it is not what a real guest of this kernel can be. */
export function swsuspEnvelope(s: Scenario, line: KernelLine, minPages: number): boolean {
  const p = s.protocol;
  if (p.kind !== 'swsusp' || p.kernel !== line || p.imageSizePages !== undefined || p.pagesForIo !== undefined) {
    return false;
  }
  if (p.interface === 'uswsusp' && p.compression !== 'none') return false;
  const w = s.workload;
  const other = Object.values(VM_OTHER_MEM_PAGES) as number[];
  return (
    s.machine.memPages === Math.max(VM_GUEST_PAGES, minPages) &&
    s.machine.cpus === 1 &&
    s.storage.pages === VM_SWAP_PAGES &&
    w.slab + w.kernelText + w.dma + w.pageCacheClean === 0 &&
    agentPages(w) <= agentRoom(line) &&
    s.steps.every((st) => {
      if (st.op === 'write') return st.pages <= w.anon;
      if (st.op === 'corrupt') return corruptReadAlike(st, p.compression, s.storage.kind);
      if (st.op === 'bootNoresume') return st.writeStoragePages <= VM_MAX_NORESUME_WRITE;
      if (st.op === 'resume') return st.memPages === undefined || other.includes(st.memPages);
      if (st.op !== 'hibernate') return true;
      if ((p.interface === 'uswsusp' || p.compression !== 'none') && st.ioErrorAfterSignature !== undefined)
        return false;
      return (st.ioErrorAtWrite ?? 0) <= VM_MAX_FAULT_WRITE && (st.powerLossAfterWrite ?? 0) <= VM_MAX_FAULT_WRITE;
    })
  );
}

/**
 * The kexec-jump kernel's envelope (vm/kjump/plan.ts): whole MiB of RAM (at least minPages), a save-kernel region of
 * at least 4096 pages, anon/zero writes before the one hibernate, abort only after the image is written, resumes on
 * the same machine. planScenario() has the last word.
 */

export function vmizeKexec(s: Scenario, minPages: number): Scenario {
  const memPages = Math.ceil(Math.max(s.machine.memPages, minPages) / 256) * 256;
  const scale = memPages / s.machine.memPages;
  // A holds only tagged anon and all-zero pages (vm/kjump/plan.ts refuses the other kinds rather than drop them)
  const w = {
    ...s.workload,
    anon: Math.floor((s.workload.anon * scale) / 4),
    zero: Math.floor((s.workload.zero * scale) / 4),
    pageCacheClean: 0,
    pageCacheDirty: 0,
    slab: 0,
    kernelText: 0,
    dma: 0,
  };
  const protocol: Scenario['protocol'] =
    s.protocol.kind === 'kexec'
      ? {
          ...s.protocol,
          // what the kexec-jump kernel implements: the region exchanged, a PFN list on B's command line
          reservation: 'exchange',
          handoff: 'pfnList',
          saveKernelPages: Math.max(s.protocol.saveKernelPages, 20480),
          saveKernelNeedPages: KJUMP_SAVE_KERNEL_NEED_PAGES,
        }
      : {
          kind: 'kexec',
          reservation: 'exchange',
          handoff: 'pfnList',
          saveKernelPages: 20480,
          saveKernelNeedPages: KJUMP_SAVE_KERNEL_NEED_PAGES,
          loaderPages: 16,
          zeroElision: true,
        };
  let hibernated = false;
  const steps: Scenario['steps'] = [];
  for (const st of s.steps) {
    if (st.op === 'write' && !hibernated) steps.push({ ...st, kind: st.kind === 'zero' ? 'zero' : 'anon' });
    else if (st.op === 'hibernate' && !hibernated) {
      hibernated = true;
      const { dmaAfterStopPages: _d, ...rest } = st;
      if (rest.abortAt !== undefined && rest.abortAt !== 'afterImageWritten') delete rest.abortAt;
      steps.push(rest);
    } else if (st.op === 'corrupt' && hibernated) steps.push(st);
    else if (st.op === 'resume' && hibernated) {
      steps.push({ op: 'resume', e820Changed: false });
      break;
    }
  }
  return {
    ...s,
    machine: { memPages, cpus: s.machine.cpus },
    workload: w,
    protocol,
    storage: {
      kind: 'swapPartition',
      pages: Math.max(s.storage.pages, memPages + 16384),
      offset: 0,
      keyAtResume: 'same',
    },
    steps: steps.length > 0 ? steps : [{ op: 'hibernate' }],
  };
}

/** Shrink defaults on a real kernel: each candidate is one real run (~5-15 s). */
export const VM_SHRINK_EVALS = 6;
export const VM_SHRINK_MS = 180_000;

export interface VmTargetOptions {
  readonly backend: Backend;
  readonly identity: KernelIdentity;
  /** smallest machine the backend boots (vm/plan.ts MIN_VM_MEM_PAGES; kjump MIN_MEM_MIB) */
  readonly minMemPages: number;
  readonly kernel: string;
  readonly jobs: number;
  readonly parts?: Parts;
  readonly plant?: string;
  readonly workRoot: string;
  readonly log: (line: string) => void;
  readonly shrinkEvals?: number;
  readonly shrinkMs?: number;
}

/** A machine a real guest of this backend can be: vmize()'s envelope (swsusp), or at least the smallest (kexec). */
export function realGuestFits(s: Scenario, id: KernelIdentity, minPages: number): boolean {
  if (id.protocol === 'swsusp') return swsuspEnvelope(s, id.line, minPages);
  return s.machine.memPages >= minPages;
}

/** One hit per invariant the real run violated unexpectedly, one for the boots, one for the differential. */
export function hitsOf(s: Scenario, r: RealResult): Hit[] {
  const tag = signatureTag('vm', s);
  const outcomes = r.real?.outcomes ?? [];
  const common = {
    outcomes,
    events: [],
    reasons: r.reasons,
    artifacts: r.workDir,
    ...(r.differences.length > 0 ? { differences: r.differences } : {}),
  };
  const excused = new Set(r.real?.predicted.map((p) => `${p.invariant}@${p.step ?? ''}`));
  const unexpected = (r.real?.invariants.flatMap((x) => x.violations) ?? []).filter(
    (v) => !excused.has(`${v.invariant}@${v.step ?? ''}`),
  );
  const byInv = new Map<string, Violation[]>();
  for (const v of unexpected) byInv.set(v.invariant, [...(byInv.get(v.invariant) ?? []), v]);
  const hits: Hit[] = [...byInv].map(([inv, vs]) => ({
    invariant: inv,
    verdict: 'violated',
    signature: signatureOf(inv, tag, vs[0]?.message ?? ''),
    violations: vs,
    ...common,
  }));
  const boot = r.reasons.filter((x) => x.startsWith('boot '));
  if (boot.length > 0) {
    hits.push({
      invariant: BOOT_TEST,
      verdict: 'violated',
      signature: signatureOf(BOOT_TEST, tag, boot.join('; ')),
      violations: [],
      ...common,
    });
  }
  if (r.differences.length > 0) {
    hits.push({
      invariant: DIFF_TEST,
      verdict: 'diverge',
      signature: signatureOf(DIFF_TEST, tag, r.differences.join('; ')),
      violations: [],
      ...common,
    });
  }
  return hits;
}

/** A real kernel as a campaign target: runReal through the backend, up to `jobs` runs at once. */
export function vmTarget(o: VmTargetOptions): Target {
  const parts = o.parts ?? defaultParts;
  const { backend, identity } = o;
  const kexec = identity.protocol === 'kexec';
  const runnable = (s: Scenario) => parseScenario(s).ok && backend.supports(s, identity).ok;
  let n = 0;
  const run = async (s: Scenario, ctx: Parameters<Target['run']>[1]): Promise<TargetRun> => {
    const k = ++n;
    const tag = `[vm ${ctx.worker}] ${ctx.purpose} run ${k}`;
    try {
      o.log(`${tag}: ${s.id} (${s.machine.memPages} pages, ${s.steps.map((x) => x.op).join(',')})`);
      const r = await runReal(backend, identity, s, { workDir: join(o.workRoot, `run-${k}`), parts, log: o.log });
      o.log(`${tag}: ${r.status}${r.reasons.length > 0 ? `: ${r.reasons.join('; ')}` : ''}`);
      if (r.model !== undefined && ctx.purpose !== 'shrink') {
        const m = runAndJudge(backend.modelScenario(s, identity), parts);
        if (m.ok) addRun(ctx.coverage, m.trace, m.observation, m.judgement);
      }
      switch (r.status) {
        case 'unsupported':
          return { status: 'skipped', reason: r.reasons[0] ?? 'unsupported' };
        case 'error':
          return { status: 'error', reason: r.reasons[0] ?? 'error' };
        case 'pass':
          return { status: 'pass' };
        case 'finding': {
          const hits = hitsOf(s, r);
          return hits.length > 0 ? { status: 'finding', hits } : { status: 'pass' };
        }
      }
    } catch (e) {
      // only InfraError leaves a backend (vm/backends.ts): the host's trouble, never saved as a finding
      const reason = (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? 'infra error';
      o.log(`${tag}: infrastructure error: ${reason}`);
      return { status: 'error', reason };
    }
  };
  return {
    kind: 'vm',
    jobs: Math.max(1, o.jobs),
    generated: (x) => {
      const lz4 = identity.capabilities.includes('lz4');
      const s = kexec ? vmizeKexec(x, o.minMemPages) : vmize(x, o.minMemPages, identity.line, { lz4 });
      return runnable(s) ? s : undefined;
    },
    replayed: (s) => (runnable(s) ? s : undefined),
    run,
    // the same finding signature on this kernel
    sameHit: (want, got) => want.invariant === got.invariant && want.signature === got.signature,
    shrink: {
      evals: o.shrinkEvals ?? VM_SHRINK_EVALS,
      ms: o.shrinkMs ?? VM_SHRINK_MS,
      admissible: (s) => runnable(s) && realGuestFits(s, identity, o.minMemPages),
    },
    where: ` on ${o.kernel}`,
    recordFields: { kernel: o.kernel, kernelVersion: identity.version },
    replayCommand: (file) =>
      `node bin/hibfuzz.mjs vm run ${file} --kernel ${o.kernel}  # model: ${modelReplayCommand(file, o.plant)}`,
  };
}

export interface VmCampaignOptions extends VmTargetOptions {
  readonly seed: number;
  readonly shard: Shard;
  readonly budgetMs?: number;
  readonly runs?: number;
  readonly corpusDir?: string;
  /** replayed before generation (default: the corpus; [] with --no-replay) */
  readonly replayDirs?: readonly string[];
  readonly maxMemPages: number;
  readonly onProgress?: (p: CampaignProgress) => void;
  readonly onFinding?: (f: Finding) => void;
  readonly shouldStop?: () => boolean;
}

export type VmCampaignResult = CampaignResult;

/** The campaign loop (campaign.ts) on a real kernel. */
export function runVmCampaign(o: VmCampaignOptions): Promise<VmCampaignResult> {
  return runCampaign({
    seed: o.seed,
    shard: o.shard,
    ...(o.budgetMs !== undefined ? { budgetMs: o.budgetMs } : {}),
    ...(o.runs !== undefined ? { runs: o.runs } : {}),
    ...(o.plant !== undefined ? { plant: o.plant } : {}),
    arb: { maxMemPages: o.maxMemPages, protocol: o.identity.protocol },
    target: vmTarget(o),
    ...(o.corpusDir !== undefined ? { corpusDir: o.corpusDir } : {}),
    replayDirs: o.replayDirs ?? (o.corpusDir !== undefined ? [o.corpusDir] : []),
    ...(o.onProgress !== undefined ? { onProgress: o.onProgress } : {}),
    ...(o.onFinding !== undefined ? { onFinding: o.onFinding } : {}),
    ...(o.shouldStop !== undefined ? { shouldStop: o.shouldStop } : {}),
  });
}

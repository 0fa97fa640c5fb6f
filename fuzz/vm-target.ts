// `--target vm`: run scenarios on a real kernel through vm/ (loaded dynamically: fuzz/ depends only on its public
// surface), up to `jobs` QEMUs at once, and compare each observation with the model's prediction.
// A finding is an unexplained invariant violation the kernel showed, or a model/kernel divergence.
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import fc from 'fast-check';
import { defaultParts, type Parts, runAndJudge } from '../impl/index.ts';
import { scenarioArb } from '../properties/arbitraries/scenario.ts';
import {
  compareObservations,
  describeOutcome,
  judge,
  type Observation,
  parseScenario,
  type Scenario,
  SWSUSP_ABORT_POINTS,
} from '../spec/index.ts';
import type { Shard } from './args.ts';
import type { CampaignResult, Finding } from './campaign.ts';
import { findingText, replayCommand } from './campaign.ts';
import {
  FINDING_FORMAT,
  type FindingRecord,
  findingName,
  readCorpus,
  saveFinding,
  signatureOf,
  updateFinding,
} from './corpus.ts';
import { addRun, newCoverage } from './coverage.ts';
import { DIFF_TEST } from './results.ts';
import { BATCH_SIZE, batchSeed, shardBatch } from './shard.ts';

/** What fuzz/ uses of vm/index.ts. */
export interface VmApi {
  readonly runScenarioInVm: (
    s: Scenario,
    opts: { kernel: string; workDir: string; log?: (line: string) => void },
  ) => Promise<{ readonly observation: Observation; readonly verdict: { readonly kind: string } }>;
  readonly vmSupports: (s: Scenario) => { readonly ok: boolean; readonly reason?: string };
  readonly MIN_VM_MEM_PAGES: number;
  readonly isInfraError: (e: unknown) => boolean;
  /** the protocol the runner executes (default swsusp: the Debian kernels) */
  readonly protocol?: 'kexec' | 'swsusp';
}

export type VmLoad = { ok: true; api: VmApi } | { ok: false; error: string };

/**
 * Import vm/ for `kernel`; one line when it is missing or fails to load. Debian kernels run swsusp scenarios
 * through vm/index.ts; `kjump-6.12[-patched]` runs kexec scenarios on the kexec-jump kernel through the runners of
 * differential.ts (vm/kjump/run.ts), with vm/kjump/plan.ts deciding what it supports.
 */
export async function loadVm(kernel = 'debian-6.12'): Promise<VmLoad> {
  try {
    const m = (await import('../vm/index.ts')) as unknown as VmApi;
    if (typeof m.runScenarioInVm !== 'function') return { ok: false, error: 'vm/index.ts has no runScenarioInVm' };
    if (!kernel.startsWith('kjump-')) return { ok: true, api: m };
    const d = await import('./differential.ts');
    const plan = await import('../vm/kjump/plan.ts');
    const runners = d.realRunners({});
    return {
      ok: true,
      api: {
        protocol: 'kexec',
        runScenarioInVm: async (s, o) => {
          const r = await runners.kjump(s, o.workDir, kernel === 'kjump-6.12-patched');
          return { observation: r.observation, verdict: { kind: r.boot === 'ok' ? 'pass' : r.boot } };
        },
        vmSupports: (s) => {
          const p = plan.planScenario(s);
          return p.ok ? { ok: true } : { ok: false, reason: p.error };
        },
        MIN_VM_MEM_PAGES: plan.MIN_MEM_MIB * 256,
        isInfraError: m.isInfraError,
      },
    };
  } catch (e) {
    return { ok: false, error: `cannot load vm/ for ${kernel}: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** The Debian line of a `--kernel` name (the model then predicts that line's swsusp profile). */
export function debianLine(kernel: string): '6.1' | '6.12' | undefined {
  return kernel === 'debian-6.1' ? '6.1' : kernel === 'debian-6.12' ? '6.12' : undefined;
}

/**
 * Pages the real guest uses besides the agent's workload (kernel, its allocations, the initramfs), measured from the
 * images of the shipped 512 MiB scenarios (docs/vm-results.md): 6.1 saves 37175 data pages for 16384 tagged ones,
 * 6.12 saves 30676 data + 2767 zero pages. The model counts them as slab so it predicts the half-of-RAM limit the
 * real kernel hits (e.g. ENOMEM on 96 MiB guests with a large fill).
 */
/** 96 MiB: the smallest guest vm/ runs (vm/plan.ts MIN_VM_MEM_PAGES). */
const GUEST_MIN_PAGES = 24576;
export const GUEST_BASELINE_PAGES = { '6.1': 20800, '6.12': 17000 } as const satisfies Record<'6.1' | '6.12', number>;

/**
 * The scenario the model predicts for a real kernel: swsusp's protocol.kernel set to the kernel's line, and the
 * guest's own memory added to the workload (it fits: the real guest runs it).
 */
export function modelScenarioFor(s: Scenario, kernel: string): Scenario {
  const line = debianLine(kernel);
  if (s.protocol.kind !== 'swsusp' || line === undefined) return s;
  const w = s.workload;
  const used = w.anon + w.zero + w.pageCacheClean + w.pageCacheDirty + w.slab + w.kernelText + w.dma;
  // Only machines a real guest can be (vm/plan.ts MIN_VM_MEM_PAGES) carry a real guest's baseline.
  const real = s.machine.memPages >= GUEST_MIN_PAGES;
  const baseline = real ? Math.max(0, Math.min(GUEST_BASELINE_PAGES[line], s.machine.memPages - 1024 - used)) : 0;
  if (baseline === 0 && s.protocol.kernel === line) return s;
  return { ...s, workload: { ...w, slab: w.slab + baseline }, protocol: { ...s.protocol, kernel: line } };
}

/**
 * Bend a generated scenario toward what a real kernel can run: swsusp on at least MIN_VM_MEM_PAGES, no e820
 * holes, a plain swap partition, no DMA workload, anon writes. vmSupports() has the last word.
 */
export function vmize(s: Scenario, minPages: number, line?: '6.1' | '6.12'): Scenario {
  const memPages = Math.max(s.machine.memPages, minPages);
  const scale = memPages / s.machine.memPages;
  const w = { ...s.workload, dma: 0 };
  // Keep the workload's share of memory (the page counts scale with RAM), within the guest's room.
  for (const k of Object.keys(w) as (keyof typeof w)[]) w[k] = Math.floor((w[k] * scale) / 4);
  // The model predicts the real kernel's line (6.1 stores zero pages, 6.12 elides them): protocol.kernel = line.
  const base: Scenario['protocol'] =
    s.protocol.kind === 'swsusp' && s.protocol.compression !== 'lz4'
      ? s.protocol
      : { kind: 'swsusp', kernel: '6.12', compression: 'lzo', interface: 'sysfs' };
  const protocol = base.kind === 'swsusp' && line !== undefined ? { ...base, kernel: line } : base;
  return {
    ...s,
    machine: { memPages, cpus: s.machine.cpus },
    workload: w,
    protocol,
    storage: {
      kind: 'swapPartition',
      pages: Math.max(s.storage.pages, Math.ceil(s.storage.pages * scale)),
      offset: 0,
      keyAtResume: 'same',
    },
    steps: s.steps.flatMap((st): Scenario['steps'] => {
      if (st.op === 'write') return [{ ...st, kind: 'anon' }];
      if (st.op === 'hibernate') {
        const { dmaAfterStopPages: _d, ...rest } = st;
        if (protocol.interface === 'uswsusp') delete rest.abortAt;
        if (rest.abortAt !== undefined && !(SWSUSP_ABORT_POINTS as readonly string[]).includes(rest.abortAt)) {
          delete rest.abortAt;
        }
        if (rest.powerLossAfterWrite !== undefined) delete rest.ioErrorAtWrite;
        return [rest];
      }
      if (st.op === 'resume') {
        // a resume on another memory size keeps its difference to the (scaled) machine
        const other =
          st.memPages !== undefined
            ? { memPages: Math.max(minPages, memPages + st.memPages - s.machine.memPages) }
            : {};
        return [{ ...st, ...other, e820Changed: false }];
      }
      return [st];
    }),
  };
}

interface QueueItem {
  readonly s: Scenario;
  readonly seed: number;
  readonly batch: number;
  readonly path: number;
}

/**
 * The kexec-jump kernel's envelope (vm/kjump/plan.ts): whole MiB of RAM (at least minPages), a save-kernel region of
 * at least 4096 pages, anon/zero writes before the one hibernate, abort only after the image is written, resumes on
 * the same machine. planScenario() has the last word.
 */
/** What the kjump save kernel (bzImage + initrd + working memory) needs in its region: 36 MiB (kexec-tools
 * refuses 32 MiB; vm/kjump/RESULTS.md). */
export const KJUMP_SAVE_KERNEL_PAGES = 9216;

export function vmizeKexec(s: Scenario, minPages: number): Scenario {
  const memPages = Math.ceil(Math.max(s.machine.memPages, minPages) / 256) * 256;
  const w = { ...s.workload };
  const scale = memPages / s.machine.memPages;
  for (const k of Object.keys(w) as (keyof typeof w)[]) w[k] = Math.floor((w[k] * scale) / 4);
  const protocol: Scenario['protocol'] =
    s.protocol.kind === 'kexec'
      ? {
          ...s.protocol,
          saveKernelPages: Math.max(s.protocol.saveKernelPages, 20480),
          saveKernelNeedPages: KJUMP_SAVE_KERNEL_PAGES,
        }
      : {
          kind: 'kexec',
          reservation: 'exchange',
          handoff: 'pfnList',
          saveKernelPages: 20480,
          saveKernelNeedPages: KJUMP_SAVE_KERNEL_PAGES,
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

export interface VmCampaignOptions {
  readonly api: VmApi;
  readonly kernel: string;
  readonly seed: number;
  readonly shard: Shard;
  readonly budgetMs?: number;
  readonly runs?: number;
  readonly jobs: number;
  readonly parts?: Parts;
  readonly plant?: string;
  readonly corpusDir?: string;
  readonly workRoot: string;
  readonly maxMemPages: number;
  readonly log: (line: string) => void;
  readonly onFinding?: (f: Finding) => void;
  readonly shouldStop?: () => boolean;
}

export interface VmCampaignResult extends CampaignResult {
  readonly infraErrors: readonly string[];
  readonly unsupported: number;
}

export async function runVmCampaign(o: VmCampaignOptions): Promise<VmCampaignResult> {
  const t0 = performance.now();
  const parts = o.parts ?? defaultParts;
  const coverage = newCoverage();
  const known = new Map<string, Finding>();
  const hit = new Set<string>();
  const infraErrors: string[] = [];
  let runs = 0;
  let pages = 0;
  let unsupported = 0;
  let firstFindingMs: number | undefined;
  if (o.corpusDir !== undefined) {
    const c = readCorpus(o.corpusDir);
    const byFile = new Map(c.scenarios.map((x) => [x.file, x.scenario]));
    for (const rec of c.findings) {
      const file = join(o.corpusDir, `${rec.name}.json`);
      const s = byFile.get(file);
      if (s !== undefined) known.set(rec.name, { record: rec, scenario: s, file, isNew: false, hits: 0 });
    }
  }
  const kexec = o.api.protocol === 'kexec';
  const arb = scenarioArb({ maxMemPages: o.maxMemPages, protocol: kexec ? 'kexec' : 'swsusp' });
  const line = debianLine(o.kernel);
  const bend = (x: Scenario) =>
    kexec ? vmizeKexec(x, o.api.MIN_VM_MEM_PAGES) : vmize(x, o.api.MIN_VM_MEM_PAGES, line);
  // Scenario queue: lazily generated, shard-owned batches (same seed space as the model campaign).
  let batchJ = 0;
  let queue: QueueItem[] = [];
  const next = (): QueueItem | undefined => {
    for (let guard = 0; guard < 50 && queue.length === 0; guard++) {
      const batch = shardBatch(o.shard, batchJ++);
      const seed = batchSeed(o.seed, batch) | 0;
      queue = fc
        .sample(arb, { seed, numRuns: BATCH_SIZE })
        .map((x, path) => {
          const p = parseScenario(x);
          return p.ok ? { s: bend(p.scenario), seed, batch, path } : undefined;
        })
        .filter((x): x is QueueItem => {
          if (x === undefined) return false;
          const ok = o.api.vmSupports(x.s).ok && parseScenario(x.s).ok;
          if (!ok) unsupported++;
          return ok;
        });
    }
    return queue.shift();
  };
  const deadline = o.budgetMs !== undefined ? t0 + o.budgetMs : Number.POSITIVE_INFINITY;
  const done = () =>
    runs >= (o.runs ?? Number.POSITIVE_INFINITY) ||
    performance.now() >= deadline ||
    (o.shouldStop?.() ?? false) ||
    infraErrors.length >= 3;

  const record = (
    s: Scenario,
    inv: string,
    verdict: 'violated' | 'diverge',
    message: string,
    extra: Partial<FindingRecord>,
    src: QueueItem,
  ) => {
    firstFindingMs ??= performance.now() - t0;
    const signature = signatureOf(inv, `vm:${s.protocol.kind}`, message);
    const name = findingName(inv, signature);
    hit.add(name);
    const old = known.get(name);
    if (old !== undefined) {
      old.hits++;
      old.record.count++;
      old.record.lastSeen = new Date().toISOString();
      if (o.corpusDir !== undefined) updateFinding(o.corpusDir, old.record);
      return;
    }
    const scenario: Scenario = { ...s, id: name, description: `${inv} on ${o.kernel} (from ${s.id})` };
    const file = o.corpusDir !== undefined ? join(o.corpusDir, `${name}.json`) : `${name}.json`;
    const stamp = new Date().toISOString();
    const rec: FindingRecord = {
      format: FINDING_FORMAT,
      name,
      invariant: inv,
      signature,
      target: 'vm',
      verdict,
      count: 1,
      kernel: o.kernel,
      ...(o.plant !== undefined ? { plant: o.plant } : {}),
      seed: src.seed,
      campaignSeed: o.seed,
      batch: src.batch,
      path: String(src.path),
      original: { id: s.id, memPages: s.machine.memPages, steps: s.steps.length },
      shrink: { evals: 0, accepted: 0 },
      violations: extra.violations ?? [],
      outcomes: extra.outcomes ?? [],
      events: extra.events ?? [],
      ...(extra.differences ? { differences: extra.differences } : {}),
      firstSeen: stamp,
      lastSeen: stamp,
      replay: `node bin/hibfuzz.mjs vm run ${file} --kernel ${o.kernel}  # model: ${replayCommand(file, o.plant)}`,
    };
    const saved =
      o.corpusDir !== undefined ? saveFinding(o.corpusDir, rec, scenario, findingText(rec, scenario)) : undefined;
    const f: Finding = { record: rec, scenario, ...(saved ? { file: saved } : {}), isNew: true, hits: 1 };
    known.set(name, f);
    o.onFinding?.(f);
  };

  const worker = async (w: number) => {
    while (!done()) {
      const item = next();
      if (item === undefined) return;
      const { s } = item;
      runs++;
      pages += s.machine.memPages;
      const n = runs;
      const model = runAndJudge(s, parts);
      if (model.ok) addRun(coverage, model.trace, model.observation, model.judgement);
      try {
        o.log(`[vm ${w}] run ${n}: ${s.id} (${s.machine.memPages} pages, ${s.steps.map((x) => x.op).join(',')})`);
        const r = await o.api.runScenarioInVm(s, {
          kernel: o.kernel,
          workDir: join(o.workRoot, `run-${n}`),
          log: o.log,
        });
        const j = judge(s, r.observation.violations);
        for (const v of j.unexpected) {
          record(
            s,
            v.invariant,
            'violated',
            v.message,
            { violations: [v], outcomes: r.observation.steps.map(describeOutcome) },
            item,
          );
        }
        if (model.ok) {
          const d = compareObservations(model.observation, r.observation);
          if (d.verdict === 'diverge') {
            record(
              s,
              DIFF_TEST,
              'diverge',
              d.differences.join('; '),
              {
                differences: d.differences,
                outcomes: r.observation.steps.map(describeOutcome),
                events: model.trace.events,
              },
              item,
            );
          }
        }
        o.log(`[vm ${w}] run ${n}: kernel verdict ${r.verdict.kind}, ${j.verdict}`);
      } catch (e) {
        if (o.api.isInfraError(e)) infraErrors.push((e as Error).message.split('\n')[0] ?? 'infra error');
        else {
          // BootError or an unexpected exception while the kernel ran: a finding about the kernel.
          record(
            s,
            'KernelBootsAndRuns',
            'violated',
            (e as Error).message.replace(/\d+/g, 'N'),
            {
              violations: [],
              outcomes: [(e as Error).message],
            },
            item,
          );
        }
      }
      await yieldToLoop();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.jobs) }, (_, w) => worker(w)));
  const findings = [...hit].map((n) => known.get(n)).filter((f): f is Finding => f !== undefined);
  return {
    runs,
    pages,
    replayed: { files: 0, failing: 0 },
    skipped: 0,
    invalid: [],
    findings,
    coverage,
    elapsedMs: performance.now() - t0,
    ...(firstFindingMs !== undefined ? { firstFindingMs } : {}),
    corpusErrors: [],
    infraErrors,
    unsupported,
  };
}

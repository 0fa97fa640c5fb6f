// `--target vm`: generated scenarios on a real kernel through one backend (vm/backends.ts), up to `jobs` QEMUs at
// once, each judged by fuzz/real-run.ts (spec/verdict.ts judgeRealRun). A finding is what judgeRealRun calls one:
// an unexplained invariant violation, a boot that did not end as planned, a divergence from the model. The host's
// trouble (InfraError, status error) is counted and reported, never saved to the corpus.
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import fc from 'fast-check';
import { defaultParts, type Parts, runAndJudge } from '../impl/index.ts';
import { scenarioArb } from '../properties/arbitraries/scenario.ts';
import { type KernelLine, parseScenario, type Scenario, SWSUSP_ABORT_POINTS } from '../spec/index.ts';
import type { Backend, KernelIdentity } from '../vm/backend.ts';
import { GUEST_BASELINE } from '../vm/backends.ts';
import { KJUMP_SAVE_KERNEL_NEED_PAGES } from '../vm/kjump/plan.ts';
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
import { type RealResult, runReal } from './real-run.ts';
import { BOOT_TEST, DIFF_TEST } from './results.ts';
import { BATCH_SIZE, batchSeed, shardBatch } from './shard.ts';

/** The Debian line of a `--kernel` name (the model then predicts that line's swsusp profile). */
export function debianLine(kernel: string): KernelLine | undefined {
  return kernel === 'debian-6.1' ? '6.1' : kernel === 'debian-6.12' ? '6.12' : undefined;
}

/**
 * The smallest machine a real guest of `line` can be for a workload: the agent's pages, the guest's own measured
 * baseline (vm/backends.ts GUEST_BASELINE) and PAGES_FOR_IO of slack, so the model never predicts a machine the
 * real guest cannot be.
 */
export function guestMinPages(w: Scenario['workload'], line: KernelLine | undefined, minPages: number): number {
  const b = GUEST_BASELINE[line ?? '6.12'];
  const used = w.anon + w.zero + w.pageCacheClean + w.pageCacheDirty + w.slab + w.kernelText;
  return Math.max(minPages, used + b.slab + b.zero + 2 * 1024);
}

/**
 * Bend a generated scenario toward what a real kernel can run: swsusp on at least MIN_VM_MEM_PAGES, no e820
 * holes, a plain swap partition, no DMA workload, anon writes. vmSupports() has the last word.
 */
export function vmize(s: Scenario, minPages: number, line?: KernelLine): Scenario {
  const scale = Math.max(s.machine.memPages, minPages) / s.machine.memPages;
  const w = { ...s.workload, dma: 0 };
  // Keep the workload's share of memory (the page counts scale with RAM), within the guest's room.
  for (const k of Object.keys(w) as (keyof typeof w)[]) w[k] = Math.floor((w[k] * scale) / 4);
  const memPages = Math.max(Math.ceil(s.machine.memPages * scale), guestMinPages(w, line, minPages));
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

export interface VmCampaignOptions {
  readonly backend: Backend;
  readonly identity: KernelIdentity;
  /** smallest machine the backend boots (vm/plan.ts MIN_VM_MEM_PAGES; kjump MIN_MEM_MIB) */
  readonly minMemPages: number;
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
  const kexec = o.identity.protocol === 'kexec';
  const arb = scenarioArb({ maxMemPages: o.maxMemPages, protocol: kexec ? 'kexec' : 'swsusp' });
  const bend = (x: Scenario) => (kexec ? vmizeKexec(x, o.minMemPages) : vmize(x, o.minMemPages, o.identity.line));
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
          const ok = o.backend.supports(x.s, o.identity).ok && parseScenario(x.s).ok;
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

  /** A finding of a real run under the kind that names it: an invariant, the boot, or the differential. */
  const recordResult = (s: Scenario, r: RealResult, src: QueueItem) => {
    const outcomes = r.real?.outcomes ?? [];
    const violated = r.real?.invariants.flatMap((x) => x.violations) ?? [];
    const excused = new Set(r.real?.predicted.map((p) => `${p.invariant}@${p.step ?? ''}`));
    const unexpected = violated.filter((v) => !excused.has(`${v.invariant}@${v.step ?? ''}`));
    for (const v of unexpected) record(s, v.invariant, 'violated', v.message, { violations: [v], outcomes }, src);
    const boot = r.reasons.filter((x) => x.startsWith('boot '));
    if (boot.length > 0) record(s, BOOT_TEST, 'violated', boot.join('; '), { outcomes }, src);
    if (r.differences.length > 0) {
      record(s, DIFF_TEST, 'diverge', r.differences.join('; '), { differences: r.differences, outcomes }, src);
    }
  };

  const worker = async (w: number) => {
    while (!done()) {
      const item = next();
      if (item === undefined) return;
      const { s } = item;
      runs++;
      pages += s.machine.memPages;
      const n = runs;
      try {
        o.log(`[vm ${w}] run ${n}: ${s.id} (${s.machine.memPages} pages, ${s.steps.map((x) => x.op).join(',')})`);
        const r = await runReal(o.backend, o.identity, s, { workDir: join(o.workRoot, `run-${n}`), parts, log: o.log });
        if (r.model !== undefined) {
          const m = runAndJudge(o.backend.modelScenario(s, o.identity), parts);
          if (m.ok) addRun(coverage, m.trace, m.observation, m.judgement);
        }
        if (r.status === 'unsupported') unsupported++;
        else if (r.status === 'error') infraErrors.push(r.reasons[0] ?? 'error');
        else if (r.status === 'finding') recordResult(s, r, item);
        o.log(`[vm ${w}] run ${n}: ${r.status}${r.reasons.length > 0 ? `: ${r.reasons.join('; ')}` : ''}`);
      } catch (e) {
        // only InfraError leaves a backend (vm/backends.ts): the host's trouble, never saved as a finding
        infraErrors.push((e instanceof Error ? e.message : String(e)).split('\n')[0] ?? 'infra error');
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

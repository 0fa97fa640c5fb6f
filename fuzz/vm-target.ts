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
}

export type VmLoad = { ok: true; api: VmApi } | { ok: false; error: string };

/** Import vm/index.ts; one line when it is missing or fails to load. */
export async function loadVm(): Promise<VmLoad> {
  try {
    const m = (await import('../vm/index.ts')) as unknown as VmApi;
    if (typeof m.runScenarioInVm !== 'function') return { ok: false, error: 'vm/index.ts has no runScenarioInVm' };
    return { ok: true, api: m };
  } catch (e) {
    return { ok: false, error: `cannot load vm/index.ts: ${(e as Error).message.split('\n')[0]}` };
  }
}

/**
 * Bend a generated scenario toward what a real kernel can run: swsusp on at least MIN_VM_MEM_PAGES, no e820
 * holes, a plain swap partition, no DMA workload, anon writes. vmSupports() has the last word.
 */
export function vmize(s: Scenario, minPages: number): Scenario {
  const memPages = Math.max(s.machine.memPages, minPages);
  const scale = memPages / s.machine.memPages;
  const w = { ...s.workload, dma: 0 };
  // Keep the workload's share of memory (the page counts scale with RAM), within the guest's room.
  for (const k of Object.keys(w) as (keyof typeof w)[]) w[k] = Math.floor((w[k] * scale) / 4);
  const protocol: Scenario['protocol'] =
    s.protocol.kind === 'swsusp' && s.protocol.compression !== 'lz4'
      ? s.protocol
      : { kind: 'swsusp', kernel: '6.12', compression: 'lzo', interface: 'sysfs' };
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
  const arb = scenarioArb({ maxMemPages: o.maxMemPages, protocol: 'swsusp' });
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
          return p.ok ? { s: vmize(p.scenario, o.api.MIN_VM_MEM_PAGES), seed, batch, path } : undefined;
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

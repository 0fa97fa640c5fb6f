// The one campaign loop, for every target (target.ts: the model in-process; vm-target.ts: a real kernel through a
// backend, up to `jobs` runs at once): replay the corpus first, then generate scenarios batch by batch from the
// seeded fast-check source (shard.ts), run and judge each, shrink every new finding within the target's budget, and
// save it (corpus.ts) deduplicated by (invariant, signature). The host's trouble (a target's `error`) is counted and
// reported, never saved; three in a row stop the campaign.
//
// Phases: open corpus → replay (corpus + seed dirs) → generate/run until budget, run count or stop → flush counts.
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import fc from 'fast-check';
import type { Parts } from '../impl/index.ts';
import { type ScenarioArbOptions, scenarioArb } from '../properties/arbitraries/scenario.ts';
import { parseScenario, type Scenario } from '../spec/index.ts';
import type { Shard } from './args.ts';
import {
  FINDING_FORMAT,
  type FindingRecord,
  findingName,
  readCorpus,
  saveFinding,
  signatureOf,
  updateFinding,
} from './corpus.ts';
import { type Coverage, newCoverage } from './coverage.ts';
import { BATCH_SIZE, batchSeed, shardBatch } from './shard.ts';
import { shrinkScenarioAsync } from './shrink.ts';

import { findingText, type Hit, modelTarget, type RunPurpose, type Target, type TargetRun } from './target.ts';

export { findingText };

export interface CampaignOptions {
  readonly seed: number;
  readonly shard: Shard;
  readonly budgetMs?: number;
  readonly runs?: number;
  /** the model's parts (a planted bug) */
  readonly parts?: Parts;
  readonly plant?: string;
  readonly arb: { readonly maxMemPages: number; readonly protocol?: 'kexec' | 'swsusp' };
  /** what the scenarios run on; default the model with `parts` */
  readonly target?: Target;
  /** where findings are saved (undefined: nothing is written) */
  readonly corpusDir?: string;
  /** directories whose scenarios are replayed before generation (the corpus first) */
  readonly replayDirs?: readonly string[];
  /** candidates run per new finding (default: the target's, model 3000) */
  readonly shrinkEvals?: number;
  /** stop at the first finding (bench: time to find) */
  readonly stopAfterFirst?: boolean;
  /** only findings of this invariant count as "first finding" (bench: time to find a plant's own bug) */
  readonly targetInvariant?: string;
  readonly onProgress?: (p: CampaignProgress) => void;
  readonly onFinding?: (f: Finding) => void;
  readonly shouldStop?: () => boolean;
  readonly now?: () => number;
}

export interface CampaignProgress {
  readonly phase: 'replay' | 'generate';
  readonly runs: number;
  readonly elapsedMs: number;
  readonly findings: number;
  readonly coverage: Coverage;
}

export interface Finding {
  readonly record: FindingRecord;
  readonly scenario: Scenario;
  /** the scenario file in the corpus */
  readonly file?: string;
  /** first found by this campaign (false: it was already in the corpus) */
  readonly isNew: boolean;
  /** hits during this campaign */
  hits: number;
}

export interface CampaignResult {
  /** generated runs (replays not included) */
  readonly runs: number;
  /** simulated memory of the generated runs, in pages (throughput in pages/s) */
  readonly pages: number;
  readonly replayed: { readonly files: number; readonly failing: number };
  /** runs the target could not set up (model: scenario does not fit), and generated scenarios that failed validation */
  readonly skipped: number;
  readonly invalid: readonly string[];
  /** scenarios the target cannot run at all (vm: not what a real guest can be), never run */
  readonly unsupported: number;
  /** the host's trouble, one line each: never findings */
  readonly infraErrors: readonly string[];
  /** three infrastructure errors in a row stopped the campaign */
  readonly stoppedByInfra: boolean;
  /** distinct findings hit by this campaign */
  readonly findings: readonly Finding[];
  readonly coverage: Coverage;
  readonly elapsedMs: number;
  readonly firstFindingMs?: number;
  /** corpus files that did not parse (reported, never fatal) */
  readonly corpusErrors: readonly string[];
}

/** Infrastructure errors in a row that stop a campaign. */
export const INFRA_ERRORS_IN_A_ROW = 3;

type Source =
  | { readonly kind: 'generated'; readonly seed: number; readonly batch: number; readonly path: string }
  | { readonly kind: 'replay'; readonly file: string };

interface Item {
  readonly s: Scenario;
  readonly src: Source;
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  const now = o.now ?? (() => performance.now());
  const target =
    o.target ??
    modelTarget({
      ...(o.parts !== undefined ? { parts: o.parts } : {}),
      ...(o.plant !== undefined ? { plant: o.plant } : {}),
      signature: signatureOf,
    });
  const t0 = now();
  const coverage = newCoverage();
  const known = new Map<string, Finding>();
  /** findings being shrunk (another worker's hits meanwhile: added when the record exists) */
  const pending = new Map<string, { hits: number; count: number }>();
  const hitThisCampaign = new Set<string>();
  const dirty = new Set<string>();
  const invalid: string[] = [];
  const corpusErrors: string[] = [];
  const infraErrors: string[] = [];
  let infraInARow = 0;
  let skipped = 0;
  let unsupported = 0;
  let runs = 0;
  let pages = 0;
  let replayedFiles = 0;
  let replayFailing = 0;
  let firstFindingMs: number | undefined;
  let lastFlush = t0;
  let lastProgress = t0;
  let lastYield = t0;

  if (o.corpusDir !== undefined) {
    const c = readCorpus(o.corpusDir);
    corpusErrors.push(...c.errors);
    const byFile = new Map(c.scenarios.map((x) => [x.file, x.scenario]));
    for (const rec of c.findings) {
      const file = join(o.corpusDir, `${rec.name}.json`);
      const s = byFile.get(file);
      if (s !== undefined) known.set(rec.name, { record: rec, scenario: s, file, isNew: false, hits: 0 });
    }
  }

  const flush = () => {
    if (o.corpusDir === undefined) return;
    for (const name of dirty) {
      const f = known.get(name);
      if (f !== undefined) updateFinding(o.corpusDir, f.record);
    }
    dirty.clear();
  };

  const deadline = o.budgetMs !== undefined ? t0 + o.budgetMs : Number.POSITIVE_INFINITY;
  const maxRuns = o.runs ?? Number.POSITIVE_INFINITY;
  const stopped = () => now() >= deadline || (o.shouldStop?.() ?? false) || infraInARow >= INFRA_ERRORS_IN_A_ROW;
  const done = () => runs >= maxRuns || stopped() || (o.stopAfterFirst === true && firstFindingMs !== undefined);

  /** Run one scenario on the target; counts the host's trouble (three in a row stop everything). */
  /** Count the host's trouble of a run (three in a row stop everything). */
  const noted = (r: TargetRun): TargetRun => {
    if (r.status === 'error') {
      infraErrors.push(r.reason);
      infraInARow++;
    } else if (r.status !== 'skipped') infraInARow = 0;
    return r;
  };
  /** Run one scenario on the target; synchronous when the target is (the model: no promise per run). */
  const runOn = (s: Scenario, purpose: RunPurpose, worker: number): TargetRun | Promise<TargetRun> => {
    const r = target.run(s, { coverage, purpose, worker });
    return r instanceof Promise ? r.then(noted) : noted(r);
  };

  /** Shrink a new finding on the target (each candidate one run) and build its record. */
  const newFinding = async (item: Item, h: Hit, name: string, worker: number): Promise<Finding> => {
    const { s, src } = item;
    let last = h;
    const fails = async (c: Scenario): Promise<boolean | undefined> => {
      const r = await runOn(c, 'shrink', worker);
      if (infraInARow >= INFRA_ERRORS_IN_A_ROW) return undefined;
      const got = r.status === 'finding' ? r.hits.find((x) => target.sameHit(h, x)) : undefined;
      if (got !== undefined) last = got;
      return got !== undefined;
    };
    const sh = await shrinkScenarioAsync(s, fails, {
      maxEvals: o.shrinkEvals ?? target.shrink.evals,
      ...(target.shrink.realign !== undefined ? { realign: target.shrink.realign } : {}),
      ...(target.shrink.admissible !== undefined ? { admissible: target.shrink.admissible } : {}),
      ...(target.shrink.ms !== undefined ? { deadline: Math.min(deadline, now() + target.shrink.ms) } : {}),
      now,
    });
    const shrunk: Scenario = {
      ...sh.scenario,
      id: name,
      description: `${h.invariant}${target.where} (shrunk from ${s.id}${src.kind === 'replay' ? ` in ${src.file}` : ''})`,
    };
    const file = o.corpusDir !== undefined ? join(o.corpusDir, `${name}.json`) : `${name}.json`;
    const stamp = new Date().toISOString();
    const record: FindingRecord = {
      format: FINDING_FORMAT,
      name,
      invariant: h.invariant,
      signature: h.signature,
      target: target.kind,
      verdict: h.verdict,
      count: 1,
      ...target.recordFields,
      ...(o.plant !== undefined ? { plant: o.plant } : {}),
      ...(src.kind === 'generated'
        ? {
            seed: src.seed,
            campaignSeed: o.seed,
            batch: src.batch,
            path: src.path,
            arb: { maxMemPages: o.arb.maxMemPages, ...(o.arb.protocol ? { protocol: o.arb.protocol } : {}) },
          }
        : { replayedFrom: src.file }),
      original: { id: s.id, memPages: s.machine.memPages, steps: s.steps.length },
      shrink: { evals: sh.evals, accepted: sh.accepted },
      violations: last.violations,
      outcomes: last.outcomes,
      events: last.events,
      ...(last.differences !== undefined ? { differences: last.differences } : {}),
      ...(last.reasons !== undefined ? { reasons: last.reasons } : {}),
      ...(last.artifacts !== undefined ? { artifacts: last.artifacts } : {}),
      firstSeen: stamp,
      lastSeen: stamp,
      replay: target.replayCommand(file),
    };
    const saved =
      o.corpusDir !== undefined ? saveFinding(o.corpusDir, record, shrunk, findingText(record, shrunk)) : undefined;
    return { record, scenario: shrunk, ...(saved ? { file: saved } : {}), isNew: true, hits: 1 };
  };

  const handleFinding = async (item: Item, hits: readonly Hit[], worker: number) => {
    if (o.targetInvariant === undefined || hits.some((h) => h.invariant === o.targetInvariant)) {
      firstFindingMs ??= now() - t0;
    }
    const generated = item.src.kind === 'generated';
    for (const h of hits) {
      const name = findingName(h.invariant, h.signature);
      hitThisCampaign.add(name);
      const old = known.get(name);
      if (old !== undefined) {
        old.hits++;
        if (generated) {
          old.record.count++;
          old.record.lastSeen = new Date().toISOString();
          dirty.add(name);
        }
        continue;
      }
      const p = pending.get(name);
      if (p !== undefined) {
        p.hits++;
        if (generated) p.count++;
        continue;
      }
      pending.set(name, { hits: 0, count: 0 });
      const f = await newFinding(item, h, name, worker);
      const extra = pending.get(name);
      pending.delete(name);
      if (extra !== undefined && extra.hits > 0) {
        f.hits += extra.hits;
        f.record.count += extra.count;
        dirty.add(name);
      }
      known.set(name, f);
      o.onFinding?.(f);
    }
  };

  const tick = async (phase: CampaignProgress['phase']) => {
    const t = now();
    if (t - lastProgress >= 250) {
      lastProgress = t;
      o.onProgress?.({ phase, runs, elapsedMs: t - t0, findings: hitThisCampaign.size, coverage });
    }
    if (t - lastFlush >= 1000) {
      lastFlush = t;
      flush();
    }
    if (t - lastYield >= 100) {
      lastYield = t;
      await yieldToLoop();
    }
  };

  // Phase 1: replay (corpus first, then seed directories), deterministic order; each file as written.
  const replay: Item[] = [];
  for (const dir of o.replayDirs ?? []) {
    let c: ReturnType<typeof readCorpus>;
    try {
      c = readCorpus(dir);
    } catch {
      continue;
    }
    if (dir !== o.corpusDir) corpusErrors.push(...c.errors);
    for (const { file, scenario } of c.scenarios) replay.push({ s: scenario, src: { kind: 'replay', file } });
  }
  let replayAt = 0;

  // Phase 2: generation, in shard-owned seeded batches (the same seed space for every target).
  const arb = scenarioArb({
    maxMemPages: o.arb.maxMemPages,
    ...(o.arb.protocol ? { protocol: o.arb.protocol } : {}),
  } satisfies ScenarioArbOptions);
  let batchJ = 0;
  let batch: { readonly inputs: unknown[]; readonly seed: number; readonly batch: number; path: number } | undefined;
  /** batches in a row with nothing the target can run: the generator cannot feed this target */
  let emptyBatches = 0;
  let ranInBatch = false;

  /** The next scenario to run (replay first), or undefined when the campaign is done. Synchronous: workers share it. */
  const next = (): Item | undefined => {
    while (replayAt < replay.length) {
      if (stopped()) return undefined;
      const it = replay[replayAt++] as Item;
      replayedFiles++;
      const s = target.replayed(it.s);
      if (s !== undefined) return s === it.s ? it : { s, src: it.src };
      unsupported++;
    }
    for (;;) {
      if (done()) return undefined;
      if (batch === undefined || batch.path >= batch.inputs.length) {
        emptyBatches = batch === undefined || ranInBatch ? 0 : emptyBatches + 1;
        if (emptyBatches >= 50) return undefined;
        ranInBatch = false;
        const b = shardBatch(o.shard, batchJ++);
        const seed = batchSeed(o.seed, b) | 0;
        batch = { inputs: fc.sample(arb, { seed, numRuns: BATCH_SIZE }), seed, batch: b, path: 0 };
      }
      const path = batch.path++;
      const p = parseScenario(batch.inputs[path]);
      if (!p.ok) {
        runs++;
        if (invalid.length < 20) invalid.push(`seed ${batch.seed} path ${path}: ${p.error}`);
        continue;
      }
      const s = target.generated(p.scenario);
      if (s === undefined) {
        unsupported++;
        continue;
      }
      ranInBatch = true;
      runs++;
      pages += s.machine.memPages;
      return { s, src: { kind: 'generated', seed: batch.seed, batch: batch.batch, path: String(path) } };
    }
  };

  const worker = async (w: number) => {
    for (let item = next(); item !== undefined; item = next()) {
      const phase = item.src.kind === 'replay' ? 'replay' : 'generate';
      const r0 = runOn(item.s, phase, w);
      const r = r0 instanceof Promise ? await r0 : r0;
      if (r.status === 'skipped') skipped++;
      else if (r.status === 'finding') {
        if (phase === 'replay') replayFailing++;
        await handleFinding(item, r.hits, w);
      }
      await tick(phase);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, target.jobs) }, (_, w) => worker(w)));
  flush();
  const findings = [...hitThisCampaign].map((n) => known.get(n)).filter((f): f is Finding => f !== undefined);
  return {
    runs,
    pages,
    replayed: { files: replayedFiles, failing: replayFailing },
    skipped,
    invalid,
    unsupported,
    infraErrors,
    stoppedByInfra: infraInARow >= INFRA_ERRORS_IN_A_ROW,
    findings,
    coverage,
    elapsedMs: now() - t0,
    ...(firstFindingMs !== undefined ? { firstFindingMs } : {}),
    corpusErrors,
  };
}

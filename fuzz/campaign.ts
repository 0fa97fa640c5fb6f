// A fuzz campaign on the reference model: replay the corpus first, then generate scenarios batch by batch from
// the seeded fast-check source (shard.ts), run and judge each, shrink every new failure, and save it (corpus.ts)
// deduplicated by (invariant, signature).
//
// Phases: open corpus → replay (corpus + seed dirs) → generate/run until budget, run count or stop → flush counts.
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import fc from 'fast-check';
import { defaultParts, type ModelRun, type Parts, runAndJudge } from '../impl/index.ts';
import { type ScenarioArbOptions, scenarioArb } from '../properties/arbitraries/scenario.ts';
import { describeOutcome, parseScenario, type Scenario, type Violation } from '../spec/index.ts';
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
import { addRun, type Coverage, newCoverage } from './coverage.ts';
import { writeFaultRealigner } from './realign.ts';
import { violationLines } from './replay.ts';
import { BATCH_SIZE, batchSeed, shardBatch } from './shard.ts';
import { shrinkScenario } from './shrink.ts';
import { printScenarioText } from './text.ts';

export interface CampaignOptions {
  readonly seed: number;
  readonly shard: Shard;
  readonly budgetMs?: number;
  readonly runs?: number;
  readonly parts?: Parts;
  readonly plant?: string;
  readonly arb: { readonly maxMemPages: number; readonly protocol?: 'kexec' | 'swsusp' };
  /** where findings are saved (undefined: nothing is written) */
  readonly corpusDir?: string;
  /** directories whose scenarios are replayed before generation (the corpus first) */
  readonly replayDirs?: readonly string[];
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
  /** runs the model could not set up (scenario does not fit), and generated scenarios that failed validation */
  readonly skipped: number;
  readonly invalid: readonly string[];
  /** distinct findings hit by this campaign */
  readonly findings: readonly Finding[];
  readonly coverage: Coverage;
  readonly elapsedMs: number;
  readonly firstFindingMs?: number;
  /** corpus files that did not parse (reported, never fatal) */
  readonly corpusErrors: readonly string[];
}

type Source =
  | { readonly kind: 'generated'; readonly seed: number; readonly batch: number; readonly path: string }
  | { readonly kind: 'replay'; readonly file: string };

export function replayCommand(file: string, plant: string | undefined): string {
  return `node bin/hibfuzz.mjs replay ${file}${plant !== undefined ? ` --plant ${plant}` : ''}`;
}

/** The text file stored next to a finding: scenario text form, verdict, violations, replay command. */
export function findingText(rec: FindingRecord, s: Scenario): string {
  const lines = [printScenarioText(s).trimEnd(), '', `# finding: ${rec.invariant} (${rec.target}, ${rec.verdict})`];
  if (rec.plant !== undefined) lines.push(`# plant: ${rec.plant}`);
  for (const [i, o] of rec.outcomes.entries()) lines.push(`# step ${i}: ${o}`);
  for (const v of rec.violations) lines.push(...violationLines(v, '# '));
  for (const d of rec.differences ?? []) lines.push(`# ${d}`);
  lines.push(`# replay: ${rec.replay}`);
  return `${lines.join('\n')}\n`;
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  const now = o.now ?? (() => performance.now());
  const parts = o.parts ?? defaultParts;
  const t0 = now();
  const coverage = newCoverage();
  const known = new Map<string, Finding>();
  const hitThisCampaign = new Set<string>();
  const dirty = new Set<string>();
  const invalid: string[] = [];
  const corpusErrors: string[] = [];
  let skipped = 0;
  let runs = 0;
  let pages = 0;
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

  const realign = writeFaultRealigner(parts);
  const stillFails = (inv: string) => (x: Scenario) => {
    const r = runAndJudge(x, parts);
    return r.ok && r.judgement.unexpected.some((v) => v.invariant === inv);
  };

  const handleFailure = (s: Scenario, run: ModelRun, src: Source) => {
    if (o.targetInvariant === undefined || run.judgement.unexpected.some((v) => v.invariant === o.targetInvariant)) {
      firstFindingMs ??= now() - t0;
    }
    const firstOf = new Map<string, Violation>();
    for (const v of run.judgement.unexpected) if (!firstOf.has(v.invariant)) firstOf.set(v.invariant, v);
    for (const [inv, v] of firstOf) {
      const signature = signatureOf(inv, s.protocol.kind, v.message);
      const name = findingName(inv, signature);
      hitThisCampaign.add(name);
      const old = known.get(name);
      if (old !== undefined) {
        old.hits++;
        if (src.kind === 'generated') {
          old.record.count++;
          old.record.lastSeen = new Date().toISOString();
          dirty.add(name);
        }
        continue;
      }
      const sh = shrinkScenario(s, stillFails(inv), o.shrinkEvals ?? 3000, realign);
      const shrunk: Scenario = {
        ...sh.scenario,
        id: name,
        description: `${inv} (shrunk from ${s.id}${src.kind === 'replay' ? ` in ${src.file}` : ''})`,
      };
      const final = runAndJudge(shrunk, parts);
      const fr = final.ok ? final : run;
      const file = o.corpusDir !== undefined ? join(o.corpusDir, `${name}.json`) : `${name}.json`;
      const stamp = new Date().toISOString();
      const record: FindingRecord = {
        format: FINDING_FORMAT,
        name,
        invariant: inv,
        signature,
        target: 'model',
        verdict: 'violated',
        count: 1,
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
        violations: fr.judgement.unexpected.filter((x) => x.invariant === inv),
        outcomes: fr.observation.steps.map(describeOutcome),
        events: fr.trace.events,
        firstSeen: stamp,
        lastSeen: stamp,
        replay: replayCommand(file, o.plant),
      };
      const saved =
        o.corpusDir !== undefined ? saveFinding(o.corpusDir, record, shrunk, findingText(record, shrunk)) : undefined;
      const f: Finding = { record, scenario: shrunk, ...(saved ? { file: saved } : {}), isNew: true, hits: 1 };
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

  // Phase 1: replay (corpus first, then seed directories), deterministic order.
  let replayedFiles = 0;
  let replayFailing = 0;
  for (const dir of o.replayDirs ?? []) {
    let c: ReturnType<typeof readCorpus>;
    try {
      c = readCorpus(dir);
    } catch {
      continue;
    }
    if (dir !== o.corpusDir) corpusErrors.push(...c.errors);
    for (const { file, scenario } of c.scenarios) {
      replayedFiles++;
      const r = runAndJudge(scenario, parts);
      if (!r.ok) {
        skipped++;
        continue;
      }
      addRun(coverage, r.trace, r.observation, r.judgement);
      if (r.judgement.verdict === 'violated') {
        replayFailing++;
        handleFailure(scenario, r, { kind: 'replay', file });
      }
      await tick('replay');
    }
  }

  // Phase 2: generation.
  const arb = scenarioArb({
    maxMemPages: o.arb.maxMemPages,
    ...(o.arb.protocol ? { protocol: o.arb.protocol } : {}),
  } satisfies ScenarioArbOptions);
  const deadline = o.budgetMs !== undefined ? t0 + o.budgetMs : Number.POSITIVE_INFINITY;
  const maxRuns = o.runs ?? Number.POSITIVE_INFINITY;
  const done = () =>
    runs >= maxRuns ||
    now() >= deadline ||
    (o.shouldStop?.() ?? false) ||
    (o.stopAfterFirst === true && firstFindingMs !== undefined);
  for (let j = 0; !done(); j++) {
    const batch = shardBatch(o.shard, j);
    const seed = batchSeed(o.seed, batch) | 0;
    const inputs = fc.sample(arb, { seed, numRuns: BATCH_SIZE });
    for (const [path, input] of inputs.entries()) {
      if (done()) break;
      runs++;
      const p = parseScenario(input);
      if (!p.ok) {
        if (invalid.length < 20) invalid.push(`seed ${seed} path ${path}: ${p.error}`);
        continue;
      }
      pages += p.scenario.machine.memPages;
      const r = runAndJudge(p.scenario, parts);
      if (!r.ok) {
        skipped++;
        continue;
      }
      addRun(coverage, r.trace, r.observation, r.judgement);
      if (r.judgement.verdict === 'violated') {
        handleFailure(p.scenario, r, { kind: 'generated', seed, batch, path: String(path) });
      }
      await tick('generate');
    }
  }
  flush();
  const findings = [...hitThisCampaign].map((n) => known.get(n)).filter((f): f is Finding => f !== undefined);
  return {
    runs,
    pages,
    replayed: { files: replayedFiles, failing: replayFailing },
    skipped,
    invalid,
    findings,
    coverage,
    elapsedMs: now() - t0,
    ...(firstFindingMs !== undefined ? { firstFindingMs } : {}),
    corpusErrors,
  };
}

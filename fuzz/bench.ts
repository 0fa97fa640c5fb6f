// `hibfuzz bench`: throughput of the reference model and the campaign engine. One result per line, each with at
// least name, pages (simulated 4 KiB pages processed), seconds, pagesPerSecond.
//   cycle:<size>     one kexec hibernate + resume with every invariant checked (runAndJudge), 1 / 16 / 64 GiB
//   cycles:<size>xN  N hibernate + resume cycles on one machine: what each further cycle costs in time and memory
//                    (rssMiB after the run; the trace keeps every cycle's snapshots until the monitors ran)
//   properties       runAndJudge on small generated scenarios (scenarioArb maxMemPages 1024), runs per second
//   campaign         `fuzz --target model` end to end (generation + run + checks), scenarios per second
//   timeToFind:NAME  median seconds over 3 seeds from campaign start to the first violation of the plant's own
//                    invariant (generation, run and checks; no shrinking, no corpus)
import fc from 'fast-check';
import { defaultParts, runAndJudge } from '../impl/index.ts';
import { PLANTS } from '../properties/__fixtures__/plants.ts';
import { estimateWrites, scenarioArb } from '../properties/arbitraries/scenario.ts';
import { initialMemory, parseScenario, type Scenario, type ScenarioInput, type StepOutcome } from '../spec/index.ts';
import { runCampaign } from './campaign.ts';

export interface BenchResult {
  readonly name: string;
  readonly pages: number;
  readonly seconds: number;
  readonly pagesPerSecond: number;
  readonly [extra: string]: unknown;
}

const GIB_PAGES = 262144;

/** A machine of `memPages` with ~50% anonymous memory and a realistic mix; storage fits the image. */
export function cycleScenario(memPages: number, cycles = 1): Scenario {
  const pct = (x: number) => Math.floor((memPages * x) / 100);
  const used = pct(50) + pct(5) + pct(10) + pct(5) + pct(5) + pct(2);
  const box = Math.min(4096, Math.floor(memPages / 16));
  const input: ScenarioInput = {
    version: 1,
    id: `bench-${memPages}`,
    seed: 7,
    machine: { memPages },
    workload: {
      anon: pct(50),
      zero: pct(5),
      pageCacheClean: pct(10),
      pageCacheDirty: pct(5),
      slab: pct(5),
      kernelText: pct(2),
    },
    // 4096-frame save kernel and loader (16 MiB each), or 1/16 of a smaller machine: at the quick bench's 64 MiB,
    // 4096 frames each left no room and every hibernation failed, so the row timed a failed cycle
    protocol: { kind: 'kexec', saveKernelPages: box, loaderPages: box },
    storage: { pages: estimateWrites(used) + 1024 },
    steps: Array.from({ length: cycles }, () => [{ op: 'hibernate' as const }, { op: 'resume' as const }]).flat(),
  };
  const p = parseScenario(input);
  if (!p.ok) throw new Error(`bench scenario invalid: ${p.error}`);
  return p.scenario;
}

const result = (name: string, pages: number, seconds: number, extra: Record<string, unknown> = {}): BenchResult => ({
  name,
  pages,
  seconds: Number(seconds.toFixed(4)),
  pagesPerSecond: seconds > 0 ? Math.round(pages / seconds) : 0,
  ...extra,
});

/** The first hibernate that did not power off, or resume that did not resume, as "op result"; undefined if none. */
export function incompleteStep(steps: readonly StepOutcome[]): string | undefined {
  for (const o of steps) {
    if (o.op === 'hibernate' && o.result !== 'poweredOff') return `hibernate ${o.result}`;
    if (o.op === 'resume' && o.result !== 'resumed') return `resume ${o.result}`;
  }
  return undefined;
}

/**
 * One hibernate + resume cycle with every invariant checked. Building the machine (placing the workload in
 * memPages frames) is set-up, timed separately as `bootSeconds`.
 */
export function benchCycle(memPages: number, cycles = 1): BenchResult {
  const s = cycleScenario(memPages, cycles);
  const tb = performance.now();
  const init = initialMemory(s);
  const bootSeconds = (performance.now() - tb) / 1000;
  if (!init.ok) throw new Error(`bench machine: ${init.error}`);
  const t0 = performance.now();
  const r = runAndJudge(s, defaultParts, { initial: init.memory });
  const seconds = (performance.now() - t0) / 1000;
  if (!r.ok) throw new Error(`bench cycle failed: ${r.error}`);
  // a throughput figure of a cycle that did not complete measures something else: refuse it (every cycle of a row:
  // storage holds one image, and each resumed kernel starts with every slot free)
  const incomplete = incompleteStep(r.observation.steps);
  if (incomplete !== undefined) throw new Error(`bench cycle did not complete: ${incomplete}`);
  const name = cycles === 1 ? `cycle:${memPages / GIB_PAGES}GiB` : `cycles:${memPages / GIB_PAGES}GiBx${cycles}`;
  return result(name, memPages * cycles, seconds, {
    bootSeconds: Number(bootSeconds.toFixed(4)),
    verdict: r.judgement.verdict,
    outcomes: r.observation.steps.map((o) =>
      o.op === 'hibernate' || o.op === 'resume' ? `${o.op}:${o.result}` : o.op,
    ),
    rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  });
}

/**
 * Property runs per second on small scenarios (generation excluded). A first, untimed batch warms the JIT up: a
 * property suite runs thousands of scenarios, so the steady state is what counts.
 */
export function benchProperties(n: number): BenchResult {
  const inputs = fc.sample(scenarioArb({ maxMemPages: 1024 }), { seed: 42, numRuns: n });
  const batch = (): number => {
    let pages = 0;
    for (const x of inputs) {
      const p = parseScenario(x);
      if (!p.ok) continue;
      pages += p.scenario.machine.memPages;
      runAndJudge(p.scenario, defaultParts);
    }
    return pages;
  };
  batch();
  const t0 = performance.now();
  const pages = batch();
  const seconds = (performance.now() - t0) / 1000;
  return result('properties', pages, seconds, { runs: n, runsPerSecond: Math.round(n / seconds) });
}

export async function benchCampaign(budgetMs: number): Promise<BenchResult> {
  const r = await runCampaign({ seed: 1, shard: { k: 1, n: 1 }, budgetMs, arb: { maxMemPages: 4096 } });
  const seconds = r.elapsedMs / 1000;
  return result('campaign', r.pages, seconds, {
    runs: r.runs,
    scenariosPerSecond: Math.round(r.runs / seconds),
    findings: r.findings.length,
  });
}

export async function benchTimeToFind(plantNames: readonly string[], seeds: readonly number[], capMs: number) {
  const out: BenchResult[] = [];
  for (const name of plantNames) {
    const plant = PLANTS.find((p) => p.name === name);
    if (plant === undefined) continue;
    const times: number[] = [];
    let pages = 0;
    let runs = 0;
    let missed = 0;
    for (const seed of seeds) {
      const r = await runCampaign({
        seed,
        shard: { k: 1, n: 1 },
        budgetMs: capMs,
        arb: { maxMemPages: 4096 },
        parts: plant.parts,
        plant: name,
        stopAfterFirst: true,
        targetInvariant: plant.invariant,
        shrinkEvals: 0,
      });
      pages += r.pages;
      runs += r.runs;
      if (r.firstFindingMs === undefined) missed++;
      times.push((r.firstFindingMs ?? capMs) / 1000);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)] as number;
    out.push(
      result(`timeToFind:${name}`, pages, median, {
        invariant: plant.invariant,
        seeds: seeds.length,
        runsToFind: Math.round(runs / seeds.length),
        ...(missed > 0 ? { missed, capSeconds: capMs / 1000 } : {}),
        secondsPerSeed: times.map((t) => Number(t.toFixed(3))),
      }),
    );
  }
  return out;
}

/** Run the suite; `emit` gets each result as it is measured. */
export async function runBench(quick: boolean, emit: (r: BenchResult) => void): Promise<void> {
  benchCycle(16384); // warm-up (JIT), not reported
  for (const pages of quick ? [16384] : [GIB_PAGES, 16 * GIB_PAGES, 64 * GIB_PAGES]) emit(benchCycle(pages));
  if (!quick) emit(benchCycle(4 * GIB_PAGES, 8));
  emit(benchProperties(quick ? 50 : 2000));
  emit(await benchCampaign(quick ? 1000 : 10_000));
  const plants = quick ? ['pack-pfns-drops-last'] : PLANTS.map((p) => p.name);
  for (const r of await benchTimeToFind(plants, quick ? [1] : [1, 2, 3], quick ? 10_000 : 60_000)) emit(r);
}

// The gate's generated campaign (after the shipped scenarios, with what is left of --budget): scenarios generated
// from one seed, bent toward what a real guest can be (vm-target.ts vmize), the same ones on both kernels, in
// batches of --jobs until the budget would run out. Rows are classified like the shipped ones.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { scenarioArb } from '../properties/arbitraries/scenario.ts';
import { parseScenario, type Scenario } from '../spec/index.ts';
import type { Backend, KernelIdentity } from '../vm/backend.ts';
import { MIN_VM_MEM_PAGES } from '../vm/plan.ts';
import { scenarioJson } from './corpus.ts';
import type { CaseRuns, GateCase, GateSide, RunOptions } from './gate-run.ts';
import { runGateCases } from './gate-run.ts';
import { BATCH_SIZE, batchSeed } from './shard.ts';
import { vmize } from './vm-target.ts';

/** Generated machines stay at most this big (as `fuzz --target vm`). */
export const GATE_CAMPAIGN_MAX_MEM_PAGES = 65536;

/**
 * Room for the guest's own memory (the kernel's measured baseline) and PAGES_FOR_IO on every machine of the
 * scenario: else the model predicts a machine no real guest can be.
 */
function fits(s: Scenario, id: KernelIdentity): boolean {
  const w = s.workload;
  const own = (id.baseline?.slab ?? 0) + (id.baseline?.zero ?? 0);
  const need = Math.max(MIN_VM_MEM_PAGES, w.anon + w.zero + w.pageCacheClean + w.pageCacheDirty + w.slab + own + 2048);
  return (
    s.machine.memPages >= need &&
    s.steps.every((st) => st.op !== 'resume' || st.memPages === undefined || st.memPages >= MIN_VM_MEM_PAGES)
  );
}

/**
 * `count` generated swsusp scenarios both kernels can run as written, deterministic in `seed` (the same on both
 * kernels and on every rerun of the gate), each saved under `dir` so that its replay command names a file.
 */
export function campaignCases(
  seed: number,
  count: number,
  backend: Backend,
  id: KernelIdentity,
  dir: string,
  skip = 0,
): GateCase[] {
  const arb = scenarioArb({ maxMemPages: GATE_CAMPAIGN_MAX_MEM_PAGES, protocol: 'swsusp' });
  const out: GateCase[] = [];
  let seen = 0;
  for (let b = 0; out.length < count && b < 50; b++) {
    const inputs = fc.sample(arb, { seed: batchSeed(seed, b) | 0, numRuns: BATCH_SIZE });
    for (const [path, x] of inputs.entries()) {
      const p = parseScenario(x);
      if (!p.ok) continue;
      const s0 = vmize(p.scenario, MIN_VM_MEM_PAGES, id.line);
      const v = parseScenario(s0);
      if (!v.ok || !backend.supports(v.scenario, id).ok || !fits(v.scenario, id)) continue;
      if (seen++ < skip) continue;
      const s = { ...v.scenario, id: `gen-${seed}-${b}-${path}` };
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${s.id}.json`);
      writeFileSync(file, scenarioJson(s, file));
      out.push({ file, scenario: s, note: `generated: seed ${seed}, batch ${b}, path ${path}` });
      if (out.length >= count) break;
    }
  }
  return out;
}

export interface CampaignRun {
  readonly rows: CaseRuns[];
  readonly seconds: number;
}

/**
 * Batches of `jobs` generated cases on both kernels while the next batch is expected to fit in `remainingMs`
 * (`batchSeconds`: what a batch cost on the shipped cases: their wall time on both kernels per case, times jobs).
 */
export async function runGateCampaign(
  base: GateSide,
  cand: GateSide,
  seed: number,
  remainingMs: number,
  batchSeconds: number,
  o: RunOptions & { readonly dir: string },
): Promise<CampaignRun> {
  const t0 = performance.now();
  const rows: CaseRuns[] = [];
  const left = () => remainingMs - (performance.now() - t0);
  while (left() > batchSeconds * 1000) {
    const cases = campaignCases(seed, o.jobs, cand.backend, cand.id, o.dir, rows.length);
    if (cases.length === 0) break;
    const r = await runGateCases(base, cand, cases, { ...o, root: join(o.root, `g${rows.length}`) });
    rows.push(...r.rows);
  }
  return { rows, seconds: (performance.now() - t0) / 1000 };
}

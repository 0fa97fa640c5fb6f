// Gate runs: every case on the base kernel and on the candidate, QEMUs in parallel up to --jobs; base results cached
// by the base kernel's identity (a series of patches on one base runs the base once); rows that differ rerun twice on
// each kernel before they count.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Scenario } from '../spec/index.ts';
import type { Backend, KernelIdentity } from '../vm/backend.ts';
import { isInfraError } from '../vm/errors.ts';
import { atomicWrite, scenarioJson } from './corpus.ts';
import { compareRuns, healthKey, needsRerun, RERUNS, runHealth } from './gate-classify.ts';
import { REAL_RESULT_FORMAT, type RealResult, runReal } from './real-run.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface GateCase {
  readonly file: string;
  /** the scenario as run on both kernels */
  readonly scenario: Scenario;
  /** how the gate changed it, if it did (a resume kernel replaced by the kernel under test) */
  readonly note?: string;
}

/** A resume on another kernel cannot run on a kernel given as a path: both kernels resume with themselves. */
export function gateCase(file: string, s: Scenario): GateCase {
  const other = s.steps.flatMap((st, i) =>
    st.op === 'resume' && st.kernel !== undefined ? [`steps[${i}] ${st.kernel}`] : [],
  );
  if (other.length === 0) return { file, scenario: s };
  const steps = s.steps.map((st) =>
    st.op === 'resume' && st.kernel !== undefined ? { ...st, kernel: undefined } : st,
  );
  return {
    file,
    scenario: { ...s, steps: JSON.parse(JSON.stringify(steps)) as Scenario['steps'] },
    note: `resume kernel (${other.join(', ')}) replaced by the kernel under test: each kernel resumes its own image`,
  };
}

export interface GateSide {
  readonly role: 'base' | 'candidate';
  readonly backend: Backend;
  readonly id: KernelIdentity;
}

/** What the runner is: the hash of the code a real run goes through (a changed runner invalidates cached results). */
let runnerHashMemo: string | undefined;
export function runnerHash(): string {
  if (runnerHashMemo !== undefined) return runnerHashMemo;
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) {
        if (f !== 'testdata' && f !== 'node_modules') walk(p);
      } else if (/\.(ts|c|sh|json|fragment|patch)$/.test(f) && !/\.(test|vmtest)\.ts$/.test(f)) {
        h.update(p.slice(ROOT.length)).update(readFileSync(p));
      }
    }
  };
  for (const d of ['spec', 'impl', 'vm']) walk(join(ROOT, d));
  h.update(readFileSync(join(ROOT, 'fuzz/real-run.ts')));
  runnerHashMemo = h.digest('hex');
  return runnerHashMemo;
}

/** Base results cache: one file per (base kernel identity, scenario as run, baseline, runner). */
export class BaseCache {
  readonly #dir: string;
  readonly #id: KernelIdentity;
  constructor(dir: string, id: KernelIdentity) {
    this.#dir = dir;
    this.#id = id;
  }
  private path(s: Scenario, extra: string): string {
    const key = createHash('sha256')
      .update([this.#id.bzImageSha256, this.#id.configSha256 ?? '', runnerHash(), scenarioJson(s), extra].join('\n'))
      .digest('hex');
    return join(this.#dir, `${s.id}-${key.slice(0, 16)}.json`);
  }
  get(s: Scenario, extra: string): RealResult | undefined {
    const p = this.path(s, extra);
    if (!existsSync(p)) return undefined;
    const r = JSON.parse(readFileSync(p, 'utf8')) as RealResult;
    return r.format === REAL_RESULT_FORMAT ? r : undefined;
  }
  put(s: Scenario, extra: string, r: RealResult): void {
    if (r.status !== 'pass' && r.status !== 'finding') return;
    mkdirSync(this.#dir, { recursive: true });
    atomicWrite(this.path(s, extra), `${JSON.stringify(r)}\n`);
  }
}

/** Run tasks with at most `jobs` at a time, in order of submission. */
export async function pool<T>(jobs: number, tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      const t = tasks[i];
      if (t === undefined) return;
      out[i] = await t();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, tasks.length)) }, worker));
  return out;
}

/** A row that was not run: the host could not (error, never a finding), or the runner cannot (unsupported). */
export function notRun(
  status: 'error' | 'unsupported',
  s: Scenario,
  file: string,
  side: GateSide,
  line: string,
  workDir: string,
): RealResult {
  return {
    format: REAL_RESULT_FORMAT,
    scenario: s.id,
    file,
    kernel: {
      spec: side.id.spec,
      version: side.id.version,
      release: side.id.release,
      line: side.id.line,
      bzImageSha256: side.id.bzImageSha256,
      capabilities: side.id.capabilities,
    },
    status,
    reasons: [line],
    differences: [],
    timings: { modelMs: 0, realSeconds: 0, phases: {} },
    workDir,
  };
}

export interface RunOptions {
  readonly jobs: number;
  /** per-run directories go under here (kept short: QEMU's socket paths must stay under 108 bytes) */
  readonly root: string;
  readonly baseCache?: BaseCache;
  /** extra key for the base cache (the guest baseline the model predicted with) */
  readonly cacheExtra: string;
  readonly log?: (line: string) => void;
  /** after each run: progress */
  readonly onResult?: (side: GateSide, r: RealResult, cached: boolean) => void;
}

/** One run of a case on one side (attempt n: 0 first, 1.. reruns). Never throws for the host's trouble. */
async function runOne(side: GateSide, c: GateCase, n: number, idx: number, o: RunOptions): Promise<RealResult> {
  const cache = side.role === 'base' && n === 0 ? o.baseCache : undefined;
  const hit = cache?.get(c.scenario, o.cacheExtra);
  if (hit !== undefined) {
    o.onResult?.(side, hit, true);
    return hit;
  }
  const workDir = join(
    o.root,
    `${side.role === 'base' ? 'b' : 'c'}${String(idx).padStart(2, '0')}${n > 0 ? `r${n}` : ''}`,
  );
  mkdirSync(workDir, { recursive: true });
  let r: RealResult;
  try {
    r = await runReal(side.backend, side.id, c.scenario, {
      workDir,
      file: c.file,
      fast: false,
      ...(o.log !== undefined ? { log: o.log } : {}),
    });
  } catch (e) {
    if (!isInfraError(e)) throw e;
    r = notRun('error', c.scenario, c.file, side, (e as Error).message.split('\n')[0] ?? '', workDir);
  }
  cache?.put(c.scenario, o.cacheExtra, r);
  o.onResult?.(side, r, false);
  return r;
}

export interface CaseRuns {
  readonly case: GateCase;
  readonly base: readonly RealResult[];
  readonly candidate: readonly RealResult[];
}

export interface GatePhases {
  readonly rows: CaseRuns[];
  /** wall seconds of each phase: every case on the base, on the candidate, then the reruns of differing rows */
  readonly seconds: { readonly base: number; readonly candidate: number; readonly reruns: number };
}

/** Every case on the base, then on the candidate (each phase parallel up to jobs); then the reruns of differing rows. */
export async function runGateCases(
  base: GateSide,
  cand: GateSide,
  cases: readonly GateCase[],
  o: RunOptions,
): Promise<GatePhases> {
  const clock = () => performance.now() / 1000;
  const t0 = clock();
  const b = await pool(
    o.jobs,
    cases.map((c, i) => () => runOne(base, c, 0, i, o)),
  );
  const t1 = clock();
  const c = await pool(
    o.jobs,
    cases.map((x, i) => () => runOne(cand, x, 0, i, o)),
  );
  const t2 = clock();
  const rows = cases.map((x, i) => ({ case: x, base: [b[i] as RealResult], candidate: [c[i] as RealResult] }));
  const reruns: (() => Promise<void>)[] = [];
  for (const [i, row] of rows.entries()) {
    const [b0, c0] = [row.base[0], row.candidate[0]];
    if (b0 === undefined || c0 === undefined || !needsRerun(compareRuns(b0, c0))) continue;
    for (let n = 1; n <= RERUNS; n++) {
      reruns.push(async () => {
        row.base.push(await runOne(base, row.case, n, i, o));
      });
      reruns.push(async () => {
        row.candidate.push(await runOne(cand, row.case, n, i, o));
      });
    }
  }
  await pool(o.jobs, reruns);
  // a cached base result that its own reruns contradict (they agree with each other, not with it) was a one-off:
  // cache a rerun instead, so the next gate on this base does not start from it
  for (const row of rows) {
    const [b0, b1, b2] = row.base.map((r) => healthKey(runHealth(r)));
    const r1 = row.base[1];
    if (b1 !== undefined && b1 === b2 && b0 !== b1 && r1 !== undefined)
      o.baseCache?.put(row.case.scenario, o.cacheExtra, r1);
  }
  return { rows, seconds: { base: t1 - t0, candidate: t2 - t1, reruns: clock() - t2 } };
}

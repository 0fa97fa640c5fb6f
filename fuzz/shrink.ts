// Scenario shrinker: greedy delta debugging over a parsed scenario. Each accepted candidate is strictly smaller in
// the well-founded order `size()` (a lexicographic tuple of naturals), so shrinking terminates; it stops earlier
// when `maxEvals` candidates have been run.
import { parseScenario, type Scenario, type Step } from '../spec/index.ts';

/** Lexicographic size: fewer steps first, then less memory, workload, holes, storage, non-default fields, numbers. */
export function size(s: Scenario): number[] {
  const w = Object.values(s.workload).reduce((a, b) => a + b, 0);
  let nonDefault = 0;
  let nums = 0;
  const count = (o: object, defaults: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(o)) {
      if (k === 'kind' || k === 'op') continue;
      if (v !== undefined && defaults[k] !== v) nonDefault++;
      if (typeof v === 'number') nums += v;
    }
  };
  count(s.protocol, s.protocol.kind === 'kexec' ? KEXEC_DEFAULTS : SWSUSP_DEFAULTS);
  count(s.storage, { kind: 'swapPartition', offset: 0, keyAtResume: 'same' });
  for (const st of s.steps) count(st, STEP_DEFAULTS);
  if (s.storage.kind !== 'swapPartition') nonDefault++;
  if (s.seed !== 1) nonDefault++;
  if (s.machine.cpus !== 1) nonDefault++;
  return [s.steps.length, s.machine.memPages, w, s.machine.e820?.length ?? 0, s.storage.pages, nonDefault, nums];
}

export function smaller(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x !== y) return x < y;
  }
  return false;
}

const KEXEC_DEFAULTS: Record<string, unknown> = {
  reservation: 'exchange',
  handoff: 'pfnList',
  saveKernelPages: 16,
  loaderPages: 16,
  zeroElision: true,
};
const SWSUSP_DEFAULTS: Record<string, unknown> = { kernel: '6.12', compression: 'lzo', interface: 'sysfs' };
const STEP_DEFAULTS: Record<string, unknown> = { kind: 'anon', bit: 0, writeStoragePages: 0, e820Changed: false };

const halve = (x: number) => Math.floor(x / 2);

function scaleWorkload(s: Scenario, num: number, den: number): Scenario['workload'] {
  const w = { ...s.workload };
  // ceil: a kind in use stays in use (dropping it is a candidate of its own)
  for (const k of Object.keys(w) as (keyof typeof w)[]) w[k] = Math.ceil((w[k] * num) / den);
  return w;
}

function withStep(s: Scenario, i: number, st: Step): Scenario {
  return { ...s, steps: s.steps.map((x, j) => (j === i ? st : x)) };
}

function without<T extends object>(o: T, key: string): T {
  const c = { ...o } as Record<string, unknown>;
  delete c[key];
  return c as T;
}

/** Candidate simplifications of `s`, most aggressive first. Some may be invalid; the caller filters. */
export function* candidates(s: Scenario): Generator<Scenario> {
  // steps: drop one (later ones first: the failing step is usually early and its predecessors matter)
  for (let i = s.steps.length - 1; i >= 0; i--) {
    if (s.steps.length > 1) yield { ...s, steps: s.steps.filter((_, j) => j !== i) };
  }
  // memory: shrink RAM, workload and storage together (scaled) or RAM alone
  const m = s.machine.memPages;
  for (const target of new Set([64, halve(m), Math.floor((m * 3) / 4), m - 1])) {
    if (target >= m || target < 64) continue;
    const e820 = (s.machine.e820 ?? []).filter((e) => e.start + e.pages <= target);
    const machine = { ...without(s.machine, 'e820'), memPages: target, ...(e820.length > 0 ? { e820 } : {}) };
    const workload = scaleWorkload(s, target, m);
    const pages = Math.max(2, Math.floor((s.storage.pages * target) / m));
    yield { ...s, machine, workload, storage: { ...s.storage, pages, offset: Math.min(s.storage.offset, pages - 1) } };
    yield { ...s, machine, workload };
  }
  // workload: drop a kind, then halve it
  for (const k of Object.keys(s.workload) as (keyof Scenario['workload'])[]) {
    if (s.workload[k] > 0) yield { ...s, workload: { ...s.workload, [k]: 0 } };
    if (s.workload[k] > 1) yield { ...s, workload: { ...s.workload, [k]: halve(s.workload[k]) } };
  }
  // holes
  const holes = s.machine.e820 ?? [];
  if (holes.length > 0) yield { ...s, machine: without(s.machine, 'e820') };
  for (let i = 0; i < holes.length; i++) {
    yield { ...s, machine: { ...s.machine, e820: holes.filter((_, j) => j !== i) } };
  }
  // storage
  const st = s.storage;
  if (st.kind !== 'swapPartition') yield { ...s, storage: { ...st, kind: 'swapPartition', offset: 0 } };
  if (st.offset > 0) yield { ...s, storage: { ...st, offset: 0 } };
  if (st.keyAtResume !== 'same') yield { ...s, storage: { ...st, keyAtResume: 'same' } };
  for (const pages of new Set([halve(st.pages), Math.floor((st.pages * 7) / 8), st.pages - 1])) {
    if (pages >= 2 && pages < st.pages && st.offset < pages) yield { ...s, storage: { ...st, pages } };
  }
  // protocol fields: back to the default, or smaller
  const p = s.protocol as Record<string, unknown>;
  const defaults = s.protocol.kind === 'kexec' ? KEXEC_DEFAULTS : SWSUSP_DEFAULTS;
  for (const [k, v] of Object.entries(p)) {
    if (k === 'kind') continue;
    if (k in defaults && defaults[k] !== v)
      yield { ...s, protocol: { ...p, [k]: defaults[k] } as Scenario['protocol'] };
    if (!(k in defaults)) yield { ...s, protocol: without(p, k) as Scenario['protocol'] };
    if (typeof v === 'number' && v > 1) yield { ...s, protocol: { ...p, [k]: halve(v) } as Scenario['protocol'] };
  }
  // step fields
  for (const [i, step] of s.steps.entries()) {
    for (const [k, v] of Object.entries(step)) {
      if (k === 'op') continue;
      if (k in STEP_DEFAULTS) {
        if (STEP_DEFAULTS[k] !== v) yield withStep(s, i, { ...step, [k]: STEP_DEFAULTS[k] } as Step);
      } else if (step.op !== 'write' || k !== 'pages') yield withStep(s, i, without(step, k));
      if (typeof v === 'number' && v > 0) {
        for (const x of new Set([0, halve(v), v - 1])) {
          if (x < v) yield withStep(s, i, { ...step, [k]: x } as Step);
        }
      }
    }
  }
  if (s.seed !== 1) yield { ...s, seed: 1 };
  if (s.machine.cpus !== 1) yield { ...s, machine: { ...s.machine, cpus: 1 } };
}

export interface ShrinkResult {
  readonly scenario: Scenario;
  /** candidates run, and how many were accepted */
  readonly evals: number;
  readonly accepted: number;
}

/**
 * Extra variants of a candidate that failed to reproduce: the caller may re-aim write-indexed faults
 * (ioErrorAtWrite, powerLossAfterWrite) because a smaller machine writes fewer pages (realign.ts).
 */
export type Realign = (candidate: Scenario, from: Scenario) => Scenario[];

export interface ShrinkOptions {
  readonly maxEvals?: number;
  readonly realign?: Realign;
  /** candidates the predicate can judge at all (e.g. what a real guest can be); others are skipped, not run */
  readonly admissible?: (s: Scenario) => boolean;
}

/**
 * The shrinker as a coroutine: yields each candidate to run, receives whether it still fails (`undefined`: stop
 * now, e.g. a wall-clock cap), returns the result. Greedy: take the first smaller valid candidate that still fails,
 * restart from it; stop at a local minimum or after `maxEvals` runs. `start` is assumed to fail.
 */
export function* shrinkSteps(
  start: Scenario,
  o: ShrinkOptions = {},
): Generator<Scenario, ShrinkResult, boolean | undefined> {
  const maxEvals = o.maxEvals ?? 3000;
  const ok = (c: Scenario, curSize: number[]): Scenario | undefined => {
    const p = parseScenario(c);
    if (!p.ok || !smaller(size(p.scenario), curSize)) return undefined;
    return o.admissible === undefined || o.admissible(p.scenario) ? p.scenario : undefined;
  };
  let cur = start;
  let evals = 0;
  let accepted = 0;
  let progress = true;
  // a candidate stopped before its verdict (the caller's cap) was not evaluated
  const result = (n = evals) => ({ scenario: cur, evals: n, accepted });
  while (progress && evals < maxEvals) {
    progress = false;
    const curSize = size(cur);
    for (const c of candidates(cur)) {
      const cand = ok(c, curSize);
      if (cand === undefined) continue;
      evals++;
      const verdict = yield cand;
      if (verdict === undefined) return result(--evals);
      let hit = verdict ? cand : undefined;
      for (const v of hit === undefined && o.realign ? o.realign(cand, cur) : []) {
        const pv = evals < maxEvals ? ok(v, curSize) : undefined;
        if (pv === undefined) continue;
        evals++;
        const again = yield pv;
        if (again === undefined) return result(--evals);
        if (again) {
          hit = pv;
          break;
        }
      }
      if (hit !== undefined) {
        cur = hit;
        accepted++;
        progress = true;
        break;
      }
      if (evals >= maxEvals) break;
    }
  }
  return result();
}

/** Minimise `start` while `fails` holds (synchronous predicate: the model). */
export function shrinkScenario(
  start: Scenario,
  fails: (s: Scenario) => boolean,
  maxEvals = 3000,
  realign?: Realign,
): ShrinkResult {
  const g = shrinkSteps(start, { maxEvals, ...(realign !== undefined ? { realign } : {}) });
  let r = g.next();
  while (!r.done) r = g.next(fails(r.value));
  return r.value;
}

/**
 * Minimise `start` while the asynchronous `fails` holds (a real kernel: each candidate is one real run), within
 * `maxEvals` candidates and until `deadline` (performance.now() time): `fails` returning undefined stops too.
 */
export async function shrinkScenarioAsync(
  start: Scenario,
  fails: (s: Scenario) => Promise<boolean | undefined>,
  o: ShrinkOptions & { readonly deadline?: number; readonly now?: () => number } = {},
): Promise<ShrinkResult> {
  const now = o.now ?? (() => performance.now());
  const g = shrinkSteps(start, o);
  let r = g.next();
  while (!r.done) {
    const verdict = now() >= (o.deadline ?? Number.POSITIVE_INFINITY) ? undefined : await fails(r.value);
    r = g.next(verdict);
  }
  return r.value;
}

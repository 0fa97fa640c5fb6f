// The gate's verdict over one scenario run on the base kernel and on the candidate (pure): what each run said
// (invariants violated, boots that did not end as planned, divergences from the model), what flipped between them,
// and the class of the row. Also which files a patch touches, and whether the kexec scenarios must run.
import { isInvariantName } from '../spec/index.ts';
import type { RealResult } from './real-run.ts';

// keep-sorted start
export const GATE_CLASSES = ['error', 'fixed', 'flaky', 'pass', 'pre-existing', 'regression', 'unsupported'] as const;
// keep-sorted end
/**
 * regression: the base held (or agreed with the model) where the candidate does not; fixed: the reverse;
 * pre-existing: both fail the same way; flaky: the difference does not reproduce on reruns; pass: both held;
 * unsupported: a kernel cannot run it as written (with the reason); error: the host failed (never the kernel's doing).
 */
export type GateClass = (typeof GATE_CLASSES)[number];

/** What one real run said, as sets of keys that can be compared between kernels and between reruns. */
export interface RunHealth {
  /** invariants violated on the real run (a known design limit's included: it is still a violation) */
  readonly violated: readonly string[];
  /** boots that did not end as planned: `<role>: <verdict>` (and the kjump trouble kind) */
  readonly boots: readonly string[];
  /** divergences from the model, counts replaced by `#` (a count that moves within tolerance is not a change) */
  readonly diffs: readonly string[];
}

const uniq = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

/** `differential: step 1: model image dataPages 30617, vm 22160 (±512)` -> `step 1: model image dataPages #, vm # (±#)` */
export function diffKey(reason: string): string {
  const body = reason.replace(/^differential: /, '');
  const m = /^(step \d+: )(.*)$/.exec(body);
  return m === null ? body.replace(/\d+/g, '#') : `${m[1]}${(m[2] ?? '').replace(/\d+/g, '#')}`;
}

/** The first word of a boot title when it names a kind of trouble (kjump: `jumpBackHelperOom: ...`). */
const troubleKind = (title: string): string | undefined => /^([a-z][A-Za-z]+):/.exec(title)?.[1];

export function runHealth(r: RealResult): RunHealth {
  const violated = new Set<string>();
  const boots = new Set<string>();
  const diffs = new Set<string>();
  for (const j of r.real?.invariants ?? []) if (j.result === 'violated') violated.add(j.invariant);
  for (const p of r.real?.predicted ?? []) violated.add(p.invariant);
  for (const x of r.reasons) {
    const head = x.split(':')[0] ?? '';
    if (isInvariantName(head)) violated.add(head);
    else if (x.startsWith('differential: ')) diffs.add(diffKey(x));
  }
  for (const b of r.real?.boots ?? []) {
    if (b.kind === 'pass' || b.kind === 'invariantViolated') continue;
    const k = troubleKind(b.title);
    boots.add(`boot ${b.role}: ${b.kind}${k !== undefined && k !== b.kind ? ` (${k})` : ''}`);
  }
  return { violated: uniq(violated), boots: uniq(boots), diffs: uniq(diffs) };
}

/** One key for a run's health: two runs with equal keys said the same. */
export const healthKey = (h: RunHealth): string => JSON.stringify([h.violated, h.boots, h.diffs]);

const minus = (a: readonly string[], b: readonly string[]) => a.filter((x) => !b.includes(x));

export interface Comparison {
  readonly class: GateClass;
  /** what flipped, one line each: the invariant, the boot verdict or the divergence */
  readonly flipped: readonly string[];
  /** one line for the reports */
  readonly summary: string;
  /** the run-health keys that flipped (violated invariants, boots, divergences): what a rerun must show again */
  readonly keys?: readonly string[];
}

/** Every key of a run's health, one set: what an attempt said. */
const allKeys = (h: RunHealth): Set<string> =>
  new Set([...h.violated.map((v) => `v:${v}`), ...h.boots.map((x) => `b:${x}`), ...h.diffs.map((d) => `d:${d}`)]);

/** Base against candidate, one run each (the first attempts; reruns decide flakiness in classifyRow). */
export function compareRuns(base: RealResult, cand: RealResult): Comparison {
  if (base.status === 'unsupported' || cand.status === 'unsupported') {
    const on = base.status === 'unsupported' ? base : cand;
    const why = on.reasons[0] ?? 'unsupported';
    return { class: 'unsupported', flipped: [], summary: `${on === base ? 'base' : 'candidate'}: ${why}` };
  }
  if (base.status === 'error' || cand.status === 'error') {
    const on = base.status === 'error' ? base : cand;
    return {
      class: 'error',
      flipped: [],
      summary: `${on === base ? 'base' : 'candidate'}: ${on.reasons[0] ?? 'error'}`,
    };
  }
  const b = runHealth(base);
  const c = runHealth(cand);
  const state = (inv: string, r: RealResult) =>
    r.real?.invariants.find((j) => j.invariant === inv)?.result ??
    (runHealth(r).violated.includes(inv) ? 'violated' : 'notObserved');
  const vk = (xs: readonly string[]) => xs.map((v) => `v:${v}`);
  const bk = (xs: readonly string[]) => xs.map((x) => `b:${x}`);
  const dk = (xs: readonly string[]) => xs.map((d) => `d:${d}`);
  const newBad = [
    ...minus(c.violated, b.violated).map((i) => `${i}: ${state(i, base)} on base, violated on candidate`),
    ...minus(c.boots, b.boots).map((x) => `${x} on candidate (base: as planned)`),
  ];
  if (newBad.length > 0) {
    const keys = [...vk(minus(c.violated, b.violated)), ...bk(minus(c.boots, b.boots))];
    return { class: 'regression', flipped: newBad, summary: newBad.join('; '), keys };
  }
  const gone = [
    ...minus(b.violated, c.violated).map((i) => `${i}: violated on base, ${state(i, cand)} on candidate`),
    ...minus(b.boots, c.boots).map((x) => `${x} on base only`),
  ];
  if (gone.length > 0) {
    const also = minus(c.diffs, b.diffs).length > 0 ? ' (the model mirrors the base kernel: it now diverges)' : '';
    const keys = [...vk(minus(b.violated, c.violated)), ...bk(minus(b.boots, c.boots))];
    return { class: 'fixed', flipped: gone, summary: `${gone.join('; ')}${also}`, keys };
  }
  const newDiffs = minus(c.diffs, b.diffs).map((d) => `differential: ${d} (base agreed with the model)`);
  if (newDiffs.length > 0)
    return { class: 'regression', flipped: newDiffs, summary: newDiffs.join('; '), keys: dk(minus(c.diffs, b.diffs)) };
  const goneDiffs = minus(b.diffs, c.diffs).map((d) => `differential: ${d} on base only`);
  if (goneDiffs.length > 0)
    return { class: 'fixed', flipped: goneDiffs, summary: goneDiffs.join('; '), keys: dk(minus(b.diffs, c.diffs)) };
  if (cand.status === 'pass') return { class: 'pass', flipped: [], summary: 'held on both kernels' };
  return { class: 'pre-existing', flipped: [], summary: `both: ${cand.reasons.join('; ')}` };
}

/** Rows whose first comparison differs are rerun this many times on each kernel before they count. */
export const RERUNS = 2;

/** Does this first comparison need reruns (a difference between the kernels)? */
export const needsRerun = (c: Comparison): boolean => c.class === 'regression' || c.class === 'fixed';

/**
 * The row's class over every attempt (first run plus reruns): a difference counts only if it reproduces, i.e. what
 * flipped is on every attempt of the kernel it appeared on and on no attempt of the other (a base that also failed
 * once some other way does not void a regression that reproduced every time); otherwise it is flaky.
 */
export function classifyAttempts(base: readonly RealResult[], cand: readonly RealResult[]): Comparison {
  const [b0, c0] = [base[0], cand[0]];
  if (b0 === undefined || c0 === undefined) throw new Error('classifyAttempts: no attempt');
  const first = compareRuns(b0, c0);
  if (!needsRerun(first) || (base.length === 1 && cand.length === 1)) return first;
  const errored = [...base, ...cand].find((r) => r.status === 'error');
  if (errored !== undefined) return { class: 'error', flipped: [], summary: `rerun: ${errored.reasons[0] ?? 'error'}` };
  const keys = first.keys ?? [];
  const [has, lacks] = first.class === 'regression' ? [cand, base] : [base, cand];
  const every = has.every((r) => {
    const k = allKeys(runHealth(r));
    return keys.every((x) => k.has(x));
  });
  const none = lacks.every((r) => {
    const k = allKeys(runHealth(r));
    return keys.every((x) => !k.has(x));
  });
  if (every && none) return first;
  const said = (rs: readonly RealResult[]) => rs.map((r) => (r.status === 'pass' ? 'held' : 'not held')).join(', ');
  return {
    class: 'flaky',
    flipped: first.flipped,
    summary: `${first.class} did not reproduce: base ${said(base)}; candidate ${said(cand)} (first: ${first.summary})`,
  };
}

////////    patches    ////////

/** Files a unified diff touches (-p1 paths, both sides; /dev/null left out), in order of appearance. */
export function patchFiles(text: string): string[] {
  const out: string[] = [];
  const add = (p: string | undefined) => {
    if (p === undefined || p === '/dev/null') return;
    const path = p.replace(/^[ab]\//, '');
    if (!out.includes(path)) out.push(path);
  };
  for (const line of text.split('\n')) {
    const m = /^(?:\+\+\+|---) ([ab]\/[^\t]+|\/dev\/null)/.exec(line);
    if (m !== null) add(m[1]?.trimEnd());
    const g = /^diff --git a\/(\S+) b\/(\S+)$/.exec(line);
    if (g !== null) {
      add(g[1]);
      add(g[2]);
    }
  }
  return out;
}

/** kexec or the x86 kexec / relocate code (kernel/kexec*, include/linux/kexec*, arch/x86/kernel/{machine_kexec,relocate_kernel}*). */
export const touchesKexec = (files: readonly string[]): boolean =>
  files.some(
    (f) =>
      /(^|\/)kexec[^/]*$/.test(f) ||
      /^kernel\/kexec/.test(f) ||
      /^arch\/x86\/kernel\/(machine_kexec|relocate_kernel)/.test(f) ||
      /^arch\/x86\/purgatory\//.test(f),
  );

/** Kconfig inputs: a patch touching one of these must regenerate the configuration. */
export const isKconfigInput = (f: string): boolean =>
  /(^|\/)Kconfig[^/]*$/.test(f) || /(^|\/)configs\/[^/]+\.config$/.test(f) || f.startsWith('scripts/kconfig/');

/** `patch` output of a failed (dry) run -> `<file> hunk #N FAILED at L` lines. */
export function patchFailures(output: string): string[] {
  const out: string[] = [];
  let file = '?';
  for (const line of output.split('\n')) {
    const f = /^(?:checking|patching) file (.+)$/.exec(line.trim());
    if (f?.[1] !== undefined) file = f[1].replace(/^'|'$/g, '');
    const h = /^Hunk #(\d+) FAILED at (\d+)/.exec(line.trim());
    if (h !== null) out.push(`${file} hunk #${h[1]} FAILED at line ${h[2]}`);
    const missing = /^can't find file to patch|No file to patch/.exec(line.trim());
    if (missing !== null) out.push(`${file === '?' ? 'a file' : file}: no such file in the tree`);
    if (/Reversed \(or previously applied\) patch detected/.test(line))
      out.push(`${file}: already applied (reversed patch)`);
  }
  return out;
}

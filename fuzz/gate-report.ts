// The gate's reports (pure): the record (JSON), KTAP with one named suite per kernel and one subtest per scenario,
// JUnit with one testsuite per kernel, and a Markdown summary fit for a review comment (regressions first, each with
// its replay commands and its saved reproducer).
import type { GateClass } from './gate-classify.ts';
import { xmlEscape } from './junit.ts';
import type { RealResult } from './real-run.ts';

export const GATE_FORMAT = 'hibfuzz-gate/1' as const;

export interface GateRow {
  readonly scenario: string;
  readonly file: string;
  readonly note?: string;
  readonly class: GateClass;
  readonly flipped: readonly string[];
  readonly summary: string;
  /** first attempt, then the reruns */
  readonly base: readonly RealResult[];
  readonly candidate: readonly RealResult[];
  /** directory holding the scenario, both results and both kernels' console logs */
  readonly reproducer?: string;
  /** `hibfuzz explain --html` of the model's run of the scenario, next to the reproducer's scenario.json */
  readonly explainPage?: string;
}

export interface GateKernelInfo {
  readonly role: 'base' | 'candidate';
  /** the bzImage path (what `hibfuzz vm run --kernel` takes) */
  readonly bzImage: string;
  readonly label: string;
  readonly release: string;
  readonly bzImageSha256: string;
  readonly configSha256?: string;
  readonly build: { readonly cached: boolean; readonly seconds: number; readonly configSkipped: boolean };
}

export type GateVerdict = 'error' | 'green' | 'regression';

export interface GateRecord {
  readonly format: typeof GATE_FORMAT;
  readonly verdict: GateVerdict;
  readonly exitCode: 0 | 1 | 2;
  /** what was gated: the patches, the tree and commits, or the two kernels */
  readonly subject: string;
  readonly base: GateKernelInfo;
  readonly candidate: GateKernelInfo;
  readonly kexec: { readonly ran: boolean; readonly why: string };
  /** shipped scenarios the gate kernels cannot run as written, each with the backend's reason (fuzz/gate.ts) */
  readonly leftOut?: {
    readonly why: string;
    readonly scenarios: readonly { readonly file: string; readonly reason: string }[];
  };
  readonly rows: readonly GateRow[];
  readonly timings: Readonly<Record<string, number>>;
  readonly workDir: string;
  readonly campaign?: { readonly runs: number; readonly seeds: readonly number[]; readonly rows: readonly GateRow[] };
}

/** Regressions first, then fixed, flaky, errors, unsupported, pre-existing, pass; by scenario within a class. */
const ORDER: readonly GateClass[] = ['regression', 'fixed', 'flaky', 'error', 'unsupported', 'pre-existing', 'pass'];
export const sortRows = (rs: readonly GateRow[]): GateRow[] =>
  [...rs].sort((a, b) => ORDER.indexOf(a.class) - ORDER.indexOf(b.class) || a.scenario.localeCompare(b.scenario));

/** 1 iff a regression; else 2 if a row could not be run (the host's trouble); else 0. */
export function gateExitCode(rs: readonly Pick<GateRow, 'class'>[]): 0 | 1 | 2 {
  if (rs.some((r) => r.class === 'regression')) return 1;
  return rs.some((r) => r.class === 'error') ? 2 : 0;
}

export const gateVerdict = (code: 0 | 1 | 2): GateVerdict =>
  code === 1 ? 'regression' : code === 2 ? 'error' : 'green';

export function classCounts(rs: readonly GateRow[]): Record<GateClass, number> {
  const c: Record<GateClass, number> = {
    error: 0,
    fixed: 0,
    flaky: 0,
    pass: 0,
    'pre-existing': 0,
    regression: 0,
    unsupported: 0,
  };
  for (const r of rs) c[r.class]++;
  return c;
}

const countsLine = (rs: readonly GateRow[]) =>
  Object.entries(classCounts(rs))
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');

const first = (rs: readonly RealResult[]) => rs[0];
const clean = (s: string) => s.replace(/[\r\n]+/g, ' ');
const secs = (rs: readonly RealResult[]) => rs.reduce((a, r) => a + r.timings.realSeconds, 0);

/** What one kernel's subtest says about a row: ok / not ok / skip, and a directive comment. */
function ktapLine(row: GateRow, role: 'base' | 'candidate'): { ok: boolean; directive?: string } {
  const r = first(role === 'base' ? row.base : row.candidate);
  if (row.class === 'unsupported' || r?.status === 'unsupported')
    return { ok: true, directive: `SKIP ${clean(r?.reasons[0] ?? row.summary)}` };
  if (role === 'base') {
    if (r?.status === 'error') return { ok: false };
    return r?.status === 'pass' ? { ok: true } : { ok: true, directive: `base: ${clean(r?.reasons.join('; ') ?? '')}` };
  }
  switch (row.class) {
    case 'regression':
    case 'error':
      return { ok: false };
    case 'pass':
      return { ok: true };
    default:
      return { ok: true, directive: `${row.class}: ${clean(row.summary)}` };
  }
}

/** KTAP v1: a suite per kernel (base, candidate), a subtest per scenario. kunit.py parse reads it. */
export function gateKtap(rec: GateRecord): string {
  const rows = sortRows(rec.rows).sort((a, b) => a.scenario.localeCompare(b.scenario));
  const out = ['KTAP version 1', `# hibfuzz gate: ${rec.verdict}: ${clean(rec.subject)}`, '1..2'];
  for (const [ki, k] of [rec.base, rec.candidate].entries()) {
    const name = `hibfuzz_gate_${k.role}`;
    out.push('    KTAP version 1', `    # Subtest: ${name}`, `    # kernel: ${clean(k.label)} (${k.release})`);
    out.push(`    1..${rows.length}`);
    let failed = false;
    for (const [i, row] of rows.entries()) {
      const l = ktapLine(row, k.role);
      const r = first(k.role === 'base' ? row.base : row.candidate);
      if (!l.ok) {
        failed = true;
        for (const x of k.role === 'candidate' && row.flipped.length > 0 ? row.flipped : (r?.reasons ?? []))
          out.push(`    # ${clean(x)}`);
      }
      const test = row.scenario.replace(/[^A-Za-z0-9_.-]/g, '_');
      out.push(`    ${l.ok ? 'ok' : 'not ok'} ${i + 1} ${test}${l.directive !== undefined ? ` # ${l.directive}` : ''}`);
    }
    out.push(`${failed ? 'not ok' : 'ok'} ${ki + 1} ${name}`);
  }
  return `${out.join('\n')}\n`;
}

type JunitCase = { readonly kind: 'error' | 'fail' | 'pass' | 'skip'; readonly xml: readonly string[] };

function junitCase(row: GateRow, k: GateKernelInfo): JunitCase {
  const rs = k.role === 'base' ? row.base : row.candidate;
  const l = ktapLine(row, k.role);
  const r = first(rs);
  const open = `    <testcase classname="hibfuzz.gate.${k.role}" name="${xmlEscape(row.scenario)}" time="${secs(rs).toFixed(3)}"`;
  const wrap = (kind: JunitCase['kind'], inner: string): JunitCase => ({
    kind,
    xml: [`${open}>`, `      ${inner}`, '    </testcase>'],
  });
  if (l.directive?.startsWith('SKIP') === true)
    return wrap('skip', `<skipped message="${xmlEscape(l.directive.slice(5))}"/>`);
  if (!l.ok && (row.class === 'error' || r?.status === 'error')) {
    const msg = xmlEscape(r?.reasons[0] ?? row.summary);
    return wrap('error', `<error message="${msg}">${msg}</error>`);
  }
  if (!l.ok) {
    const body = xmlEscape([...row.flipped, ...(r?.reasons ?? [])].join('\n'));
    return wrap('fail', `<failure message="${xmlEscape(row.summary)}" type="regression">${body}</failure>`);
  }
  if (l.directive === undefined) return { kind: 'pass', xml: [`${open}/>`] };
  return wrap('pass', `<system-out>${xmlEscape(l.directive)}</system-out>`);
}

/** JUnit: a testsuite per kernel (hibfuzz.gate.base / .candidate), a testcase per scenario with its time. */
export function gateJunit(rec: GateRecord): string {
  const rows = [...rec.rows].sort((a, b) => a.scenario.localeCompare(b.scenario));
  const all: JunitCase[] = [];
  const body: string[] = [];
  for (const k of [rec.base, rec.candidate]) {
    const cases = rows.map((row) => junitCase(row, k));
    all.push(...cases);
    const n = (kind: JunitCase['kind']) => cases.filter((c) => c.kind === kind).length;
    const time = rows.reduce((a, row) => a + secs(k.role === 'base' ? row.base : row.candidate), 0);
    body.push(
      `  <testsuite name="hibfuzz.gate.${k.role}" tests="${rows.length}" failures="${n('fail')}" errors="${n('error')}" skipped="${n('skip')}" time="${time.toFixed(3)}">`,
      '    <properties>',
      `      <property name="kernel" value="${xmlEscape(k.label)}"/>`,
      `      <property name="release" value="${xmlEscape(k.release)}"/>`,
      `      <property name="bzImageSha256" value="${xmlEscape(k.bzImageSha256)}"/>`,
      '    </properties>',
      ...cases.flatMap((c) => c.xml),
      '  </testsuite>',
    );
  }
  const n = (kind: JunitCase['kind']) => all.filter((c) => c.kind === kind).length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="hibfuzz-gate" tests="${all.length}" failures="${n('fail')}" errors="${n('error')}">`,
    ...body,
    '</testsuites>',
    '',
  ].join('\n');
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const said = (rs: readonly RealResult[]) => {
  const r = first(rs);
  if (r === undefined) return '';
  if (r.status === 'pass') return `held${rs.length > 1 ? ` (${rs.length} runs)` : ''}`;
  return `${r.status}: ${r.reasons.join('; ')}${rs.length > 1 ? ` (${rs.length} runs)` : ''}`;
};

/** The Markdown summary: verdict, both kernels, regressions first (replay commands, reproducer), then every row. */
export function gateMarkdown(rec: GateRecord): string {
  const rows = sortRows(rec.rows);
  const head = rec.verdict === 'regression' ? 'REGRESSION' : rec.verdict === 'error' ? 'ERROR' : 'green';
  const out = [
    `## hibfuzz gate: ${head}`,
    '',
    `${rec.subject}: ${countsLine(rec.rows)}.`,
    '',
    `- base: \`${rec.base.label}\` (${rec.base.release}, bzImage sha256 ${rec.base.bzImageSha256.slice(0, 12)})`,
    `- candidate: \`${rec.candidate.label}\` (${rec.candidate.release}, bzImage sha256 ${rec.candidate.bzImageSha256.slice(0, 12)})`,
    `- kexec scenarios: ${rec.kexec.ran ? 'run' : 'not run'} (${rec.kexec.why})`,
    ...(rec.leftOut === undefined
      ? []
      : [
          `- shipped scenarios left out: ${rec.leftOut.scenarios.length} (${rec.leftOut.why})`,
          ...rec.leftOut.scenarios.map((x) => `  - \`${x.file}\`: ${x.reason}`),
        ]),
    '',
  ];
  const detailed = rows.filter((r) => r.class === 'regression' || r.class === 'fixed' || r.class === 'flaky');
  for (const r of detailed) {
    out.push(`### ${r.class}: ${r.scenario}`, '');
    for (const f of r.flipped) out.push(`- ${f}`);
    if (r.note !== undefined) out.push(`- note: ${r.note}`);
    const c = first(r.candidate);
    const b = first(r.base);
    if (c?.real !== undefined) out.push(`- candidate: ${c.real.outcomes.join('; ')}`);
    if (b?.real !== undefined) out.push(`- base: ${b.real.outcomes.join('; ')}`);
    if (c?.model !== undefined)
      out.push(`- model (predicts the base kernel's behaviour): ${c.model.outcomes.join('; ')}`);
    out.push('- replay:', '  ```sh');
    out.push(`  hibfuzz vm run ${r.file} --kernel ${rec.candidate.bzImage}   # candidate`);
    out.push(`  hibfuzz vm run ${r.file} --kernel ${rec.base.bzImage}   # base`, '  ```');
    if (r.reproducer !== undefined)
      out.push(`- reproducer: \`${r.reproducer}\` (scenario.json, both results with kernel identities, console logs)`);
    if (r.explainPage !== undefined)
      out.push(
        `- memory map (the model's run, story beside a zoomable map): [${r.explainPage}](${encodeURI(r.explainPage)})`,
      );
    out.push('');
  }
  out.push('| scenario | class | base | candidate | what flipped |', '| --- | --- | --- | --- | --- |');
  for (const r of rows) {
    out.push(
      `| ${cell(r.scenario)} | ${r.class === 'regression' ? '**regression**' : r.class} | ${cell(said(r.base))} | ${cell(said(r.candidate))} | ${cell(r.flipped.join('; ') || (r.class === 'unsupported' ? r.summary : ''))}${r.note !== undefined ? ` (${cell(r.note)})` : ''} |`,
    );
  }
  if (rec.campaign !== undefined) {
    out.push(
      '',
      `Generated campaign: ${rec.campaign.runs} scenarios, the same seeds on both kernels: ${countsLine(rec.campaign.rows) || 'none run'}.`,
    );
  }
  const t = Object.entries(rec.timings)
    .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
    .join(', ');
  out.push('', `Timings: ${t}. Work directory: \`${rec.workDir}\`.`, '');
  return out.join('\n');
}

/** The JSON record without the bulky parts: per attempt the status, reasons, outcomes and invariants. */
export function gateJson(rec: GateRecord): string {
  const slim = (r: RealResult) => ({
    status: r.status,
    reasons: r.reasons,
    model: r.model === undefined ? undefined : { verdict: r.model.verdict, outcomes: r.model.outcomes },
    real:
      r.real === undefined
        ? undefined
        : {
            outcomes: r.real.outcomes,
            invariants: r.real.invariants.map((j) => ({ invariant: j.invariant, result: j.result })),
            boots: r.real.boots.map((b) => ({ role: b.role, kind: b.kind, title: b.title, consoleLog: b.consoleLog })),
          },
    seconds: r.timings.realSeconds,
    workDir: r.workDir,
  });
  const row = (x: GateRow) => ({ ...x, base: x.base.map(slim), candidate: x.candidate.map(slim) });
  const campaign = rec.campaign === undefined ? undefined : { ...rec.campaign, rows: rec.campaign.rows.map(row) };
  return `${JSON.stringify({ ...rec, rows: sortRows(rec.rows).map(row), campaign }, null, 2)}\n`;
}

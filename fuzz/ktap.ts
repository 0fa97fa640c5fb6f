// KTAP version 1 output (Documentation/dev-tools/ktap.rst): one test per invariant per target; diagnostic lines
// (`# scenario: PATH`, expected vs actual) precede the `not ok` line they belong to, as KUnit prints them.
import { type TestResult, testStatus } from './results.ts';

const clean = (s: string) => s.replace(/[\r\n]+/g, ' ');

/** What a KTAP log must carry to be replayed alone: the campaign's seed, shard, target, kernel and swapped parts. */
export interface KtapHeader {
  /** the suite's name: `hibfuzz.model`, `hibfuzz.vm.debian-6.12` */
  readonly suite: string;
  readonly seed: number;
  readonly shard: string;
  readonly target: string;
  readonly kernel?: string;
  readonly plant?: string;
  readonly parts?: string;
  /** the command that runs this campaign again */
  readonly replay: string;
  /** infrastructure errors: each a `not ok ... # ERROR` case (never a pass, never a finding) */
  readonly errors?: readonly string[];
}

/** The cases: one per invariant (diagnostics before a `not ok`, as KUnit prints them), then infrastructure errors. */
function cases(tests: readonly TestResult[], errors: readonly string[]): string[] {
  const multi = new Set(tests.map((t) => t.target)).size > 1;
  const out: string[] = [];
  for (const [i, t] of tests.entries()) {
    const name = multi ? `${t.target}.${t.name}` : t.name;
    const st = testStatus(t);
    for (const f of t.failures) {
      out.push(`# scenario: ${f.file ?? '(not saved)'}`, `# hits: ${f.count}`);
      for (const l of f.lines) out.push(`# ${clean(l)}`);
    }
    if (st === 'skip') out.push(`ok ${i + 1} ${name} # SKIP ${t.target}: not exercised in ${t.runs} runs`);
    else if (st === 'ok') out.push(`ok ${i + 1} ${name} # ${t.target}: exercised by ${t.exercised} of ${t.runs} runs`);
    else out.push(`not ok ${i + 1} ${name} # ${t.target}: ${t.failures.length} distinct finding(s)`);
  }
  for (const [j, e] of errors.entries())
    out.push(`not ok ${tests.length + j + 1} InfrastructureError # ERROR ${clean(e)}`);
  return out;
}

/**
 * KTAP v1. With a header: one named suite (`# Subtest: hibfuzz.model`, indented four columns as KUnit nests), its
 * `# seed:`/`# shard:`/... lines and the replay command first, so the log alone says how to run it again.
 */
export function formatKtap(tests: readonly TestResult[], header?: KtapHeader): string {
  if (header === undefined) {
    return `${['KTAP version 1', `1..${tests.length}`, ...cases(tests, [])].join('\n')}\n`;
  }
  const errors = header.errors ?? [];
  const inner = cases(tests, errors);
  const meta = [
    `# seed: ${header.seed}`,
    `# shard: ${header.shard}`,
    `# target: ${header.target}`,
    `# kernel: ${header.kernel ?? '-'}`,
    `# plant: ${header.plant ?? '-'}`,
    ...(header.parts !== undefined ? [`# parts: ${header.parts}`] : []),
    `# replay: ${header.replay}`,
  ];
  const failed = inner.some((l) => l.startsWith('not ok '));
  const counts = (re: RegExp) => inner.filter((l) => re.test(l)).length;
  const out = [
    'KTAP version 1',
    ...meta,
    '1..1',
    ...['KTAP version 1', `# Subtest: ${header.suite}`, ...meta, `1..${tests.length + errors.length}`, ...inner].map(
      (l) => `    ${l}`,
    ),
    `# ${header.suite}: pass:${counts(/^ok \d+ [^#]*(# (?!SKIP)|$)/)} fail:${counts(/^not ok /)} skip:${counts(/# SKIP /)} total:${tests.length + errors.length}`,
    `${failed ? 'not ok' : 'ok'} 1 ${header.suite}${errors.length > 0 ? ` # ERROR ${errors.length} infrastructure error(s)` : ''}`,
  ];
  return `${out.join('\n')}\n`;
}

export interface KtapTest {
  readonly ok: boolean;
  readonly number: number;
  readonly name: string;
  readonly directive?: string;
  readonly diagnostics: readonly string[];
}

export type KtapParse =
  | { ok: true; version: number; plan: number; tests: KtapTest[]; suite?: string; headers?: readonly string[] }
  | { ok: false; error: string; line: number };

/**
 * Parse KTAP v1 as hibfuzz writes it: flat (header, plan, result lines with the diagnostics that precede them), or
 * one named suite of such cases (the result is the suite's cases, its name and its `#` header lines).
 */
export function parseKtap(text: string): KtapParse {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const sub = lines.indexOf('    KTAP version 1');
  if (sub > 0) {
    const body = lines
      .slice(sub)
      .filter((l) => l.startsWith('    '))
      .map((l) => l.slice(4));
    const suite = /^# Subtest: (.*)$/.exec(body[1] ?? '')?.[1];
    const headers = body
      .slice(2)
      .filter((l, i, a) => l.startsWith('#') && a.slice(0, i).every((x) => x.startsWith('#')));
    const inner = parseKtap([body[0], ...body.slice(2 + headers.length)].join('\n'));
    return inner.ok && suite !== undefined ? { ...inner, suite, headers: headers.map((h) => h.slice(2)) } : inner;
  }
  const head = /^KTAP version (\d+)$/.exec(lines[0] ?? '');
  if (head === null) return { ok: false, error: 'missing "KTAP version N" header', line: 1 };
  const plan = /^1\.\.(\d+)$/.exec(lines[1] ?? '');
  if (plan === null) return { ok: false, error: 'missing plan "1..N"', line: 2 };
  const tests: KtapTest[] = [];
  let diags: string[] = [];
  for (let i = 2; i < lines.length; i++) {
    const l = lines[i] as string;
    if (l.startsWith('#')) {
      diags.push(l.replace(/^# ?/, ''));
      continue;
    }
    const m = /^(ok|not ok) (\d+) ([^#]*?)(?: # (.*))?$/.exec(l);
    if (m === null) return { ok: false, error: `not a KTAP line: ${l}`, line: i + 1 };
    const n = Number(m[2]);
    if (n !== tests.length + 1)
      return { ok: false, error: `test number ${n}, expected ${tests.length + 1}`, line: i + 1 };
    tests.push({
      ok: m[1] === 'ok',
      number: n,
      name: m[3] as string,
      ...(m[4] !== undefined ? { directive: m[4] } : {}),
      diagnostics: diags,
    });
    diags = [];
  }
  if (tests.length !== Number(plan[1])) {
    return { ok: false, error: `plan says ${plan[1]} tests, found ${tests.length}`, line: lines.length };
  }
  return { ok: true, version: Number(head[1]), plan: Number(plan[1]), tests };
}

// KTAP version 1 output (Documentation/dev-tools/ktap.rst): one test per invariant per target; diagnostic lines
// (`# scenario: PATH`, expected vs actual) precede the `not ok` line they belong to, as KUnit prints them.
import { type TestResult, testStatus } from './results.ts';

const clean = (s: string) => s.replace(/[\r\n]+/g, ' ');

export function formatKtap(tests: readonly TestResult[]): string {
  const multi = new Set(tests.map((t) => t.target)).size > 1;
  const out = ['KTAP version 1', `1..${tests.length}`];
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
  | { ok: true; version: number; plan: number; tests: KtapTest[] }
  | { ok: false; error: string; line: number };

/** Parse flat KTAP v1 (no subtests): header, plan, result lines with the diagnostics that precede them. */
export function parseKtap(text: string): KtapParse {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
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

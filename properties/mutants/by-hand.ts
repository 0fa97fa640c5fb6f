// Apply Stryker mutants by hand and run the same judges on them, to check the report (docs/mutation.md):
//   npx tsx properties/mutants/by-hand.ts <mutation.json> <worktree> <id>...
// Each mutant's replacement is spliced into the file inside <worktree> (a git worktree, node_modules linked): at its
// line and column when the file is the report's source, else where the unchanged code around it is found again
// (reanchorMutant; a mutant whose code changed is an error). vitest.mutation.config.ts runs there, the file is
// restored.
// Prints one line per mutant: Stryker's status, the by-hand result (killed: the judges failed) and whether they agree.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Pos {
  line: number;
  column: number;
}
interface Mutant {
  id: string;
  mutatorName: string;
  replacement?: string;
  status: string;
  location: { start: Pos; end: Pos };
}
interface Report {
  files: Record<string, { source: string; mutants: Mutant[] }>;
}

/** Offset of a 1-based line/column in `src`. */
function offsetOf(src: string, p: Pos): number {
  let off = 0;
  for (let l = 1; l < p.line; l++) off = src.indexOf('\n', off) + 1;
  return off + p.column - 1;
}

export function applyMutant(src: string, m: Mutant): string {
  if (m.replacement === undefined) throw new Error(`mutant ${m.id} has no replacement`);
  return src.slice(0, offsetOf(src, m.location.start)) + m.replacement + src.slice(offsetOf(src, m.location.end));
}

/** Characters of context either side of a mutated span that must match when the file has changed since the report. */
const ANCHOR = 60;

/**
 * The mutant applied to `current`, a later version of the report's `source`: the mutated span with ANCHOR
 * characters either side must occur exactly once in `current` (the code around it is unchanged), or it throws.
 */
export function reanchorMutant(source: string, current: string, m: Mutant): string {
  if (m.replacement === undefined) throw new Error(`mutant ${m.id} has no replacement`);
  const from = offsetOf(source, m.location.start);
  const to = offsetOf(source, m.location.end);
  const lo = Math.max(0, from - ANCHOR);
  const needle = source.slice(lo, Math.min(source.length, to + ANCHOR));
  const at = current.indexOf(needle);
  if (at < 0 || current.indexOf(needle, at + 1) >= 0)
    throw new Error(`mutant ${m.id}: its code changed since the report (${at < 0 ? 'not found' : 'found twice'})`);
  const start = at + (from - lo);
  return current.slice(0, start) + m.replacement + current.slice(start + (to - from));
}

function main(argv: string[]): number {
  const [reportPath, dir, ...ids] = argv;
  if (reportPath === undefined || dir === undefined || ids.length === 0) {
    process.stderr.write('usage: by-hand.ts <mutation.json> <worktree> <id>...\n');
    return 2;
  }
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as Report;
  let disagree = 0;
  for (const id of ids) {
    const hit = Object.entries(report.files).flatMap(([file, f]) =>
      f.mutants.filter((m) => m.id === id).map((m) => ({ file, f, m })),
    )[0];
    if (hit === undefined) throw new Error(`no mutant ${id} in ${reportPath}`);
    const target = join(dir, hit.file);
    const original = readFileSync(target, 'utf8');
    // a later version of the file: the mutant is placed by the unchanged code around it
    writeFileSync(
      target,
      original === hit.f.source ? applyMutant(original, hit.m) : reanchorMutant(hit.f.source, original, hit.m),
    );
    try {
      const r = spawnSync('npx', ['--no-install', 'vitest', 'run', '--config', 'vitest.mutation.config.ts'], {
        cwd: dir,
        encoding: 'utf8',
      });
      if (r.status !== 0 && r.status !== 1) throw new Error(`vitest exited ${r.status}: ${r.stderr}`);
      const byHand = r.status === 1 ? 'killed' : 'survived';
      const stryker = hit.m.status === 'Killed' || hit.m.status === 'Timeout' ? 'killed' : 'survived';
      if (byHand !== stryker) disagree++;
      const { start, end } = hit.m.location;
      const line = `${start.line}:${start.column}-${end.line}:${end.column}`;
      process.stdout.write(
        `${id}\t${hit.file}:${line}\t${hit.m.mutatorName} ${JSON.stringify(hit.m.replacement)}\tstryker ${hit.m.status}\tby hand ${byHand}\t${byHand === stryker ? 'agree' : 'DISAGREE'}\n`,
      );
    } finally {
      writeFileSync(target, original);
    }
  }
  return disagree === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));

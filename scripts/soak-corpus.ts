// Soak test of the corpus (issue 12): N real `hibfuzz fuzz` campaigns against ONE corpus, up to --parallel at a
// time, each with a random plant, seed and budget; most are SIGKILLed at a random moment. After every campaign and
// at the end: every visible corpus file parses, every record has its scenario and text, every finding any
// campaign reported as saved (`NEW ... -> PATH`) is there whole (a third of the kills land 0-60 ms after a
// campaign's first saved finding: while it shrinks and saves the next ones); a campaign that was not killed exited 0 or 1 with
// no stack trace; the final `hibfuzz replay DIR` runs every file. Exit 0 when all of that held, 1 otherwise.
//
//   npx tsx scripts/soak-corpus.ts [--campaigns 40] [--parallel 2] [--kill 0.7] [--corpus DIR] [--seed 1]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { corpusProblems, reportedSaved } from '../fuzz/corpus-check.ts';
import { PLANTS } from '../properties/__fixtures__/plants.ts';

const ROOT = join(import.meta.dirname ?? '.', '..');
const { values } = parseArgs({
  options: {
    campaigns: { type: 'string', default: '40' },
    parallel: { type: 'string', default: '2' },
    kill: { type: 'string', default: '0.7' },
    corpus: { type: 'string' },
    seed: { type: 'string', default: '1' },
  },
});
const campaigns = Number(values.campaigns);
const parallel = Number(values.parallel);
const killShare = Number(values.kill);
const corpus = values.corpus ?? join(mkdtempSync(join(tmpdir(), 'hibfuzz-soak-')), 'corpus');

interface Plan {
  readonly plant: string;
  readonly seed: number;
  readonly budgetS: number;
  /** SIGKILL this long after start, or never */
  readonly killMs: number | undefined;
  /** SIGKILL this long after the first saved finding (instead of killMs) */
  readonly killAfterSaveMs: number | undefined;
}

const plans: Plan[] = fc
  .sample(
    fc.record({
      plant: fc.constantFrom(...PLANTS.map((p) => p.name)),
      seed: fc.nat(2 ** 31 - 1),
      budgetS: fc.integer({ min: 2, max: 8 }),
      kill: fc.double({ min: 0, max: 1, noNaN: true }),
      killAt: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
    { seed: Number(values.seed), numRuns: campaigns },
  )
  .map((r) => ({
    plant: r.plant,
    seed: r.seed,
    budgetS: r.budgetS,
    // a third of the kills: 0-60 ms after the first saved finding; the others at a random moment from the first
    // writes (start-up is about 1.5 s on a loaded machine) to the end of the budget
    killMs: r.kill < killShare && r.kill >= killShare / 3 ? Math.round(1500 + r.killAt * r.budgetS * 1000) : undefined,
    killAfterSaveMs: r.kill < killShare / 3 ? Math.round(r.killAt * 60) : undefined,
  }));

const problems: string[] = [];
const saved: string[] = [];
let killed = 0;

function runOne(i: number, p: Plan): Promise<void> {
  return new Promise((resolve) => {
    const args = ['bin/hibfuzz.mjs', 'fuzz', '--plant', p.plant, '--budget', `${p.budgetS}s`];
    const child = spawn(process.execPath, [...args, '--corpus', corpus, '--seed', String(p.seed)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer = p.killMs !== undefined ? setTimeout(() => child.kill('SIGKILL'), p.killMs) : undefined;
    child.stdout.on('data', (d: Buffer) => {
      const first = !/^NEW /m.test(out);
      out += d.toString();
      if (first && p.killAfterSaveMs !== undefined && /^NEW /m.test(out)) {
        timer = setTimeout(() => child.kill('SIGKILL'), p.killAfterSaveMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      const when = p.killMs !== undefined ? `${p.killMs} ms` : `${p.killAfterSaveMs} ms after its first save`;
      const tag = `campaign ${i} (${p.plant}, seed ${p.seed}, ${p.budgetS}s${signal ? `, SIGKILL at ${when}` : ''})`;
      if (signal === 'SIGKILL') killed++;
      else if (code !== 0 && code !== 1) problems.push(`${tag}: exit ${code}: ${err.trim().split('\n')[0]}`);
      const stack = /^(.*)\n\s+at /m.exec(err);
      if (stack !== null) {
        const log = `${corpus}.campaign-${i}.stderr`;
        writeFileSync(log, err);
        problems.push(`${tag}: a stack trace on stderr after: ${stack[1]} (all of it: ${log})`);
      }
      saved.push(...reportedSaved(out));
      for (const x of corpusProblems(corpus, saved)) problems.push(`after ${tag}: ${x}`);
      resolve();
    });
  });
}

const t0 = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: parallel }, async () => {
    for (let i = next++; i < plans.length; i = next++) await runOne(i, plans[i] as Plan);
  }),
);
const replay = spawnSync(process.execPath, ['bin/hibfuzz.mjs', 'replay', corpus, '--json'], {
  cwd: ROOT,
  encoding: 'utf8',
  maxBuffer: 1 << 30,
});
if (replay.status === 2) problems.push(`replay ${corpus}: exit 2: ${replay.stderr.trim().split('\n')[0]}`);
const files = readdirSync(corpus);
const records = files.filter((f) => f.endsWith('.finding.json'));
const temps = files.filter((f) => f.startsWith('.') && f.endsWith('.tmp'));
const secs = ((performance.now() - t0) / 1000).toFixed(0);
console.log(
  `soak: ${plans.length} campaigns (${parallel} at a time, ${killed} SIGKILLed) on ${corpus} in ${secs} s: ` +
    `${saved.length} findings reported saved (${new Set(saved).size} distinct), ${records.length} records on disk, ` +
    `${temps.length} temp files of killed writers left, replay exit ${replay.status}; ${problems.length} problem(s)`,
);
for (const p of problems) console.log(`  ${p}`);
process.exitCode = problems.length === 0 ? 0 : 1;

// Differential real-kernel suite: every shipped scenario on the model and on debian-6.1, debian-6.12 (swsusp) and
// kjump-6.12 (kexec), one QEMU at a time; prints one JSON line per row, then the results table as Markdown.
// tsx scripts/vm-suite.ts [--kernel K]... [--only SUBSTR]... [--json FILE] [--md FILE] [--work DIR] [--no-fast]
//                         [--keep-disks]
// Exit: 0 every row agrees or diverges as the allow-list says, 1 a finding (unlisted divergence, boot error),
// 2 host problem (an infra row) or bad usage.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DIFF_KERNELS,
  type DiffKernel,
  type DiffRow,
  differentialRow,
  isDiffKernel,
  KNOWN_DIVERGENCES,
  knownDivergence,
  markdownTable,
  suiteCases,
} from '../fuzz/differential.ts';

const root = new URL('..', import.meta.url).pathname;

interface Args {
  readonly kernels: DiffKernel[];
  readonly only: string[];
  json?: string;
  md?: string;
  work: string;
  fast: boolean;
  keepDisks: boolean;
}

function parseArgs(argv: readonly string[]): Args | string {
  const a: Args = {
    kernels: [],
    only: [],
    work: join(tmpdir(), `hibfuzz-vm-suite-${new Date().toISOString().replace(/[:.]/g, '-')}`),
    fast: true,
    keepDisks: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--kernel' && v !== undefined && isDiffKernel(v)) a.kernels.push(v);
    else if (k === '--only' && v !== undefined) a.only.push(v);
    else if (k === '--json' && v !== undefined) a.json = v;
    else if (k === '--md' && v !== undefined) a.md = v;
    else if (k === '--work' && v !== undefined) a.work = v;
    else if (k === '--no-fast') {
      a.fast = false;
      continue;
    } else if (k === '--keep-disks') {
      a.keepDisks = true;
      continue;
    } else return `bad argument ${String(k)}${k === '--kernel' ? ` (one of ${DIFF_KERNELS.join(', ')})` : ''}`;
    i++;
  }
  if (a.kernels.length === 0) a.kernels.push(...DIFF_KERNELS);
  return a;
}

async function main(argv: readonly string[]): Promise<number> {
  const a = parseArgs(argv);
  if (typeof a === 'string') {
    console.error(`vm-suite: ${a}`);
    console.error(
      'usage: tsx scripts/vm-suite.ts [--kernel debian-6.1|debian-6.12|kjump-6.12|kjump-6.12-patched]... [--only SUBSTR]... [--json FILE] [--md FILE] [--work DIR] [--no-fast] [--keep-disks]',
    );
    return 2;
  }
  const cases = suiteCases(root, a.kernels).filter(
    (c) => a.only.length === 0 || a.only.some((o) => c.file.includes(o) || c.scenario.id.includes(o)),
  );
  mkdirSync(a.work, { recursive: true });
  if (a.json !== undefined) writeFileSync(a.json, '');
  console.error(`vm-suite: ${cases.length} runs, work dir ${a.work}, ${new Date().toISOString()}`);
  const t0 = performance.now();
  const rows: DiffRow[] = [];
  for (const [n, c] of cases.entries()) {
    const workDir = join(a.work, c.kernel, c.scenario.id);
    console.error(`vm-suite: [${n + 1}/${cases.length}] ${c.scenario.id} on ${c.kernel}`);
    const row = await differentialRow(c.scenario, c.kernel, { workDir, fast: a.fast, dropDisk: !a.keepDisks });
    rows.push(row);
    const line = JSON.stringify({ file: c.file, ...row });
    console.log(line);
    if (a.json !== undefined) appendFileSync(a.json, `${line}\n`);
    const known = knownDivergence(row, KNOWN_DIVERGENCES) !== undefined ? ' (known)' : '';
    console.error(
      `vm-suite:   ${row.status}${known} in ${row.timings.realSeconds.toFixed(1)} s${row.differences.length > 0 ? `: ${row.differences.join('; ')}` : ''}${row.error !== undefined ? `: ${row.error}` : ''}`,
    );
  }
  const seconds = (performance.now() - t0) / 1000;
  const table = markdownTable(rows, KNOWN_DIVERGENCES);
  const count = (st: DiffRow['status']) => rows.filter((r) => r.status === st).length;
  const unknown = rows.filter(
    (r) => (r.status === 'diverge' || r.status === 'bootError') && knownDivergence(r, KNOWN_DIVERGENCES) === undefined,
  );
  const summary = `${rows.length} runs in ${(seconds / 60).toFixed(1)} min: ${count('agree')} agree, ${count('diverge')} diverge and ${count('bootError')} boot errors (${unknown.length} not in the allow-list), ${count('infra')} infra, ${count('modelError')} model errors`;
  console.log('');
  console.log(table);
  console.log('');
  console.log(summary);
  if (a.md !== undefined) writeFileSync(a.md, `${table}\n\n${summary}\n`);
  if (count('infra') > 0) return 2;
  return unknown.length > 0 || count('modelError') > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));

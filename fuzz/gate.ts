// `hibfuzz gate`: does a kernel patch break hibernation? Builds base and candidate with the same configuration
// (gate-build.ts), runs every shipped scenario on both (gate-run.ts), classifies each row (gate-classify.ts) and
// writes the reports (gate-report.ts). Exit 1 iff a regression; 0 otherwise; 2 usage, build or infrastructure.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Scenario } from '../spec/index.ts';
import type { KernelIdentity } from '../vm/backend.ts';
import { openBackend } from '../vm/backends.ts';
import { isInfraError } from '../vm/errors.ts';
import { cacheRoot } from '../vm/kernels.ts';
import { parseBudget, parseIntFlag } from './args.ts';
import { type Command, fail, type Io, infra, openReports, parse } from './cli-kit.ts';
import { scenarioJson } from './corpus.ts';
import { writeExplainPage } from './explain-html.ts';
import { writeOutputs } from './fsx.ts';
import { buildGateKernel, GateBuildError, type GateKernel, type GateSource, treeChangedFiles } from './gate-build.ts';
import { runGateCampaign } from './gate-campaign.ts';
import { classifyAttempts, patchFiles, touchesKexec } from './gate-classify.ts';
import {
  type GateKernelInfo,
  type GateRecord,
  type GateRow,
  gateExitCode,
  gateJson,
  gateJunit,
  gateKtap,
  gateMarkdown,
  gateVerdict,
  sortRows,
} from './gate-report.ts';
import {
  BaseCache,
  type CaseRuns,
  type GateCase,
  type GateSide,
  gateCase,
  type RunOptions,
  runGateCases,
} from './gate-run.ts';
import { type ShippedScenario, selectScenarios, shippedScenarios } from './suite.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export const GATE_CMD = {
  name: 'gate',
  synopsis: `hibfuzz gate --patch FILE... [--source debian-6.12|debian-6.1] | --kernel-tree DIR [--base REV] |
             --kernel BZIMAGE --base-kernel BZIMAGE  [--budget 10m] [--jobs N] [--all] [--only SUBSTR]...
             [--ktap F] [--junit F] [--summary F.md] [--json F] [--timings] [--seed S] [--work-dir DIR] [--quiet]`,
  summary: 'does a kernel patch break hibernation? base vs candidate on every shipped scenario',
  options: {
    patch: { type: 'string', multiple: true, arg: 'FILE', help: "the candidate: Debian's source with these patches" },
    source: { type: 'string', arg: 'debian-6.12|debian-6.1', help: 'with --patch: the source line (default 6.12)' },
    'kernel-tree': { type: 'string', arg: 'DIR', help: 'the candidate: HEAD of this git tree' },
    base: { type: 'string', arg: 'REV', help: 'with --kernel-tree: the base revision (default HEAD~1)' },
    kernel: { type: 'string', arg: 'BZIMAGE', help: 'the candidate: a prebuilt kernel (with --base-kernel)' },
    'base-kernel': { type: 'string', arg: 'BZIMAGE', help: 'the base: a prebuilt kernel (with --kernel)' },
    budget: {
      type: 'string',
      arg: 'DURATION',
      help: 'the whole gate (default 10m); time left after the shipped scenarios goes to generated ones',
    },
    jobs: { type: 'string', arg: 'N', help: 'parallel builds and real-kernel runs (default: the cores)' },
    all: { type: 'boolean', help: 'also run the kexec scenarios when the change does not touch kexec code' },
    only: { type: 'string', multiple: true, arg: 'SUBSTR', help: 'only shipped scenarios whose file or id has it' },
    ktap: { type: 'string', arg: 'F', help: 'KTAP report' },
    junit: { type: 'string', arg: 'F', help: 'JUnit XML report' },
    summary: { type: 'string', arg: 'F.md', help: 'Markdown summary (for a CI job page)' },
    json: { type: 'string', arg: 'F', help: 'the gate record as JSON' },
    timings: { type: 'boolean', help: 'print one line of build and run timings' },
    seed: { type: 'string', arg: 'S', help: 'seed of the generated scenarios (default 24301)' },
    'work-dir': { type: 'string', arg: 'DIR', help: 'where reproducers and logs go' },
    quiet: { type: 'boolean', help: 'no build or console lines on stderr' },
  },
  notes: ['exit status: 0 no regression, 1 a regression, 2 usage, build or infrastructure error.'],
} as const satisfies Command;

const oneLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

interface Built {
  readonly subject: string;
  readonly base: GateKernel;
  readonly candidate: GateKernel;
  /** files the change touches (undefined: unknown, two prebuilt kernels) */
  readonly touched: readonly string[] | undefined;
}

const prebuilt = (bzImage: string): GateKernel => ({
  bzImage: resolve(bzImage),
  config: '',
  key: '',
  label: resolve(bzImage),
  cached: true,
  buildSeconds: 0,
  configSkipped: true,
});

async function build(v: Values, io: Io): Promise<Built> {
  const onLog = v.quiet ? undefined : (l: string) => io.err(`  | ${l}\n`);
  const jobs = v.jobs;
  if (v.patches.length > 0) {
    const line = v.source === 'debian-6.1' ? '6.1' : '6.12';
    const src: GateSource = { kind: 'debian', line };
    const base = await buildGateKernel(src, { kind: 'patches', patches: [] }, { jobs, ...(onLog ? { onLog } : {}) });
    io.err(`gate: base ${base.cached ? 'cached' : `built in ${base.buildSeconds} s`}: ${base.label}\n`);
    const candidate = await buildGateKernel(
      src,
      { kind: 'patches', patches: v.patches },
      { jobs, ...(onLog ? { onLog } : {}) },
    );
    io.err(
      `gate: candidate ${candidate.cached ? 'cached' : `built in ${candidate.buildSeconds} s`}: ${candidate.label}\n`,
    );
    const touched = [...new Set(v.patches.flatMap((p) => patchFiles(readText(p))))];
    return {
      subject: `${v.patches.map((p) => basename(p)).join(' + ')} on linux-source-${line}`,
      base,
      candidate,
      touched,
    };
  }
  if (v.tree !== undefined) {
    const src: GateSource = { kind: 'tree', repo: v.tree };
    const baseRev = v.baseRev ?? 'HEAD~1';
    const base = await buildGateKernel(src, { kind: 'commit', rev: baseRev }, { jobs, ...(onLog ? { onLog } : {}) });
    io.err(`gate: base ${base.cached ? 'cached' : `built in ${base.buildSeconds} s`}: ${base.label}\n`);
    const candidate = await buildGateKernel(
      src,
      { kind: 'commit', rev: 'HEAD' },
      { jobs, ...(onLog ? { onLog } : {}) },
    );
    io.err(
      `gate: candidate ${candidate.cached ? 'cached' : `built in ${candidate.buildSeconds} s`}: ${candidate.label}\n`,
    );
    const touched = await treeChangedFiles(v.tree, baseRev, 'HEAD');
    return { subject: `${v.tree}: HEAD against ${baseRev}`, base, candidate, touched };
  }
  const [k, b] = [v.kernel as string, v.baseKernel as string];
  for (const p of [k, b]) if (!existsSync(p)) throw new GateBuildError(`kernel not found: ${p}`);
  return { subject: `${k} against ${b}`, base: prebuilt(b), candidate: prebuilt(k), touched: undefined };
}

const readText = (p: string): string => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
};

interface Values {
  readonly patches: readonly string[];
  readonly source: string;
  readonly tree?: string;
  readonly baseRev?: string;
  readonly kernel?: string;
  readonly baseKernel?: string;
  readonly budgetMs: number;
  readonly jobs: number;
  readonly all: boolean;
  /** the shipped scenarios `--only` selected (all of them without it), read once when the arguments are */
  readonly shipped: readonly ShippedScenario[];
  readonly ktap?: string;
  readonly junit?: string;
  readonly summary?: string;
  readonly json?: string;
  readonly timings: boolean;
  readonly seed: number;
  readonly workDir?: string;
  readonly quiet: boolean;
}

function parseGateArgs(args: readonly string[]): Values {
  const { values, positionals } = parse(args, GATE_CMD);
  if (positionals.length > 0) fail(`gate: unexpected argument '${positionals[0]}'`);
  const patches = values.patch ?? [];
  const modes = [patches.length > 0, values['kernel-tree'] !== undefined, values.kernel !== undefined];
  if (modes.filter(Boolean).length !== 1)
    fail('gate: give exactly one of --patch FILE..., --kernel-tree DIR, --kernel BZIMAGE --base-kernel BZIMAGE');
  if ((values.kernel === undefined) !== (values['base-kernel'] === undefined))
    fail('gate: --kernel and --base-kernel go together');
  if (values.base !== undefined && values['kernel-tree'] === undefined)
    fail('gate: --base REV goes with --kernel-tree');
  const source = values.source ?? 'debian-6.12';
  if (source !== 'debian-6.12' && source !== 'debian-6.1')
    fail(`gate: --source ${source}: expected debian-6.12 or debian-6.1`);
  if (values.source !== undefined && patches.length === 0) fail('gate: --source goes with --patch');
  for (const p of patches) if (!existsSync(p)) fail(`gate: --patch ${p}: no such file`);
  if (values['kernel-tree'] !== undefined && !existsSync(join(values['kernel-tree'], '.git')))
    fail(`gate: --kernel-tree ${values['kernel-tree']}: not a git work tree`);
  const budget = parseBudget(values.budget ?? '10m');
  if (!budget.ok) fail(budget.error);
  const jobs = parseIntFlag('jobs', values.jobs ?? String(availableParallelism()), 1, 64);
  if (!jobs.ok) fail(jobs.error);
  const seed = parseIntFlag('seed', values.seed ?? '24301', 0, 0xffffffff);
  if (!seed.ok) fail(seed.error);
  const selected = selectScenarios(shippedScenarios(ROOT), values.only ?? []);
  if (!selected.ok) fail(`gate: --only ${selected.unmatched}: matches no shipped scenario`);
  return {
    seed: seed.value,
    patches,
    source,
    ...(values['kernel-tree'] !== undefined ? { tree: values['kernel-tree'] } : {}),
    ...(values.base !== undefined ? { baseRev: values.base } : {}),
    ...(values.kernel !== undefined ? { kernel: values.kernel } : {}),
    ...(values['base-kernel'] !== undefined ? { baseKernel: values['base-kernel'] } : {}),
    budgetMs: budget.value,
    jobs: jobs.value,
    all: values.all === true,
    shipped: selected.cases,
    ...(values.ktap !== undefined ? { ktap: values.ktap } : {}),
    ...(values.junit !== undefined ? { junit: values.junit } : {}),
    ...(values.summary !== undefined ? { summary: values.summary } : {}),
    ...(values.json !== undefined ? { json: values.json } : {}),
    timings: values.timings === true,
    ...(values['work-dir'] !== undefined ? { workDir: values['work-dir'] } : {}),
    quiet: values.quiet === true,
  };
}

/** Create (truncate) every report file now: a bad path fails before any kernel is built. */
const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');

/**
 * A default gate leaves out the shipped scenarios the gate kernels cannot run as written: the backend's own
 * decision (vm/backends.ts supports(), on the base kernel's identity), never a rule of the gate's. On the gate
 * build that is swsusp on a swap file or dm-crypt (their guest memory is measured on the Debian kernels only); a FUSE
 * file runs, its driver built in. --all runs them too, as unsupported rows with the reason.
 */
export function gateCases(
  touched: readonly string[] | undefined,
  all: boolean,
  shipped: readonly ShippedScenario[],
  refusal: (s: Scenario) => string | undefined,
): { cases: GateCase[]; kexec: GateRecord['kexec']; leftOut: NonNullable<GateRecord['leftOut']> } {
  const kx = all ? true : touched !== undefined && touchesKexec(touched);
  const why = all
    ? '--all'
    : touched === undefined
      ? 'two prebuilt kernels: the change is unknown (--all runs them)'
      : kx
        ? 'the change touches kexec code'
        : 'the change does not touch kexec or x86 kexec/relocate code (--all runs them)';
  const ran = shipped.filter((c) => c.scenario.protocol.kind === 'swsusp' || kx);
  const refused = ran.flatMap((c) => {
    const reason = refusal(c.scenario);
    return reason === undefined ? [] : [{ file: c.file, reason }];
  });
  const out = new Set(refused.map((r) => r.file));
  const cases = ran.filter((c) => all || !out.has(c.file)).map((c) => gateCase(c.file, c.scenario));
  return {
    cases,
    kexec: { ran: kx, why },
    leftOut: {
      why: all
        ? '--all: run as unsupported rows'
        : 'the gate kernels cannot run them as written (the backend says why); --all runs them as unsupported rows',
      scenarios: all ? [] : refused,
    },
  };
}

function info(role: 'base' | 'candidate', k: GateKernel, id: KernelIdentity): GateKernelInfo {
  return {
    role,
    bzImage: k.bzImage,
    label: k.label,
    release: id.release,
    bzImageSha256: id.bzImageSha256,
    ...(id.configSha256 !== undefined ? { configSha256: id.configSha256 } : {}),
    build: { cached: k.cached, seconds: k.buildSeconds, configSkipped: k.configSkipped },
  };
}

/** Scenario, both results with the kernel identities, and every console log, in one directory. */
function saveReproducer(dir: string, row: GateRow, c: GateCase, base: GateKernelInfo, cand: GateKernelInfo): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'scenario.json'), scenarioJson(c.scenario, join(dir, 'scenario.json')));
  for (const [role, k, rs] of [
    ['base', base, row.base],
    ['candidate', cand, row.candidate],
  ] as const) {
    writeFileSync(join(dir, `${role}.json`), `${JSON.stringify({ kernel: k, results: rs }, null, 2)}\n`);
    for (const [n, r] of rs.entries())
      for (const b of r.real?.boots ?? []) {
        if (existsSync(b.consoleLog))
          copyFileSync(b.consoleLog, join(dir, `${role}${n > 0 ? `-rerun${n}` : ''}-${basename(b.consoleLog)}`));
      }
  }
  return dir;
}

export async function cmdGate(args: readonly string[], io: Io): Promise<number> {
  const v = parseGateArgs(args);
  openReports('gate', [v.ktap, v.junit, v.summary, v.json]);
  const t0 = performance.now();
  const clock = () => (performance.now() - t0) / 1000;
  const root = resolve(v.workDir ?? join(cacheRoot(io.env), 'gate-runs', `${stamp()}-${process.pid}`));
  mkdirSync(root, { recursive: true });
  let built: Built;
  try {
    built = await build(v, io);
  } catch (e) {
    if (e instanceof GateBuildError) {
      for (const l of e.tail) io.err(`  | ${l}\n`);
      return infra(io, `gate: ${oneLine(e)}`);
    }
    if (isInfraError(e)) return infra(io, `gate: ${oneLine(e)}`);
    throw e;
  }
  const tBuild = clock();
  let rec: GateRecord;
  let cachedBase = 0;
  try {
    // identity() measures the base's guest baseline once (a cached calibration hibernation, vm/baseline.ts). The
    // candidate is predicted with the base's: a patch that changes how much of its own memory the kernel saves is an
    // image-count divergence against the base, not calibrated away (it calibrates itself only if the base could not)
    const baseB = openBackend(built.base.bzImage);
    const baseId = await baseB.identity();
    const candB = openBackend(
      built.candidate.bzImage,
      baseId.baseline === undefined
        ? {}
        : { baseline: { ...baseId.baseline, source: `the base kernel's (${baseId.baseline.source})` } },
    );
    const candId = await candB.identity();
    const tCal = clock();
    const cache = new BaseCache(join(cacheRoot(io.env), 'gate', 'base-results'), baseId);
    const base: GateSide = { role: 'base', backend: baseB, id: baseId };
    const cand: GateSide = { role: 'candidate', backend: candB, id: candId };
    const refusal = (s: Scenario) => {
      const r = baseB.supports(s, baseId);
      return r.ok ? undefined : r.reason;
    };
    const { cases, kexec, leftOut } = gateCases(built.touched, v.all, v.shipped, refusal);
    io.err(`gate: ${cases.length} scenarios on both kernels, ${v.jobs} at a time; kexec: ${kexec.why}\n`);
    const progress: Pick<RunOptions, 'onResult'> = {
      onResult: (side, r, cached) => {
        if (cached) cachedBase++;
        io.err(
          `  ${side.role.padEnd(9)} ${r.scenario.padEnd(30)} ${r.status}${cached ? ' (cached)' : ` ${r.timings.realSeconds.toFixed(1)} s`}${r.reasons.length > 0 ? `: ${r.reasons.join('; ')}` : ''}\n`,
        );
      },
    };
    const phases = await runGateCases(base, cand, cases, {
      jobs: v.jobs,
      root,
      baseCache: cache,
      cacheExtra: JSON.stringify(baseId.baseline ?? null),
      ...progress,
    });
    const bi = info('base', built.base, baseId);
    const ci = info('candidate', built.candidate, candId);
    const runOpts = {
      jobs: v.jobs,
      root,
      baseCache: cache,
      cacheExtra: JSON.stringify(baseId.baseline ?? null),
      ...progress,
    };
    const spent = phases.seconds.base + phases.seconds.candidate;
    const batch = cases.length > 0 ? (spent / cases.length) * v.jobs : 0;
    const remaining = v.budgetMs - clock() * 1000;
    const camp =
      batch > 0 && remaining > batch * 1000
        ? await runGateCampaign(base, cand, v.seed, remaining, batch, { ...runOpts, dir: join(root, 'generated') })
        : { rows: [], seconds: 0 };
    if (camp.rows.length === 0)
      io.err(
        `gate: no generated campaign: ${(remaining / 1000).toFixed(0)} s of the budget left, a batch takes ~${batch.toFixed(0)} s\n`,
      );
    const toRow = (x: CaseRuns): GateRow => {
      const c = classifyAttempts(x.base, x.candidate);
      const row: GateRow = {
        scenario: x.case.scenario.id,
        file: x.case.file,
        ...(x.case.note !== undefined ? { note: x.case.note } : {}),
        class: c.class,
        flipped: c.flipped,
        summary: c.summary,
        base: x.base,
        candidate: x.candidate,
      };
      if (c.class !== 'regression' && c.class !== 'fixed' && c.class !== 'flaky') return row;
      const dir = saveReproducer(join(root, 'reproducers', row.scenario), row, x.case, bi, ci);
      const page = writeExplainPage(dir, x.case.scenario);
      return { ...row, reproducer: dir, ...(page !== undefined ? { explainPage: page } : {}) };
    };
    const rows = phases.rows.map(toRow);
    const campRows = camp.rows.map(toRow);
    const code = gateExitCode([...rows, ...campRows]);
    rec = {
      format: 'hibfuzz-gate/1',
      verdict: gateVerdict(code),
      exitCode: code,
      subject: built.subject,
      base: bi,
      candidate: ci,
      kexec,
      leftOut,
      rows,
      timings: {
        build: tBuild,
        calibration: tCal - tBuild,
        base: phases.seconds.base,
        candidate: phases.seconds.candidate,
        reruns: phases.seconds.reruns,
        campaign: camp.seconds,
        total: clock(),
      },
      workDir: root,
      ...(campRows.length > 0 ? { campaign: { runs: campRows.length, seeds: [v.seed], rows: campRows } } : {}),
    };
  } catch (e) {
    if (isInfraError(e)) return infra(io, `gate: ${oneLine(e)}`);
    throw e;
  }
  writeReports(v, rec, io);
  for (const r of sortRows(rec.rows))
    io.out(`${r.class.padEnd(12)} ${r.scenario.padEnd(30)} ${r.class === 'pass' ? '' : r.summary}\n`);
  const counts = rec.rows.filter((r) => r.class === 'regression').length;
  io.out(
    `gate: ${rec.verdict === 'regression' ? `REGRESSION (${counts})` : rec.verdict === 'error' ? 'ERROR' : 'green'}: ${rec.subject}\n`,
  );
  if (v.timings) io.out(`${timingsLine(rec, built, cachedBase)}\n`);
  return rec.exitCode;
}

function timingsLine(rec: GateRecord, b: Built, cachedBase: number): string {
  const t = rec.timings;
  const f = (x: number | undefined) => `${(x ?? 0).toFixed(1)} s`;
  const k = (g: GateKernel) => (g.cached ? 'cached' : `${g.buildSeconds} s${g.configSkipped ? ', config kept' : ''}`);
  return [
    `timings: build ${f(t.build)} (base ${k(b.base)}, candidate ${k(b.candidate)})`,
    `calibration ${f(t.calibration)}`,
    `base ${f(t.base)} (${cachedBase}/${rec.rows.length} cached)`,
    `candidate ${f(t.candidate)}`,
    `reruns ${f(t.reruns)}`,
    `campaign ${f(t.campaign)}`,
    `total ${f(t.total)}`,
  ].join(', ');
}

/** Every report: `-` to stdout, a FIFO or device through, a regular file atomically (fsx.ts writeOutput). */
function writeReports(v: Values, rec: GateRecord, io: Io): void {
  writeOutputs(
    [
      [v.ktap, () => gateKtap(rec)],
      [v.junit, () => gateJunit(rec)],
      [v.summary, () => gateMarkdown(rec)],
      [v.json, () => gateJson(rec)],
    ],
    io.out,
  );
}

// `hibfuzz vm run|suite|build`: scenarios on real kernels through the backend registry (vm/backends.ts), judged
// by spec/verdict.ts judgeRealRun(), reported as RealResult (fuzz/real-run.ts). One CLI for every backend.

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Scenario } from '../spec/index.ts';
import type { KernelIdentity } from '../vm/backend.ts';
import { openBackend } from '../vm/backends.ts';
import { isInfraError } from '../vm/errors.ts';
import { cacheRoot } from '../vm/kernels.ts';
import { ensureKjumpKernel, kernelLabel } from '../vm/kjump/build.ts';
import {
  type Command,
  commandHelp,
  fail,
  HelpRequested,
  type Io,
  infra,
  loadScenario,
  need,
  openReports,
  parse,
  plantParts,
} from './cli-kit.ts';
import { makeDirs, writeOutputs } from './fsx.ts';
import { REAL_RESULT_FORMAT, type RealResult, realExitCode, realResultLines, runReal } from './real-run.ts';
import {
  KNOWN_FINDINGS,
  kernelRuns,
  markdownTable,
  rowOutcome,
  SUITE_KERNELS,
  selectScenarios,
  shippedScenarios,
  suiteExitCode,
  suiteJunit,
  suiteKtap,
} from './suite.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const KERNEL_NAMES = 'debian-6.1, debian-6.12, kjump-6.12, kjump-6.12-patched or PATH/bzImage';

export const VM_RUN_CMD = {
  name: 'vm run',
  args: 'FILE...',
  summary: "scenarios on a real kernel in QEMU next to the model's prediction for it",
  options: {
    kernel: { type: 'string', arg: 'K', required: true, help: `the kernel (required): ${KERNEL_NAMES}` },
    modules: { type: 'string', arg: 'DIR', help: 'PATH kernels: the modules tree (lib/modules/<release>)' },
    config: { type: 'string', arg: 'FILE', help: "PATH kernels: the kernel's .config (its capabilities)" },
    json: { type: 'boolean', help: 'one RealResult per file as JSON (format hibfuzz-real-run/1)' },
    'work-dir': { type: 'string', arg: 'DIR', help: 'where console logs and disks go (default in $HIBFUZZ_CACHE)' },
    plant: { type: 'string', arg: 'NAME', help: "the model's prediction with a planted bug swapped in" },
    quiet: { type: 'boolean', help: 'no console lines on stderr' },
    'no-fast': { type: 'boolean', help: 'boot every run from scratch (no snapshot fast path)' },
  },
  notes: ['exit status: 0 every run passed, 1 a finding, 2 usage, infrastructure error or a scenario not run.'],
} as const satisfies Command;

export const VM_SUITE_CMD = {
  name: 'vm suite',
  summary: 'every shipped scenario on each kernel; known real-kernel findings allow-listed',
  options: {
    kernel: { type: 'string', multiple: true, arg: 'K', help: `a kernel (default: all four): ${KERNEL_NAMES}` },
    only: { type: 'string', multiple: true, arg: 'SUBSTR', help: 'only shipped scenarios whose file or id has it' },
    ktap: { type: 'string', arg: 'F', help: 'KTAP report (one suite per kernel)' },
    junit: { type: 'string', arg: 'F', help: 'JUnit XML report' },
    markdown: { type: 'string', arg: 'F', help: 'Markdown table' },
    json: { type: 'string', arg: 'F', help: 'every RealResult as JSON' },
    'work-dir': { type: 'string', arg: 'DIR', help: 'where console logs and disks go' },
    quiet: { type: 'boolean', help: 'no console lines on stderr' },
    'no-fast': { type: 'boolean', help: 'boot every run from scratch (no snapshot fast path)' },
  },
  notes: [
    'exit status: 0 every row passed or is allow-listed, 1 a finding, 2 an error or an unlisted unsupported row.',
  ],
} as const satisfies Command;

export const VM_BUILD_CMD = {
  name: 'vm build',
  summary: 'build (or take from the cache) a kexec-jump kernel',
  options: {
    gate: { type: 'boolean', help: 'a kernel that also runs the shipped swsusp scenarios (vm/kjump/gate.fragment)' },
    patch: { type: 'string', multiple: true, arg: 'FILE', help: 'apply this patch to the source first' },
    'kernel-tree': { type: 'string', arg: 'DIR', help: "build this tree instead of Debian's linux-source-6.12" },
  },
  notes: ['prints the built kernel (bzImage, config, label) as JSON; exit 2 if the build fails.'],
} as const satisfies Command;

export const VM_COMMANDS = [VM_RUN_CMD, VM_SUITE_CMD, VM_BUILD_CMD] as const;

const oneLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

const runRoot = (io: Io, what: string) =>
  join(cacheRoot(io.env), 'vm-runs', `${what}-${new Date().toISOString().replace(/[:.]/g, '-')}`);

async function cmdRun(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, VM_RUN_CMD);
  if (positionals.length === 0) fail('vm run: expected FILE...');
  const kernel = need(values.kernel, 'vm run: --kernel K is required (debian-6.1, debian-6.12, kjump-6.12 or a path)');
  const { parts } = plantParts(values.plant);
  const files = positionals.map((f) => ({ file: f, scenario: loadScenario(f) }));
  const root = values['work-dir'] ?? runRoot(io, 'run');
  const log = values.quiet ? undefined : (l: string) => io.err(`${l}\n`);
  const backend = openBackend(kernel, {
    ...(values.modules !== undefined ? { modules: values.modules } : {}),
    ...(values.config !== undefined ? { config: values.config } : {}),
  });
  const results: RealResult[] = [];
  let infraLine: string | undefined;
  try {
    // what the backend refuses without its kernel is reported before any download or build
    const pre = files.map((f) => backend.precheck(f.scenario));
    let id: KernelIdentity | undefined;
    for (const [i, { file, scenario }] of files.entries()) {
      const p = pre[i];
      if (p !== undefined && !p.ok) {
        const r = unsupportedRow(scenario, file, kernel, p.reason);
        results.push(r);
        if (!values.json) io.out(`${realResultLines(r).join('\n')}\n`);
        continue;
      }
      id ??= await backend.identity();
      const workDir = join(root, `${i + 1}-${scenario.id}`);
      makeDirs(workDir);
      const r = await runReal(backend, id, scenario, {
        workDir,
        parts,
        file,
        ...(values['no-fast'] ? { fast: false } : {}),
        ...(log === undefined ? {} : { log }),
      });
      results.push(r);
      if (!values.json) io.out(`${realResultLines(r).join('\n')}\n`);
    }
  } catch (e) {
    if (!isInfraError(e)) throw e;
    infraLine = oneLine(e);
  }
  if (values.json) io.out(`${JSON.stringify(results, null, 2)}\n`);
  if (infraLine !== undefined) {
    const code = realExitCode(results);
    infra(io, infraLine);
    return code === 1 ? 1 : 2;
  }
  // a scenario the kernel cannot run was asked for and not run: not a pass
  if (results.some((r) => r.status === 'unsupported') && realExitCode(results) === 0) return 2;
  return realExitCode(results);
}

async function cmdSuite(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, VM_SUITE_CMD);
  if (positionals.length > 0) fail(`vm suite: unexpected argument '${positionals[0]}'`);
  openReports('vm suite', [values.ktap, values.junit, values.markdown, values.json]);
  const kernels = values.kernel ?? [...SUITE_KERNELS];
  const selected = selectScenarios(shippedScenarios(ROOT), values.only ?? []);
  if (!selected.ok) fail(`vm suite: --only ${selected.unmatched}: matches no shipped scenario`);
  const cases = selected.cases;
  const root = values['work-dir'] ?? runRoot(io, 'suite');
  const log = values.quiet ? undefined : (l: string) => io.err(`${l}\n`);
  const results: RealResult[] = [];
  const t0 = performance.now();
  for (const k of kernels) {
    const backend = openBackend(k);
    const mine = cases.filter((c) => kernelRuns(c.scenario, k));
    // what the backend refuses without its kernel is unsupported whatever happens next; the kernel is resolved
    // (downloaded or built) only when some row can run on it
    const refusals = mine.map((c) => backend.precheck(c.scenario));
    let id: KernelIdentity | undefined;
    let idError = '';
    if (refusals.some((p) => p.ok)) {
      try {
        id = await backend.identity();
      } catch (e) {
        if (!isInfraError(e)) throw e;
        idError = oneLine(e);
        io.err(`hibfuzz: ${k}: ${idError}\n`);
      }
    }
    for (const [i, c] of mine.entries()) {
      const p = refusals[i];
      if (p !== undefined && !p.ok) {
        results.push(unsupportedRow(c.scenario, c.file, k, p.reason));
        continue;
      }
      if (id === undefined) {
        results.push(errorRow(c.scenario, c.file, k, idError, root));
        continue;
      }
      const workDir = join(root, k.replace(/[^A-Za-z0-9._-]/g, '_'), c.scenario.id);
      makeDirs(workDir);
      let r: RealResult;
      try {
        r = await runReal(backend, id, c.scenario, {
          workDir,
          file: c.file,
          ...(values['no-fast'] ? { fast: false } : {}),
          ...(log === undefined ? {} : { log }),
        });
      } catch (e) {
        if (!isInfraError(e)) throw e;
        r = errorRow(c.scenario, c.file, k, oneLine(e), workDir, id);
      }
      results.push(r);
      const o = rowOutcome(r, KNOWN_FINDINGS);
      io.out(`${o.padEnd(5)} ${k.padEnd(20)} ${c.scenario.id.padEnd(34)} ${r.reasons.join('; ')}\n`);
    }
  }
  const header = [
    `hibfuzz vm suite`,
    `kernels: ${kernels.join(' ')}`,
    `seconds: ${((performance.now() - t0) / 1000).toFixed(0)}`,
  ];
  writeOutputs(
    [
      [values.ktap, () => suiteKtap(results, KNOWN_FINDINGS, header)],
      [values.junit, () => suiteJunit(results, KNOWN_FINDINGS)],
      [values.markdown, () => `${markdownTable(results, KNOWN_FINDINGS)}\n`],
      [values.json, () => `${JSON.stringify(results, null, 2)}\n`],
    ],
    io.out,
  );
  const n = (o: string) => results.filter((r) => rowOutcome(r, KNOWN_FINDINGS) === o).length;
  io.out(
    `suite: ${results.length} rows: ${n('pass')} pass, ${n('known')} known findings, ${n('fail')} findings, ${n('skip')} unsupported, ${n('error')} errors\n`,
  );
  return suiteExitCode(results, KNOWN_FINDINGS);
}

/** A scenario the backend refuses before its kernel is resolved: unsupported, with the reason. */
function unsupportedRow(s: Scenario, file: string, kernel: string, reason: string): RealResult {
  return { ...errorRow(s, file, kernel, reason, ''), status: 'unsupported' };
}

/** A row the host could not run: status error, never a finding. */
function errorRow(
  s: Scenario,
  file: string,
  kernel: string,
  line: string,
  workDir: string,
  id?: KernelIdentity,
): RealResult {
  return {
    format: REAL_RESULT_FORMAT,
    scenario: s.id,
    file,
    kernel: {
      spec: kernel,
      version: id?.version ?? kernel,
      release: id?.release ?? '',
      line: id?.line ?? '',
      bzImageSha256: id?.bzImageSha256 ?? '',
      capabilities: id?.capabilities ?? [],
    },
    status: 'error',
    reasons: [line],
    differences: [],
    timings: { modelMs: 0, realSeconds: 0, phases: {} },
    workDir,
  };
}

async function cmdBuild(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, VM_BUILD_CMD);
  if (positionals.length > 0) fail(`vm build: unexpected argument '${positionals[0]}'`);
  try {
    const k = await ensureKjumpKernel({
      patches: values.patch ?? [],
      ...(values.gate ? { gate: true } : {}),
      ...(values['kernel-tree'] !== undefined ? { kernelTree: values['kernel-tree'] } : {}),
      onLog: (l) => io.err(`${l}\n`),
    });
    io.out(`${JSON.stringify({ ...k, label: kernelLabel(k) }, null, 2)}\n`);
    return 0;
  } catch (e) {
    if (!isInfraError(e)) throw e;
    return infra(io, oneLine(e));
  }
}

export async function cmdVm(args: readonly string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'run':
      return cmdRun(rest, io);
    case 'suite':
      return cmdSuite(rest, io);
    case 'build':
      return cmdBuild(rest, io);
    case '--help':
    case '-h':
    case 'help':
      throw new HelpRequested(VM_COMMANDS.map(commandHelp).join('\n'));
    default:
      return fail(`vm: unknown subcommand '${sub ?? ''}' (expected run, suite or build)`);
  }
}

// `hibfuzz fuzz`: a campaign on the model or a real kernel. Every flag, report path, the corpus (written to, not
// only created) and the memory the runs need are checked before any run; a flag that would do nothing is refused.
// A finding wins over every later error: a save that fails prints the finding in full, and the status is 1.
import { randomInt } from 'node:crypto';
import { availableParallelism, hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { plantByName } from '../properties/__fixtures__/plants.ts';
import type { Backend, KernelIdentity } from '../vm/backend.ts';
import { openBackend } from '../vm/backends.ts';
import { isInfraError } from '../vm/errors.ts';
import { MIN_MEM_MIB as KJUMP_MIN_MEM_MIB } from '../vm/kjump/plan.ts';
import { MIN_VM_MEM_PAGES } from '../vm/plan.ts';
import { parseBudget, parseIntFlag, parseShard, type Shard } from './args.ts';
import {
  type CampaignProgress,
  type CampaignResult,
  type Finding,
  INFRA_ERRORS_IN_A_ROW,
  runCampaign,
} from './campaign.ts';
import {
  asRun,
  type Command,
  fail,
  type Io,
  infra,
  MAX_RSS_OPT,
  type ModelParts,
  modelParts,
  PARTS_OPT,
  PLANT_OPT,
  parse,
  partsFlags,
  value,
} from './cli-kit.ts';
import {
  CorpusWriteError,
  checkReadableDir,
  openCorpus,
  readCorpus,
  scenarioJson,
  signatureOf,
  sweepTemps,
} from './corpus.ts';
import { coverageLines, coverageShort } from './coverage.ts';
import { exitCodeFor } from './exit-code.ts';
import { DETAILED, findingLines, orderFindings, rel, testResults } from './findings.ts';
import { errnoText, outputPathProblem, STDOUT, writeOutput } from './fsx.ts';
import { formatJunit } from './junit.ts';
import { withPictures } from './junit-pictures.ts';
import { formatKtap } from './ktap.ts';
import { gib, type MemoryLimit, memoryBytes, memoryLimitFlag, memoryRefusal } from './memory.ts';
import { modelReplayCommand, modelTarget, type Target } from './target.ts';
import { runVmCampaign, VM_SHRINK_EVALS, VM_SHRINK_MS } from './vm-target.ts';

/** Seed scenarios shipped with hibfuzz, replayed by every campaign after the corpus. */
export const SEEDS_DIR = fileURLToPath(new URL('./seeds', import.meta.url));

/** Flags of target vm only: what each would not do on the model. */
const MODEL_IGNORES = [
  ['kernel', 'names the kernel of --target vm; the model target runs no kernel'],
  ['jobs', 'sets the parallel real-kernel runs of --target vm; the model target runs in this one process'],
  ['shrink-budget', 'bounds the shrinking on a real kernel (--target vm); the model shrinks by --shrink-evals'],
] as const;

/** Report paths: each must be writable now (before the campaign), and at most one of them may be stdout. */
function checkReportPaths(paths: { readonly ktap: string | undefined; readonly junit: string | undefined }): void {
  const given = Object.entries(paths).filter((x): x is [string, string] => x[1] !== undefined);
  for (const [flag, path] of given) {
    const why = outputPathProblem(path);
    if (why !== undefined) fail(`--${flag}: cannot write ${path}: ${why}`);
  }
  if (given.filter(([, p]) => p === STDOUT).length > 1) fail('--ktap and --junit cannot both write to stdout (-)');
}

/**
 * The largest scenarios the generator makes (properties/arbitraries/scenario.ts): at most six hibernate, resume or
 * noresume steps (a stale-image boot, a second resume, a second cycle), swap a little larger than memory.
 */
const GENERATED_SNAPSHOT_STEPS = 6;
const GENERATED_STORAGE_SLACK = 2200;

/** Refuse a campaign whose generated or replayed scenarios would need more memory than the limit. */
function checkCampaignMemory(maxMemPages: number, replayDirs: readonly string[], limit: MemoryLimit): void {
  const worst = memoryBytes(maxMemPages, maxMemPages + GENERATED_STORAGE_SLACK, GENERATED_SNAPSHOT_STEPS);
  if (worst > limit.bytes) {
    fail(
      `--max-mem-pages ${maxMemPages}: generated scenarios may need about ${gib(worst)} of memory on the model, over the limit of ${gib(limit.bytes)} (${limit.source}): lower --max-mem-pages or raise --max-rss`,
    );
  }
  for (const dir of replayDirs.filter((d) => checkReadableDir(d) === undefined)) {
    for (const { file, scenario } of readCorpus(dir).scenarios) {
      const why = memoryRefusal(scenario, limit);
      if (why !== undefined) fail(`${file}: ${why} (or move it out of ${dir}, or use --no-replay)`);
    }
  }
}

/** The corpus failed mid-campaign: every finding this campaign reported, in full (the unsaved one first); exit 1. */
function corpusFailed(io: Io, e: CorpusWriteError, reported: readonly Finding[]): number {
  const all = e.unsaved !== undefined ? [{ ...e.unsaved, isNew: true, hits: 1 }, ...reported] : reported;
  io.err(`hibfuzz: ${e.message}${all.length > 0 ? ' (the findings follow on stdout, in full)' : ''}\n`);
  for (const [i, f] of all.entries()) {
    const unsaved = i === 0 && e.unsaved !== undefined;
    io.out(`${unsaved ? 'NOT SAVED ' : ''}${findingLines(f).join('\n')}\n`);
    if (unsaved) io.out(`   the scenario (save it as a .json file to replay it):\n${scenarioJson(f.scenario)}`);
  }
  const code = exitCodeFor({ findings: all.length, infraError: e.message });
  io.out(
    `exit ${code}: ${code === 1 ? 'violation found (the corpus could not be written)' : 'infrastructure error'}\n`,
  );
  return code;
}

/** `hibfuzz fuzz`: the one table its parser and help come from. */
export const FUZZ_CMD = {
  name: 'fuzz',
  summary: 'a campaign: generated scenarios (after the corpus and the shipped seeds) on the model or a real kernel',
  options: {
    target: { type: 'string', arg: 'model|vm', help: 'where scenarios run (default model)' },
    kernel: { type: 'string', arg: 'K', help: '--target vm: debian-6.1, debian-6.12, kjump-6.12 or PATH/bzImage' },
    budget: { type: 'string', arg: '60s|10m', help: 'wall-clock budget (default 60s unless --runs is given)' },
    runs: { type: 'string', arg: 'N', help: 'stop after N generated runs' },
    seed: { type: 'string', arg: 'S', help: 'campaign seed (default $HIBFUZZ_SEED or random); printed first' },
    shard: { type: 'string', arg: 'k/n', help: 'run shard k of n (disjoint batches of one seed)' },
    corpus: { type: 'string', arg: 'DIR', help: 'where findings are saved and replayed from (default corpus)' },
    plant: PLANT_OPT,
    parts: PARTS_OPT,
    ktap: { type: 'string', arg: 'FILE', help: 'KTAP report (nested suite, replay headers); - is stdout' },
    junit: { type: 'string', arg: 'FILE', help: 'JUnit XML report; - is stdout' },
    'max-mem-pages': { type: 'string', arg: 'N', help: 'largest generated machine (default 4096; vm 65536)' },
    protocol: { type: 'string', arg: 'kexec|swsusp', help: '--target model: generate this protocol only' },
    jobs: { type: 'string', arg: 'N', help: '--target vm: parallel real-kernel runs (default: the cores)' },
    'no-replay': { type: 'boolean', help: 'do not replay the corpus and the seeds first' },
    'shrink-evals': { type: 'string', arg: 'N', help: 'shrink candidates per finding (default 3000; vm fewer)' },
    'shrink-budget': { type: 'string', arg: 'DURATION', help: '--target vm: wall-clock cap on shrinking a finding' },
    'max-rss': MAX_RSS_OPT,
  },
  notes: ['exit status: 0 every run held, 1 a violation was found, 2 usage or infrastructure error.'],
} as const satisfies Command;

/** The model with a variant's parts; every scenario goes through its `scenario`, replays name its --parts. */
function variantTarget(m: ModelParts, shrinkEvals: number): Target {
  const t = modelTarget({ parts: m.parts, shrinkEvals, signature: signatureOf });
  return {
    ...t,
    generated: (s) => asRun(m, s),
    replayed: (s) => asRun(m, s),
    run: (s, ctx) => t.run(asRun(m, s), ctx),
    // shrink only to scenarios already in the variant's form: the saved finding is what ran
    shrink: { ...t.shrink, admissible: (s) => JSON.stringify(asRun(m, s)) === JSON.stringify(s) },
    replayCommand: (file: string) => `${modelReplayCommand(file, undefined)}${partsFlags(m)}`,
  };
}

export async function cmdFuzz(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, FUZZ_CMD);
  if (positionals.length > 0) fail(`fuzz: unexpected argument '${positionals[0]}'`);
  // Every flag is validated before anything is created or written; a flag that would do nothing is refused.
  const target = values.target ?? 'model';
  if (target !== 'model' && target !== 'vm') fail(`--target: '${target}' is not model or vm`);
  if (target === 'vm' && values.kernel === undefined)
    fail('--target vm needs --kernel (debian-6.1, debian-6.12 or a path)');
  for (const [flag, given] of MODEL_IGNORES) {
    if (target === 'model' && values[flag] !== undefined) fail(`--${flag} ${given} (add --target vm)`);
  }
  if (target === 'vm' && values.protocol !== undefined) {
    fail('--protocol applies to --target model (a real kernel runs the protocol it was built for)');
  }
  const protocol = values.protocol;
  if (protocol !== undefined && protocol !== 'kexec' && protocol !== 'swsusp') {
    fail(`--protocol: '${protocol}' is not kexec or swsusp`);
  }
  const shard: Shard = values.shard !== undefined ? value(parseShard(values.shard)) : { k: 1, n: 1 };
  const runs = values.runs !== undefined ? value(parseIntFlag('runs', values.runs, 1, 1e12)) : undefined;
  const budgetMs =
    values.budget !== undefined ? value(parseBudget(values.budget)) : runs === undefined ? 60_000 : undefined;
  const seedText = values.seed ?? io.env.HIBFUZZ_SEED;
  const seed = seedText !== undefined ? value(parseIntFlag('seed', seedText, 0, 0xffffffff)) : randomInt(0, 2 ** 31);
  const maxMemPages =
    values['max-mem-pages'] !== undefined
      ? value(parseIntFlag('max-mem-pages', values['max-mem-pages'], 512, 16 * 1024 * 1024))
      : target === 'vm'
        ? 65536
        : 4096;
  const jobs = values.jobs !== undefined ? value(parseIntFlag('jobs', values.jobs, 1, 256)) : availableParallelism();
  // each shrink candidate on a real kernel is one real run: a small budget there, by count and by time
  const shrinkEvals =
    values['shrink-evals'] !== undefined
      ? value(parseIntFlag('shrink-evals', values['shrink-evals'], 0, 1e7))
      : target === 'vm'
        ? VM_SHRINK_EVALS
        : 3000;
  const shrinkMs = values['shrink-budget'] !== undefined ? value(parseBudget(values['shrink-budget'])) : VM_SHRINK_MS;
  if (target === 'vm' && values.parts !== undefined) {
    fail('--parts applies to --target model (a real kernel runs its own code; --plant changes its prediction)');
  }
  const swapped = await modelParts(values);
  const { parts, plant, variant } = swapped;
  const limit = memoryLimitFlag(values['max-rss']);
  checkReportPaths({ ktap: values.ktap, junit: values.junit });
  const corpusDir = values.corpus ?? 'corpus';
  const replayDirs = values['no-replay'] ? [] : target === 'vm' ? [corpusDir] : [corpusDir, SEEDS_DIR];
  checkCampaignMemory(maxMemPages, replayDirs, limit);
  const opened = openCorpus(corpusDir);
  if (!opened.ok) return infra(io, opened.error);
  sweepTemps(corpusDir);
  let vm: { backend: Backend; identity: KernelIdentity } | undefined;
  if (target === 'vm') {
    const backend = openBackend(values.kernel as string);
    try {
      vm = { backend, identity: await backend.identity() };
    } catch (e) {
      if (!isInfraError(e)) throw e;
      return infra(io, e.message.split('\n')[0] ?? '');
    }
  }

  const plantInfo =
    plant !== undefined
      ? `, plant ${plant} (${plantByName(plant)?.invariant})`
      : variant !== undefined
        ? `, variant ${variant.name} (${variant.spec}: ${variant.replaced.join(', ')})`
        : '';
  io.out(
    `hibfuzz fuzz: target ${target}${target === 'vm' ? ` (${values.kernel}, ${jobs} jobs)` : ''}${plantInfo}, seed ${seed}, shard ${shard.k}/${shard.n}, ` +
      `${budgetMs !== undefined ? `budget ${budgetMs / 1000}s` : 'no time budget'}${runs !== undefined ? `, ${runs} runs` : ''}, corpus ${corpusDir}\n`,
  );
  let lastPlain = 0;
  let statusShown = false;
  const clearStatus = () => {
    if (statusShown) io.err('\r\x1b[K');
    statusShown = false;
  };
  const onProgress = (p: CampaignProgress) => {
    const rate = p.elapsedMs > 0 ? Math.round((p.runs * 1000) / p.elapsedMs) : 0;
    const line = `${p.phase === 'replay' ? 'replaying corpus' : `${p.runs} runs`} ${(p.elapsedMs / 1000).toFixed(1)}s ${rate} runs/s, ${p.findings} finding(s); ${coverageShort(p.coverage)}`;
    if (io.isTTY) {
      io.err(`\r\x1b[K${line}`);
      statusShown = true;
    } else if (p.elapsedMs - lastPlain >= 5000) {
      lastPlain = p.elapsedMs;
      io.err(`${line}\n`);
    }
  };
  const reported: Finding[] = [];
  const onFinding = (f: Finding) => {
    reported.push(f);
    clearStatus();
    io.out(
      `NEW ${f.record.invariant} (${f.record.name}): ${f.record.violations[0]?.message ?? f.record.reasons?.[0] ?? f.record.differences?.[0] ?? ''}${f.file ? ` -> ${rel(f.file)}` : ''}\n`,
    );
  };
  const interrupted = io.interrupted ?? (() => false);
  let result: CampaignResult;
  try {
    if (target === 'vm' && vm !== undefined) {
      // one directory per campaign: a finding's record names its run's console logs, which a rerun must not replace
      const workRoot = join(
        io.env.HIBFUZZ_CACHE ?? join(io.env.HOME ?? '/tmp', '.cache', 'hibfuzz'),
        'fuzz-runs',
        `${seed}-${shard.k}of${shard.n}-${new Date().toISOString().replace(/[:.]/g, '-')}`,
      );
      result = await runVmCampaign({
        backend: vm.backend,
        identity: vm.identity,
        minMemPages: vm.identity.protocol === 'kexec' ? KJUMP_MIN_MEM_MIB * 256 : MIN_VM_MEM_PAGES,
        kernel: values.kernel as string,
        seed,
        shard,
        ...(budgetMs !== undefined ? { budgetMs } : {}),
        ...(runs !== undefined ? { runs } : {}),
        jobs,
        parts,
        ...(plant !== undefined ? { plant } : {}),
        corpusDir,
        replayDirs,
        workRoot,
        maxMemPages,
        shrinkEvals,
        shrinkMs,
        log: (l) => {
          clearStatus();
          io.err(`${l}\n`);
        },
        onProgress,
        onFinding,
        shouldStop: interrupted,
      });
      io.out(`vm: ${result.unsupported} scenarios not runnable on ${values.kernel} were skipped (not run)\n`);
    } else {
      result = await runCampaign({
        seed,
        shard,
        // a variant's findings replay with the same --parts (the record's command says so)
        ...(variant !== undefined
          ? {
              target: variantTarget(swapped, shrinkEvals),
            }
          : {}),
        ...(budgetMs !== undefined ? { budgetMs } : {}),
        ...(runs !== undefined ? { runs } : {}),
        parts,
        ...(plant !== undefined ? { plant } : {}),
        arb: { maxMemPages, ...(protocol !== undefined ? { protocol } : {}) },
        corpusDir,
        replayDirs,
        shrinkEvals,
        onProgress,
        onFinding,
        shouldStop: interrupted,
      });
    }
  } catch (e) {
    if (!(e instanceof CorpusWriteError)) throw e;
    clearStatus();
    return corpusFailed(io, e, reported);
  }
  clearStatus();
  const secs = result.elapsedMs / 1000;
  io.out(
    `\n${result.runs} runs in ${secs.toFixed(1)}s (${rate(result.runs, secs)} runs/s)` +
      `; replayed ${result.replayed.files} corpus/seed scenarios (${result.replayed.failing} failing)` +
      `; ${result.skipped} skipped (did not fit)${interrupted() ? '; interrupted' : ''}\n`,
  );
  for (const e of result.corpusErrors) io.err(`warning: ${e}\n`);
  for (const e of result.invalid) io.err(`generator produced an invalid scenario: ${e}\n`);
  const { infraErrors } = result;
  for (const e of infraErrors) io.err(`infra: ${e}\n`);
  if (result.stoppedByInfra) io.err(`infra: ${INFRA_ERRORS_IN_A_ROW} infrastructure errors in a row: stopped\n`);
  if (result.findings.length === 0) {
    io.out('no findings: every invariant held (or failed only as a known design limit predicts)\n');
  } else {
    const hits = result.findings.reduce((a, f) => a + f.hits, 0);
    io.out(`${result.findings.length} distinct finding(s), ${hits} hit(s) in this campaign:\n`);
    const ordered = orderFindings(result.findings, plant !== undefined ? plantByName(plant)?.invariant : undefined);
    for (const f of ordered.slice(0, DETAILED)) io.out(`${findingLines(f).join('\n')}\n`);
    if (ordered.length > DETAILED) {
      io.out(`... and ${ordered.length - DETAILED} more (details in their .txt files):\n`);
      for (const f of ordered.slice(DETAILED)) {
        io.out(`   ${f.record.invariant} (${f.record.name}, ${f.hits} hit(s))${f.file ? ` -> ${rel(f.file)}` : ''}\n`);
      }
    }
  }
  io.out(`${coverageLines(result.coverage).join('\n')}\n`);
  const tests = testResults(result, target);
  const reportErrors: string[] = [];
  const report = (path: string | undefined, text: () => string) => {
    if (path === undefined) return;
    try {
      writeOutput(path, text(), io.out);
    } catch (e) {
      reportErrors.push(`cannot write ${path}: ${errnoText(e)}`);
      io.err(`hibfuzz: ${reportErrors.at(-1)}\n`);
    }
  };
  report(values.ktap, () =>
    formatKtap(tests, {
      suite: target === 'vm' ? `hibfuzz_vm_${String(values.kernel).replace(/[^A-Za-z0-9]+/g, '_')}` : 'hibfuzz_model',
      seed,
      shard: `${shard.k}/${shard.n}`,
      target,
      ...(values.kernel !== undefined ? { kernel: values.kernel } : {}),
      ...(plant !== undefined ? { plant } : {}),
      ...(variant !== undefined ? { parts: variant.spec } : {}),
      replay: [
        `hibfuzz fuzz --target ${target} --seed ${seed} --shard ${shard.k}/${shard.n}`,
        ...(values.kernel !== undefined ? [`--kernel ${values.kernel}`] : []),
        partsFlags(swapped).trim(),
        runs !== undefined ? `--runs ${runs}` : '',
        values.budget !== undefined ? `--budget ${values.budget}` : '',
        values['max-mem-pages'] !== undefined ? `--max-mem-pages ${maxMemPages}` : '',
        protocol !== undefined ? `--protocol ${protocol}` : '',
        values['no-replay'] ? '--no-replay' : '',
      ]
        .filter((x) => x !== '')
        .join(' '),
      errors: infraErrors,
    }),
  );
  const pictureError = (line: string) => {
    reportErrors.push(line);
    io.err(`hibfuzz: ${line}\n`);
  };
  report(values.junit, () =>
    formatJunit(withPictures(tests, swapped, pictureError), {
      seconds: secs,
      startedAt: new Date(Date.now() - result.elapsedMs),
      shard,
      hostname: hostname(),
      properties: { seed: String(seed), shard: `${shard.k}/${shard.n}`, target, ...(plant ? { plant } : {}) },
    }),
  );
  const firstError = infraErrors[0] ?? reportErrors[0];
  const summary = { findings: result.findings.length, ...(firstError !== undefined ? { infraError: firstError } : {}) };
  const code = exitCodeFor(summary);
  io.out(`exit ${code}: ${code === 0 ? 'all held' : code === 1 ? 'violation found' : 'infrastructure error'}\n`);
  return code;
}

/** Runs per second: integers for the model, two decimals for slow targets. */
const rate = (runs: number, secs: number) => {
  const r = runs / Math.max(secs, 1e-3);
  return r >= 10 ? String(Math.round(r)) : r.toFixed(2);
};

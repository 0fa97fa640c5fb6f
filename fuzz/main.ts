// The hibfuzz command line: argument parsing (node:util parseArgs, strict) and wiring of the campaign, corpus,
// replay, shrink, explain, report and bench modules to files and streams (fuzz/cli-kit.ts: what they share).
// Decisions live in those modules; the exit status comes from exitCodeFor().

import { randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PLANTS, plantByName } from '../properties/__fixtures__/plants.ts';
import { INVARIANT_NAMES, isInvariantName } from '../spec/index.ts';
import { scenarioJsonSchema } from '../spec/scenario/json-schema.ts';
import type { Backend, KernelIdentity } from '../vm/backend.ts';
import { openBackend } from '../vm/backends.ts';
import { isInfraError } from '../vm/errors.ts';
import { MIN_MEM_MIB as KJUMP_MIN_MEM_MIB } from '../vm/kjump/plan.ts';
import { MIN_VM_MEM_PAGES } from '../vm/plan.ts';
import { parseBudget, parseIntFlag, parseShard, type Shard } from './args.ts';
import { runBench } from './bench.ts';
import {
  type CampaignProgress,
  type CampaignResult,
  type Finding,
  findingText,
  INFRA_ERRORS_IN_A_ROW,
  runCampaign,
} from './campaign.ts';
import { fail, type Io, infra, loadScenario, parse, plantParts, processIo, UsageError } from './cli-kit.ts';
import {
  atomicWrite,
  type FindingRecord,
  openCorpus,
  readCorpus,
  saveFinding,
  scenarioFilesOf,
  scenarioJson,
  sweepTemps,
  updateFinding,
} from './corpus.ts';
import { coverageLines, coverageShort } from './coverage.ts';
import { EXIT, exitCodeFor } from './exit-code.ts';
import { memorySvg, storyLines } from './explain.ts';
import { cmdGate, GATE_USAGE } from './gate.ts';
import { formatJunit } from './junit.ts';
import { formatKtap } from './ktap.ts';
import { writeFaultRealigner } from './realign.ts';
import { firstDivergence, replayLines, replayScenario, violationLines } from './replay.ts';
import { DIFF_TEST, modelResults, type TestResult } from './results.ts';
import { shrinkScenario } from './shrink.ts';
import { printScenarioText, stepText } from './text.ts';
import { cmdVm, VM_USAGE } from './vm-cli.ts';
import { runVmCampaign, VM_SHRINK_EVALS, VM_SHRINK_MS } from './vm-target.ts';

export const USAGE = `hibfuzz: property-based testing and fuzzing of Linux hibernation (kexec approach and swsusp)

usage:
  hibfuzz fuzz [--target model|vm] [--kernel K] [--budget 60s|10m] [--runs N] [--seed S] [--shard k/n]
               [--corpus DIR] [--plant NAME] [--ktap FILE] [--junit FILE] [--max-mem-pages N]
               [--protocol kexec|swsusp] [--jobs N] [--no-replay]
  hibfuzz replay FILE|DIR [--plant NAME]       re-run scenarios on the model; verdict and first divergence
  hibfuzz shrink FILE [--plant NAME] [--invariant NAME] [--out FILE]
  hibfuzz explain FILE [--plant NAME] [--svg OUT]   the run as a story, phase by phase; memory as SVG
  hibfuzz schema                                the JSON Schema of the scenario format
  hibfuzz plants                                the planted bugs (for --plant)
  hibfuzz merge DIR... [--into DIR]             merge corpora (dedup by invariant and signature)
  hibfuzz bench [--json] [--quick]              model and campaign throughput
${VM_USAGE}${GATE_USAGE}  hibfuzz --help

exit status: 0 every run held, 1 a violation was found, 2 usage or infrastructure error.
`;

/** Seed scenarios shipped with hibfuzz, replayed by every campaign after the corpus. */
export const SEEDS_DIR = fileURLToPath(new URL('./seeds', import.meta.url));

function value<T>(r: { ok: true; value: T } | { ok: false; error: string }): T {
  if (!r.ok) fail(r.error);
  return r.value;
}

const rel = (p: string) => {
  const r = p.startsWith(`${process.cwd()}/`) ? p.slice(process.cwd().length + 1) : p;
  return r;
};

// ---- fuzz ----------------------------------------------------------------------------------------------------

function findingLines(f: Finding): string[] {
  const r = f.record;
  const out = [
    `== ${r.name}: ${r.invariant} ${r.verdict} (${r.target}${r.plant ? `, plant ${r.plant}` : ''}; ${r.count} hit(s) in total${f.isNew ? '' : ', already in the corpus'})`,
  ];
  if (r.shrink.evals > 0) {
    out.push(
      `   shrunk from ${r.original.id} (${r.original.memPages} pages, ${r.original.steps} steps) to ${f.scenario.machine.memPages} pages, ${f.scenario.steps.length} steps in ${r.shrink.evals} runs`,
    );
  }
  out.push(
    ...printScenarioText(f.scenario)
      .trimEnd()
      .split('\n')
      .map((l) => `   ${l}`),
  );
  for (const [i, o] of r.outcomes.entries()) {
    const st = f.scenario.steps[i];
    out.push(`   -> step ${i} ${st ? stepText(st) : ''}: ${o}`);
  }
  out.push('   violated:');
  for (const v of r.violations) out.push(...violationLines(v, '     '));
  for (const d of r.differences ?? []) out.push(`     ${d}`);
  if (f.file !== undefined) out.push(`   saved: ${rel(f.file)} (+ .txt, .finding.json)`);
  if (r.seed !== undefined) {
    out.push(
      `   origin: campaign seed ${r.campaignSeed}, batch ${r.batch ?? '?'}: fast-check seed ${r.seed} path ${r.path ?? '?'}`,
    );
  }
  if (r.replayedFrom !== undefined) out.push(`   origin: replay of ${rel(r.replayedFrom)}`);
  out.push(`   replay: ${r.replay.replace(f.file ?? '\0', rel(f.file ?? ''))}`);
  return out;
}

/** Findings printed in full at the end of a campaign; the rest get one line each. */
const DETAILED = 3;

/** The plant's own invariant first, then the most frequent, then by name (stable output for a seed). */
export function orderFindings(fs: readonly Finding[], invariant: string | undefined): Finding[] {
  return [...fs].sort(
    (a, b) =>
      Number(b.record.invariant === invariant) - Number(a.record.invariant === invariant) ||
      b.hits - a.hits ||
      a.record.name.localeCompare(b.record.name),
  );
}

function testResults(r: CampaignResult, target: 'model' | 'vm'): TestResult[] {
  const tests = modelResults(r, target);
  if (target === 'vm') {
    const extra = [DIFF_TEST, 'KernelBootsAndRuns'].map(
      (name): TestResult => ({
        target,
        name,
        exercised: r.runs,
        runs: r.runs,
        failures: r.findings
          .filter((f) => f.record.invariant === name)
          .map((f) => ({
            ...(f.file ? { file: f.file } : {}),
            count: f.record.count,
            lines: [...(f.record.differences ?? []), ...f.record.outcomes],
          })),
      }),
    );
    tests.push(...extra);
  }
  return tests;
}

async function cmdFuzz(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    target: { type: 'string' },
    kernel: { type: 'string' },
    budget: { type: 'string' },
    runs: { type: 'string' },
    seed: { type: 'string' },
    shard: { type: 'string' },
    corpus: { type: 'string' },
    plant: { type: 'string' },
    ktap: { type: 'string' },
    junit: { type: 'string' },
    'max-mem-pages': { type: 'string' },
    protocol: { type: 'string' },
    jobs: { type: 'string' },
    'no-replay': { type: 'boolean' },
    'shrink-evals': { type: 'string' },
    'shrink-budget': { type: 'string' },
  });
  if (positionals.length > 0) fail(`fuzz: unexpected argument '${positionals[0]}'`);
  // Every flag is validated before anything is created or written.
  const target = values.target ?? 'model';
  if (target !== 'model' && target !== 'vm') fail(`--target: '${target}' is not model or vm`);
  if (target === 'vm' && values.kernel === undefined)
    fail('--target vm needs --kernel (debian-6.1, debian-6.12 or a path)');
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
  const { parts, plant } = plantParts(values.plant);
  for (const f of [values.ktap, values.junit]) {
    if (f !== undefined && !existsSync(dirname(resolve(f)))) fail(`${f}: directory ${dirname(f)} does not exist`);
  }
  const corpusDir = values.corpus ?? 'corpus';
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
  const opened = openCorpus(corpusDir);
  if (!opened.ok) return infra(io, opened.error);
  sweepTemps(corpusDir);

  const plantInfo = plant !== undefined ? `, plant ${plant} (${plantByName(plant)?.invariant})` : '';
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
  const onFinding = (f: Finding) => {
    clearStatus();
    io.out(
      `NEW ${f.record.invariant} (${f.record.name}): ${f.record.violations[0]?.message ?? f.record.reasons?.[0] ?? f.record.differences?.[0] ?? ''}${f.file ? ` -> ${rel(f.file)}` : ''}\n`,
    );
  };
  const interrupted = io.interrupted ?? (() => false);
  let result: CampaignResult;
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
      replayDirs: values['no-replay'] ? [] : [corpusDir],
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
      ...(budgetMs !== undefined ? { budgetMs } : {}),
      ...(runs !== undefined ? { runs } : {}),
      parts,
      ...(plant !== undefined ? { plant } : {}),
      arb: { maxMemPages, ...(protocol !== undefined ? { protocol } : {}) },
      corpusDir,
      replayDirs: values['no-replay'] ? [] : [corpusDir, SEEDS_DIR],
      shrinkEvals,
      onProgress,
      onFinding,
      shouldStop: interrupted,
    });
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
  if (values.ktap !== undefined) atomicWrite(values.ktap, formatKtap(tests));
  if (values.junit !== undefined) {
    atomicWrite(
      values.junit,
      formatJunit(tests, {
        seconds: secs,
        properties: { seed: String(seed), shard: `${shard.k}/${shard.n}`, target, ...(plant ? { plant } : {}) },
      }),
    );
  }
  const summary = {
    findings: result.findings.length,
    ...(infraErrors.length > 0 ? { infraError: infraErrors[0] as string } : {}),
  };
  const code = exitCodeFor(summary);
  io.out(`exit ${code}: ${code === 0 ? 'all held' : code === 1 ? 'violation found' : 'infrastructure error'}\n`);
  return code;
}

/** Runs per second: integers for the model, two decimals for slow targets. */
const rate = (runs: number, secs: number) => {
  const r = runs / Math.max(secs, 1e-3);
  return r >= 10 ? String(Math.round(r)) : r.toFixed(2);
};

// ---- replay / shrink / explain ------------------------------------------------------------------------------

function recordedPlant(file: string): string | undefined {
  const rec = file.replace(/\.json$/, '.finding.json');
  try {
    return (JSON.parse(readFileSync(rec, 'utf8')) as FindingRecord).plant;
  } catch {
    return undefined;
  }
}

function cmdReplay(args: readonly string[], io: Io): number {
  const { values, positionals } = parse(args, { plant: { type: 'string' }, json: { type: 'boolean' } });
  if (positionals.length !== 1) fail('replay: expected one FILE or DIR');
  const { parts, plant } = plantParts(values.plant);
  const files = scenarioFilesOf(positionals[0] as string);
  if (!files.ok) fail(files.error);
  const loaded = files.files.map((f) => ({ file: f, scenario: loadScenario(f) }));
  let findings = 0;
  const json: unknown[] = [];
  for (const { file, scenario } of loaded) {
    const r = replayScenario(scenario, parts);
    if (!r.ok) {
      io.out(`== ${file}: the model cannot set up this machine: ${r.error}\n`);
      continue;
    }
    if (r.judgement.verdict === 'violated') findings++;
    if (values.json) {
      const d = firstDivergence(r);
      json.push({ file, verdict: r.judgement.verdict, unexpected: r.judgement.unexpected, firstDivergence: d ?? null });
      continue;
    }
    io.out(`== ${file}${plant ? ` (plant ${plant})` : ''}\n${replayLines(scenario, r).join('\n')}\n`);
    const rp = recordedPlant(file);
    if (rp !== undefined && plant === undefined) {
      io.out(`note: this finding was recorded with plant ${rp}; add --plant ${rp} to reproduce it\n`);
    }
  }
  if (values.json) io.out(`${JSON.stringify(json, null, 2)}\n`);
  else if (loaded.length > 1) io.out(`${loaded.length} scenarios replayed, ${findings} violated\n`);
  return exitCodeFor({ findings });
}

function cmdShrink(args: readonly string[], io: Io): number {
  const { values, positionals } = parse(args, {
    plant: { type: 'string' },
    invariant: { type: 'string' },
    out: { type: 'string' },
    'max-evals': { type: 'string' },
  });
  if (positionals.length !== 1) fail('shrink: expected one FILE');
  const { parts } = plantParts(values.plant);
  if (values.invariant !== undefined && !isInvariantName(values.invariant)) {
    fail(`--invariant: unknown invariant '${values.invariant}' (${INVARIANT_NAMES.join(', ')})`);
  }
  const maxEvals =
    values['max-evals'] !== undefined ? value(parseIntFlag('max-evals', values['max-evals'], 1, 1e7)) : 5000;
  const s = loadScenario(positionals[0] as string);
  const r = replayScenario(s, parts);
  if (!r.ok) fail(`${positionals[0]}: the model cannot set up this machine: ${r.error}`);
  const inv = values.invariant ?? r.judgement.unexpected[0]?.invariant;
  if (inv === undefined || !r.judgement.unexpected.some((v) => v.invariant === inv)) {
    fail(
      `shrink: ${positionals[0]} does not violate ${inv ?? 'any invariant'} on the model${values.plant ? ` with plant ${values.plant}` : ''} (nothing to shrink; try --plant)`,
    );
  }
  const sh = shrinkScenario(
    s,
    (x) => {
      const y = replayScenario(x, parts);
      return y.ok && y.judgement.unexpected.some((v) => v.invariant === inv);
    },
    maxEvals,
    writeFaultRealigner(parts),
  );
  const out = { ...sh.scenario, description: `${inv} (shrunk from ${s.id})` };
  io.out(
    `shrunk ${s.id} for ${inv}: ${s.machine.memPages} -> ${out.machine.memPages} pages, ${s.steps.length} -> ${out.steps.length} steps (${sh.evals} runs, ${sh.accepted} accepted)\n`,
  );
  io.out(printScenarioText(out));
  const again = replayScenario(out, parts);
  if (again.ok) for (const v of again.judgement.unexpected) io.out(`${violationLines(v, '  ').join('\n')}\n`);
  if (values.out !== undefined) {
    atomicWrite(values.out, scenarioJson(out));
    io.out(`saved ${values.out}\n`);
  } else io.out(scenarioJson(out));
  return exitCodeFor({ findings: 1 });
}

function cmdExplain(args: readonly string[], io: Io): number {
  const { values, positionals } = parse(args, { plant: { type: 'string' }, svg: { type: 'string' } });
  if (positionals.length !== 1) fail('explain: expected one FILE');
  const { parts } = plantParts(values.plant);
  if (values.svg !== undefined && !existsSync(dirname(resolve(values.svg))))
    fail(`--svg: directory of ${values.svg} does not exist`);
  const s = loadScenario(positionals[0] as string);
  const r = replayScenario(s, parts);
  if (!r.ok) fail(`${positionals[0]}: the model cannot set up this machine: ${r.error}`);
  io.out(`${storyLines(r).join('\n')}\n`);
  if (values.svg !== undefined) {
    atomicWrite(values.svg, memorySvg(r));
    io.out(`memory picture: ${values.svg}\n`);
  }
  return exitCodeFor({ findings: r.judgement.verdict === 'violated' ? 1 : 0 });
}

// ---- merge -----------------------------------------------------------------------------------------------------

function cmdMerge(args: readonly string[], io: Io): number {
  const { values, positionals } = parse(args, { into: { type: 'string' } });
  if (positionals.length === 0) fail('merge: expected at least one DIR');
  const into = values.into ?? 'corpus';
  const sources = positionals.map((d) => {
    try {
      return { dir: d, c: readCorpus(d) };
    } catch (e) {
      return fail(`${d}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  });
  const opened = openCorpus(into);
  if (!opened.ok) return infra(io, opened.error);
  const target = readCorpus(into);
  const have = new Map(target.findings.map((f) => [f.name, f]));
  const haveFiles = new Set(target.scenarios.map((s) => s.file));
  let added = 0;
  let counted = 0;
  let plain = 0;
  for (const { dir, c } of sources) {
    if (resolve(dir) === resolve(into)) continue;
    for (const e of c.errors) io.err(`warning: ${e}\n`);
    const byFile = new Map(c.scenarios.map((x) => [x.file, x.scenario]));
    const withRecord = new Set<string>();
    for (const rec of c.findings) {
      const file = join(dir, `${rec.name}.json`);
      withRecord.add(file);
      const s = byFile.get(file);
      if (s === undefined) continue;
      const old = have.get(rec.name);
      if (old !== undefined) {
        old.count += rec.count;
        if (rec.lastSeen > old.lastSeen) old.lastSeen = rec.lastSeen;
        updateFinding(into, old);
        counted++;
      } else {
        const copy: FindingRecord = { ...rec, replay: rec.replay.split(file).join(join(into, `${rec.name}.json`)) };
        saveFinding(into, copy, s, findingText(copy, s));
        have.set(rec.name, copy);
        added++;
      }
    }
    for (const { file, scenario } of c.scenarios) {
      if (withRecord.has(file)) continue;
      const dest = join(into, file.slice(dir.length).replace(/^\/+/, ''));
      if (haveFiles.has(dest)) continue;
      atomicWrite(dest, scenarioJson(scenario));
      haveFiles.add(dest);
      plain++;
    }
  }
  io.out(`merged into ${into}: ${added} new finding(s), ${counted} count update(s), ${plain} plain scenario(s)\n`);
  return EXIT.HELD;
}

// ---- main ------------------------------------------------------------------------------------------------------

async function dispatch(argv: readonly string[], io: Io): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      io.out(USAGE);
      return cmd === undefined ? EXIT.ERROR : EXIT.HELD;
    case 'fuzz':
      return cmdFuzz(rest, io);
    case 'replay':
      return cmdReplay(rest, io);
    case 'shrink':
      return cmdShrink(rest, io);
    case 'explain':
      return cmdExplain(rest, io);
    case 'schema':
      parse(rest, {});
      io.out(scenarioJsonSchema());
      return EXIT.HELD;
    case 'plants': {
      parse(rest, {});
      for (const p of PLANTS) io.out(`${p.name.padEnd(28)} ${p.invariant.padEnd(30)} ${p.description}\n`);
      return EXIT.HELD;
    }
    case 'merge':
      return cmdMerge(rest, io);
    case 'bench': {
      const { values, positionals } = parse(rest, { json: { type: 'boolean' }, quick: { type: 'boolean' } });
      if (positionals.length > 0) fail(`bench: unexpected argument '${positionals[0]}'`);
      await runBench(values.quick === true, (r) => {
        if (values.json) io.out(`${JSON.stringify(r)}\n`);
        else {
          io.out(
            `${r.name.padEnd(40)} ${String(r.seconds).padStart(9)} s ${String(r.pages).padStart(10)} pages ${String(r.pagesPerSecond).padStart(10)} pages/s\n`,
          );
        }
      });
      return EXIT.HELD;
    }
    case 'vm':
      return cmdVm(rest, io);
    case 'gate':
      return cmdGate(rest, io);
    default:
      return fail(`unknown command '${cmd}' (see hibfuzz --help)`);
  }
}

/** Run the CLI; returns the exit status. Usage errors print one line on stderr. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`hibfuzz: ${e.message}\n`);
      return exitCodeFor({ usageError: e.message, findings: 0 });
    }
    // anything else is not a violation: one line, exit 2 (HIBFUZZ_DEBUG=1 adds the stack)
    if (io.env.HIBFUZZ_DEBUG === '1' && e instanceof Error) io.err(`${e.stack ?? ''}\n`);
    return infra(io, `${(e as Error).message.split('\n')[0]}`);
  }
}

// The hibfuzz command line: argument parsing (node:util parseArgs, strict) and wiring of the campaign, corpus,
// replay, shrink, explain, report and bench modules to files and streams (fuzz/cli-kit.ts: what they share).
// Decisions live in those modules; the exit status comes from exitCodeFor().

import { join, resolve } from 'node:path';
import { PLANTS } from '../properties/__fixtures__/plants.ts';
import { scenarioJsonSchema } from '../spec/scenario/json-schema.ts';
import { runBench } from './bench.ts';
import { findingText } from './campaign.ts';
import { fail, type Io, infra, parse, processIo, UsageError } from './cli-kit.ts';
import {
  atomicWrite,
  type FindingRecord,
  openCorpus,
  readCorpus,
  saveFinding,
  scenarioJson,
  updateFinding,
} from './corpus.ts';
import { EXIT, exitCodeFor } from './exit-code.ts';
import { errnoText } from './fsx.ts';
import { cmdFuzz } from './fuzz-cmd.ts';
import { cmdGate, GATE_USAGE } from './gate.ts';
import { cmdExplain, cmdReplay, cmdShrink } from './replay-cmd.ts';
import { cmdVm, VM_USAGE } from './vm-cli.ts';

export { orderFindings, SEEDS_DIR } from './fuzz-cmd.ts';

export const USAGE = `hibfuzz: property-based testing and fuzzing of Linux hibernation (kexec approach and swsusp)

usage:
  hibfuzz fuzz [--target model|vm] [--kernel K] [--budget 60s|10m] [--runs N] [--seed S] [--shard k/n]
               [--corpus DIR] [--plant NAME] [--ktap FILE] [--junit FILE] [--max-mem-pages N]
               [--protocol kexec|swsusp] [--jobs N] [--no-replay] [--max-rss SIZE]
  hibfuzz replay FILE|DIR [--plant NAME] [--json] [--max-rss SIZE]
                                                re-run scenarios on the model; verdict and first divergence
  hibfuzz shrink FILE [--plant NAME] [--invariant NAME] [--out FILE] [--max-rss SIZE]
  hibfuzz explain FILE [--plant NAME] [--svg OUT] [--max-rss SIZE]
                                                the run as a story, phase by phase; memory as SVG
  hibfuzz schema                                the JSON Schema of the scenario format
  hibfuzz plants                                the planted bugs (for --plant)
  hibfuzz merge DIR... [--into DIR]             merge corpora (dedup by invariant and signature)
  hibfuzz bench [--json] [--quick]              model and campaign throughput
${VM_USAGE}${GATE_USAGE}  hibfuzz --help

A report or output path may be '-' (stdout). --max-rss: the memory a model run may take (default 90% of RAM).
--kernel, --jobs and --shrink-budget are for --target vm, --protocol for --target model.

exit status: 0 every run held, 1 a violation was found, 2 usage or infrastructure error (or a scenario not run).
`;

// ---- merge -----------------------------------------------------------------------------------------------------

function cmdMerge(args: readonly string[], io: Io): number {
  const { values, positionals } = parse(args, { into: { type: 'string' } });
  if (positionals.length === 0) fail('merge: expected at least one DIR');
  const into = values.into ?? 'corpus';
  const sources = positionals.map((d) => {
    try {
      return { dir: d, c: readCorpus(d) };
    } catch (e) {
      return fail(`${d}: ${errnoText(e)}`);
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

function noArguments(cmd: string, args: readonly string[]): void {
  const { positionals } = parse(args, {});
  if (positionals.length > 0) fail(`${cmd}: unexpected argument '${positionals[0]}'`);
}

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
      noArguments('schema', rest);
      io.out(scenarioJsonSchema());
      return EXIT.HELD;
    case 'plants': {
      noArguments('plants', rest);
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

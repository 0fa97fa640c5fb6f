// The hibfuzz command line: argument parsing (node:util parseArgs, strict) and wiring of the campaign, corpus,
// replay, shrink, explain, report and bench modules to files and streams (fuzz/cli-kit.ts: what they share).
// Decisions live in those modules; the exit status comes from exitCodeFor().

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PLANTS } from '../properties/__fixtures__/plants.ts';
import { scenarioJsonSchema } from '../spec/scenario/json-schema.ts';
import { runBench } from './bench.ts';
import { findingText } from './campaign.ts';
import {
  type Command,
  commandHelp,
  fail,
  HelpRequested,
  type Io,
  infra,
  parse,
  processIo,
  synopsis,
  UsageError,
} from './cli-kit.ts';
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
import { cmdFuzz, FUZZ_CMD } from './fuzz-cmd.ts';
import { cmdGate, GATE_CMD } from './gate.ts';
import { cmdExplain, cmdReplay, cmdShrink, EXPLAIN_CMD, REPLAY_CMD, SHRINK_CMD } from './replay-cmd.ts';
import { cmdVm, VM_COMMANDS } from './vm-cli.ts';

export { orderFindings } from './findings.ts';
export { SEEDS_DIR } from './fuzz-cmd.ts';

const SCHEMA_CMD = {
  name: 'schema',
  summary: 'the JSON Schema of the scenario format (draft 2020-12) on stdout',
  options: {},
} as const satisfies Command;

const PLANTS_CMD = {
  name: 'plants',
  summary: 'the planted bugs (for --plant): name, the invariant that catches it, what it breaks',
  options: {},
} as const satisfies Command;

const MERGE_CMD = {
  name: 'merge',
  args: 'DIR...',
  summary: 'merge corpora (dedup by invariant and signature; hit counts add up)',
  options: { into: { type: 'string', arg: 'DIR', help: 'the corpus merged into (default corpus)' } },
} as const satisfies Command;

const BENCH_CMD = {
  name: 'bench',
  summary: 'model and campaign throughput',
  options: {
    json: { type: 'boolean', help: 'one JSON object per measurement' },
    quick: { type: 'boolean', help: 'small sizes only (seconds, not minutes)' },
  },
} as const satisfies Command;

/** Every subcommand's table, in the order of the usage. */
export const COMMANDS: readonly Command[] = [
  FUZZ_CMD,
  REPLAY_CMD,
  SHRINK_CMD,
  EXPLAIN_CMD,
  SCHEMA_CMD,
  PLANTS_CMD,
  MERGE_CMD,
  BENCH_CMD,
  ...VM_COMMANDS,
  GATE_CMD,
];

/** The package's version (package.json), for --version. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** `hibfuzz --help`: every command's synopsis (made from its table) and summary. */
export const USAGE = `hibfuzz: property-based testing and fuzzing of Linux hibernation (kexec approach and swsusp)

usage:
${COMMANDS.map((c) => [...synopsis(c, '  '), `      ${c.summary}`].join('\n')).join('\n')}
  hibfuzz CMD --help                            one command's flags, each with what it does
  hibfuzz --version

A report or output path may be '-' (stdout). --max-rss: the memory a model run may take (default 90% of RAM).
--kernel, --jobs and --shrink-budget are for --target vm, --protocol for --target model.

exit status: 0 every run held, 1 a violation was found, 2 usage or infrastructure error (or a scenario not run).
`;

// ---- merge -----------------------------------------------------------------------------------------------------

function cmdMerge(args: readonly string[], io: Io): number {
  const { values, positionals } = parse(args, MERGE_CMD);
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
      atomicWrite(dest, scenarioJson(scenario, dest));
      haveFiles.add(dest);
      plain++;
    }
  }
  io.out(`merged into ${into}: ${added} new finding(s), ${counted} count update(s), ${plain} plain scenario(s)\n`);
  return EXIT.HELD;
}

// ---- main ------------------------------------------------------------------------------------------------------

function noArguments(cmd: Command, args: readonly string[]): void {
  const { positionals } = parse(args, cmd);
  if (positionals.length > 0) fail(`${cmd.name}: unexpected argument '${positionals[0]}'`);
}

/** `hibfuzz help [CMD...]`: the usage, or one command's help. */
function help(words: readonly string[]): string {
  if (words.length === 0) return USAGE;
  const name = words.join(' ');
  const c = COMMANDS.find((x) => x.name === name);
  if (c === undefined) fail(`help: unknown command '${name}' (see hibfuzz --help)`);
  return commandHelp(c);
}

async function dispatch(argv: readonly string[], io: Io): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
      io.err(USAGE);
      return EXIT.ERROR;
    case '--help':
    case '-h':
      io.out(USAGE);
      return EXIT.HELD;
    case 'help':
      io.out(help(rest));
      return EXIT.HELD;
    case '--version':
    case '-V':
    case 'version':
      io.out(`hibfuzz ${VERSION}\n`);
      return EXIT.HELD;
    case 'fuzz':
      return cmdFuzz(rest, io);
    case 'replay':
      return cmdReplay(rest, io);
    case 'shrink':
      return cmdShrink(rest, io);
    case 'explain':
      return cmdExplain(rest, io);
    case 'schema':
      noArguments(SCHEMA_CMD, rest);
      io.out(scenarioJsonSchema());
      return EXIT.HELD;
    case 'plants': {
      noArguments(PLANTS_CMD, rest);
      for (const p of PLANTS) io.out(`${p.name.padEnd(28)} ${p.invariant.padEnd(30)} ${p.description}\n`);
      return EXIT.HELD;
    }
    case 'merge':
      return cmdMerge(rest, io);
    case 'bench': {
      const { values, positionals } = parse(rest, BENCH_CMD);
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
    if (e instanceof HelpRequested) {
      io.out(e.text);
      return EXIT.HELD;
    }
    if (e instanceof UsageError) {
      io.err(`hibfuzz: ${e.message}\n`);
      return exitCodeFor({ usageError: e.message, findings: 0 });
    }
    // anything else is not a violation: one line, exit 2 (HIBFUZZ_DEBUG=1 adds the stack)
    if (io.env.HIBFUZZ_DEBUG === '1' && e instanceof Error) io.err(`${e.stack ?? ''}\n`);
    return infra(io, `${(e as Error).message.split('\n')[0]}`);
  }
}

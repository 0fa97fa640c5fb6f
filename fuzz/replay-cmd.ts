// `hibfuzz replay|shrink|explain`: scenario files re-run on the model. A scenario that does not run (unreadable,
// invalid, a machine the model cannot set up, more memory than the limit) is never a pass: one FILE is refused with
// one line (exit 2); a DIR replays every file it can, warns about each other one and says how many ran.
import { readFileSync } from 'node:fs';
import type { ModelRun } from '../impl/index.ts';
import { CLAIM_NAMES, isInvariantName, type Scenario } from '../spec/index.ts';
import { parseIntFlag } from './args.ts';
import {
  asRun,
  type Command,
  fail,
  type Io,
  MAX_RSS_OPT,
  type ModelParts,
  modelParts,
  PARTS_OPT,
  PLANT_OPT,
  parse,
  partsLabel,
  value,
} from './cli-kit.ts';
import { type FindingRecord, readScenarioFile, scenarioFilesOf, scenarioJson } from './corpus.ts';
import { exitCodeFor } from './exit-code.ts';
import { storyLines } from './explain.ts';
import { explainHtml } from './explain-html.ts';
import { memorySvg } from './explain-svg.ts';
import { errnoText, outputPathProblem, STDOUT, writeOutput } from './fsx.ts';
import { type MemoryLimit, memoryLimitFlag, memoryRefusal } from './memory.ts';
import { writeFaultRealigner } from './realign.ts';
import { firstDivergence, replayLines, replayScenario, violationLines } from './replay.ts';
import { shrinkScenario } from './shrink.ts';
import { printScenarioText } from './text.ts';

type Ran = { ok: true; scenario: Scenario; run: ModelRun } | { ok: false; error: string };

/** Read `file`, check its memory need against `limit`, run it on the model: the run or the one-line reason. */
function runFile(file: string, m: ModelParts, limit: MemoryLimit): Ran {
  const r = readScenarioFile(file);
  if (!r.ok) return r;
  const scenario = asRun(m, r.scenario);
  const big = memoryRefusal(scenario, limit);
  if (big !== undefined) return { ok: false, error: `${file}: ${big}` };
  const run = replayScenario(scenario, m.parts);
  if (!run.ok) return { ok: false, error: `${file}: the model cannot set up this machine: ${run.error}` };
  return { ok: true, scenario, run };
}

/** runFile, or the reason as a usage error (one line, exit 2). */
function mustRun(file: string, m: ModelParts, limit: MemoryLimit): { scenario: Scenario; run: ModelRun } {
  const r = runFile(file, m, limit);
  if (!r.ok) fail(r.error);
  return r;
}

/** An output path (`--svg`, `--out`) checked before any work. */
function checkOutput(flag: string, path: string | undefined): void {
  const why = path !== undefined ? outputPathProblem(path) : undefined;
  if (why !== undefined) fail(`--${flag}: cannot write ${path}: ${why}`);
}

/** Write an output after the work: `what PATH` on stdout, or the error line on stderr (returned: it sets the status). */
function written(io: Io, path: string, text: string, what: string): string | undefined {
  try {
    writeOutput(path, text, io.out);
    if (path !== STDOUT) io.out(`${what} ${path}\n`);
    return undefined;
  } catch (e) {
    const line = `cannot write ${path}: ${errnoText(e)}`;
    io.err(`hibfuzz: ${line}\n`);
    return line;
  }
}

function recordedPlant(file: string): string | undefined {
  const rec = file.replace(/\.json$/, '.finding.json');
  try {
    return (JSON.parse(readFileSync(rec, 'utf8')) as FindingRecord).plant;
  } catch {
    return undefined;
  }
}

const PLANT = PLANT_OPT;
const PARTS = PARTS_OPT;
const MAX_RSS = MAX_RSS_OPT;
const EXIT_NOTE = 'exit status: 0 every run held, 1 a violation was found, 2 usage error or a scenario not run.';

export const REPLAY_CMD = {
  name: 'replay',
  args: 'FILE|DIR',
  summary: 're-run scenarios on the model; the verdict and the first divergence',
  options: {
    plant: PLANT,
    parts: PARTS,
    json: { type: 'boolean', help: 'one JSON array on stdout: file, verdict, unexpected violations, first divergence' },
    'max-rss': MAX_RSS,
  },
  notes: [EXIT_NOTE],
} as const satisfies Command;

export const SHRINK_CMD = {
  name: 'shrink',
  args: 'FILE',
  summary: 'shrink a violating scenario to a smaller one that still violates the invariant',
  options: {
    plant: PLANT,
    parts: PARTS,
    invariant: { type: 'string', arg: 'NAME', help: 'the invariant to keep violated (default: the first violated)' },
    out: { type: 'string', arg: 'FILE', help: 'write the shrunk scenario here (default: JSON on stdout)' },
    'max-evals': { type: 'string', arg: 'N', help: 'candidate runs at most (default 5000)' },
    'max-rss': MAX_RSS,
  },
  notes: [EXIT_NOTE],
} as const satisfies Command;

export const EXPLAIN_CMD = {
  name: 'explain',
  args: 'FILE',
  summary: 'the run as a story, phase by phase; physical memory as an SVG picture or an interactive page',
  options: {
    plant: PLANT,
    parts: PARTS,
    svg: { type: 'string', arg: 'OUT', help: 'write the memory picture (SVG) here; - is stdout' },
    html: {
      type: 'string',
      arg: 'OUT',
      help: 'write one self-contained page here: the story beside a memory map to zoom and hover; - is stdout',
    },
    'max-rss': MAX_RSS,
  },
  notes: [EXIT_NOTE],
} as const satisfies Command;

export async function cmdReplay(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, REPLAY_CMD);
  if (positionals.length !== 1) fail('replay: expected one FILE or DIR');
  const swapped = await modelParts(values);
  const limit = memoryLimitFlag(values['max-rss']);
  const path = positionals[0] as string;
  const files = scenarioFilesOf(path);
  if (!files.ok) fail(files.error);
  const dir = files.files.length !== 1 || files.files[0] !== path;
  if (files.files.length === 0) fail(`replay: ${path} holds no scenario files (*.json)`);
  let findings = 0;
  let notRun = 0;
  const json: unknown[] = [];
  for (const file of files.files) {
    const r = dir ? runFile(file, swapped, limit) : { ok: true as const, ...mustRun(file, swapped, limit) };
    if (!r.ok) {
      notRun++;
      io.err(`warning: not run: ${r.error}\n`);
      if (values.json) json.push({ file, verdict: 'notRun', error: r.error });
      continue;
    }
    const { scenario, run } = r;
    if (run.judgement.verdict === 'violated') findings++;
    if (values.json) {
      const d = firstDivergence(run);
      json.push({
        file,
        verdict: run.judgement.verdict,
        unexpected: run.judgement.unexpected,
        firstDivergence: d ?? null,
      });
      continue;
    }
    io.out(`== ${file}${partsLabel(swapped)}\n${replayLines(scenario, run).join('\n')}\n`);
    const rp = recordedPlant(file);
    if (rp !== undefined && swapped.plant === undefined && swapped.variant === undefined) {
      io.out(`note: this finding was recorded with plant ${rp}; add --plant ${rp} to reproduce it\n`);
    }
  }
  if (values.json) io.out(`${JSON.stringify(json, null, 2)}\n`);
  if (dir) {
    const ran = files.files.length - notRun;
    const line = `${files.files.length} scenario file(s): ${ran} ran, ${findings} violated, ${notRun} not run${notRun > 0 ? ' (see the warnings)' : ''}\n`;
    if (values.json) io.err(line);
    else io.out(line);
  }
  return exitCodeFor({ findings, notRun });
}

export async function cmdShrink(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, SHRINK_CMD);
  if (positionals.length !== 1) fail('shrink: expected one FILE');
  const swapped = await modelParts(values);
  const { parts } = swapped;
  if (values.invariant !== undefined && !isInvariantName(values.invariant)) {
    fail(`--invariant: unknown invariant '${values.invariant}' (${CLAIM_NAMES.join(', ')})`);
  }
  const maxEvals =
    values['max-evals'] !== undefined ? value(parseIntFlag('max-evals', values['max-evals'], 1, 1e7)) : 5000;
  checkOutput('out', values.out);
  const file = positionals[0] as string;
  const { scenario: s, run: r } = mustRun(file, swapped, memoryLimitFlag(values['max-rss']));
  const inv = values.invariant ?? r.judgement.unexpected[0]?.invariant;
  if (inv === undefined || !r.judgement.unexpected.some((v) => v.invariant === inv)) {
    fail(
      `shrink: ${file} does not violate ${inv ?? 'any invariant'} on the model${partsLabel(swapped)} (nothing to shrink; try --plant)`,
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
  // Printed to stdout, `$schema` is relative to the working directory (where a redirect usually puts it).
  const text = scenarioJson(out, values.out === undefined || values.out === STDOUT ? STDOUT : values.out);
  if (values.out === undefined) io.out(text);
  const error = values.out !== undefined ? written(io, values.out, text, 'saved') : undefined;
  return exitCodeFor({ findings: 1, ...(error !== undefined ? { infraError: error } : {}) });
}

export async function cmdExplain(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, EXPLAIN_CMD);
  if (positionals.length !== 1) fail('explain: expected one FILE');
  const swapped = await modelParts(values);
  if (swapped.variant !== undefined) io.out(`variant ${swapped.variant.name} (${swapped.variant.spec})\n`);
  checkOutput('svg', values.svg);
  checkOutput('html', values.html);
  const { run: r } = mustRun(positionals[0] as string, swapped, memoryLimitFlag(values['max-rss']));
  io.out(`${storyLines(r).join('\n')}\n`);
  const svgError = values.svg !== undefined ? written(io, values.svg, memorySvg(r), 'memory picture:') : undefined;
  const htmlError =
    values.html !== undefined ? written(io, values.html, explainHtml(r), 'memory map page:') : undefined;
  const error = svgError ?? htmlError;
  return exitCodeFor({
    findings: r.judgement.verdict === 'violated' ? 1 : 0,
    ...(error !== undefined ? { infraError: error } : {}),
  });
}

// `hibfuzz replay|shrink|explain`: scenario files re-run on the model. A scenario that does not run (unreadable,
// invalid, a machine the model cannot set up, more memory than the limit) is never a pass: one FILE is refused with
// one line (exit 2); a DIR replays every file it can, warns about each other one and says how many ran.
import { readFileSync } from 'node:fs';
import type { ModelRun, Parts } from '../impl/index.ts';
import { INVARIANT_NAMES, isInvariantName, type Scenario } from '../spec/index.ts';
import { parseIntFlag } from './args.ts';
import { fail, type Io, parse, plantParts, value } from './cli-kit.ts';
import { type FindingRecord, readScenarioFile, scenarioFilesOf, scenarioJson } from './corpus.ts';
import { exitCodeFor } from './exit-code.ts';
import { memorySvg, storyLines } from './explain.ts';
import { errnoText, outputPathProblem, STDOUT, writeOutput } from './fsx.ts';
import { type MemoryLimit, memoryLimitFlag, memoryRefusal } from './memory.ts';
import { writeFaultRealigner } from './realign.ts';
import { firstDivergence, replayLines, replayScenario, violationLines } from './replay.ts';
import { shrinkScenario } from './shrink.ts';
import { printScenarioText } from './text.ts';

type Ran = { ok: true; scenario: Scenario; run: ModelRun } | { ok: false; error: string };

/** Read `file`, check its memory need against `limit`, run it on the model: the run or the one-line reason. */
function runFile(file: string, parts: Parts, limit: MemoryLimit): Ran {
  const r = readScenarioFile(file);
  if (!r.ok) return r;
  const big = memoryRefusal(r.scenario, limit);
  if (big !== undefined) return { ok: false, error: `${file}: ${big}` };
  const run = replayScenario(r.scenario, parts);
  if (!run.ok) return { ok: false, error: `${file}: the model cannot set up this machine: ${run.error}` };
  return { ok: true, scenario: r.scenario, run };
}

/** runFile, or the reason as a usage error (one line, exit 2). */
function mustRun(file: string, parts: Parts, limit: MemoryLimit): { scenario: Scenario; run: ModelRun } {
  const r = runFile(file, parts, limit);
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

export function cmdReplay(args: readonly string[], io: Io): number {
  const { values, positionals } = parse(args, {
    plant: { type: 'string' },
    json: { type: 'boolean' },
    'max-rss': { type: 'string' },
  });
  if (positionals.length !== 1) fail('replay: expected one FILE or DIR');
  const { parts, plant } = plantParts(values.plant);
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
    const r = dir ? runFile(file, parts, limit) : { ok: true as const, ...mustRun(file, parts, limit) };
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
    io.out(`== ${file}${plant ? ` (plant ${plant})` : ''}\n${replayLines(scenario, run).join('\n')}\n`);
    const rp = recordedPlant(file);
    if (rp !== undefined && plant === undefined) {
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

export function cmdShrink(args: readonly string[], io: Io): number {
  const { values, positionals } = parse(args, {
    plant: { type: 'string' },
    invariant: { type: 'string' },
    out: { type: 'string' },
    'max-evals': { type: 'string' },
    'max-rss': { type: 'string' },
  });
  if (positionals.length !== 1) fail('shrink: expected one FILE');
  const { parts } = plantParts(values.plant);
  if (values.invariant !== undefined && !isInvariantName(values.invariant)) {
    fail(`--invariant: unknown invariant '${values.invariant}' (${INVARIANT_NAMES.join(', ')})`);
  }
  const maxEvals =
    values['max-evals'] !== undefined ? value(parseIntFlag('max-evals', values['max-evals'], 1, 1e7)) : 5000;
  checkOutput('out', values.out);
  const file = positionals[0] as string;
  const { scenario: s, run: r } = mustRun(file, parts, memoryLimitFlag(values['max-rss']));
  const inv = values.invariant ?? r.judgement.unexpected[0]?.invariant;
  if (inv === undefined || !r.judgement.unexpected.some((v) => v.invariant === inv)) {
    fail(
      `shrink: ${file} does not violate ${inv ?? 'any invariant'} on the model${values.plant ? ` with plant ${values.plant}` : ''} (nothing to shrink; try --plant)`,
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
  if (values.out === undefined) io.out(scenarioJson(out));
  const error = values.out !== undefined ? written(io, values.out, scenarioJson(out), 'saved') : undefined;
  return exitCodeFor({ findings: 1, ...(error !== undefined ? { infraError: error } : {}) });
}

export function cmdExplain(args: readonly string[], io: Io): number {
  const { values, positionals } = parse(args, {
    plant: { type: 'string' },
    svg: { type: 'string' },
    'max-rss': { type: 'string' },
  });
  if (positionals.length !== 1) fail('explain: expected one FILE');
  const { parts } = plantParts(values.plant);
  checkOutput('svg', values.svg);
  const { run: r } = mustRun(positionals[0] as string, parts, memoryLimitFlag(values['max-rss']));
  io.out(`${storyLines(r).join('\n')}\n`);
  const error = values.svg !== undefined ? written(io, values.svg, memorySvg(r), 'memory picture:') : undefined;
  return exitCodeFor({
    findings: r.judgement.verdict === 'violated' ? 1 : 0,
    ...(error !== undefined ? { infraError: error } : {}),
  });
}

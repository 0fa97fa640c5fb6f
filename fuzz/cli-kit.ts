// What every hibfuzz subcommand shares: the Io it writes to, strict flag parsing with one-line usage errors, the
// infrastructure-error line, loading scenario files and planted bugs.

import { parseArgs } from 'node:util';
import type { Parts } from '../impl/index.ts';
import { defaultParts } from '../impl/index.ts';
import { plantByName } from '../properties/__fixtures__/plants.ts';
import type { Scenario } from '../spec/index.ts';
import { readScenarioFile } from './corpus.ts';
import { exitCodeFor } from './exit-code.ts';
import { outputPathProblem } from './fsx.ts';
import { type LoadedVariant, loadVariant } from './variant.ts';

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** progress on a terminal: `\r` status line; otherwise plain lines */
  readonly isTTY: boolean;
  readonly env: NodeJS.ProcessEnv;
  /** set by SIGINT: campaigns stop at the next run and report */
  readonly interrupted?: () => boolean;
}

export const processIo = (): Io => ({
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  isTTY: process.stderr.isTTY === true,
  env: process.env,
});

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function fail(message: string): never {
  throw new UsageError(message);
}

/** One flag of a command: its parseArgs type, and what its help says (the value's name, one line of text). */
export interface Opt {
  readonly type: 'string' | 'boolean';
  /** shown without brackets in the synopsis (the command itself refuses its absence) */
  readonly required?: boolean;
  readonly multiple?: boolean;
  /** the value's name in the usage (`N`, `FILE`, `model|vm`); string flags only */
  readonly arg?: string;
  readonly help: string;
}

/**
 * One subcommand: the single table its parser and its help are made from (`hibfuzz CMD --help`, the synopsis in
 * `hibfuzz --help`). A flag that is not in `options` is refused by the parser; every flag in it is in the help.
 */
export interface Command<T extends Record<string, Opt> = Record<string, Opt>> {
  /** `fuzz`, `vm run` */
  readonly name: string;
  /** positional arguments as the synopsis writes them (`FILE|DIR`, `DIR...`) */
  readonly args?: string;
  /** one line: what the command does */
  readonly summary: string;
  readonly options: T;
  /** the synopsis when flags go in groups the table cannot say (gate: three ways to name the kernels) */
  readonly synopsis?: string;
  /** lines after the flags (defaults, what goes with what) */
  readonly notes?: readonly string[];
}

/** Flags several commands share (one wording everywhere). */
export const PLANT_OPT = { type: 'string', arg: 'NAME', help: "swap in a planted bug (see 'hibfuzz plants')" } as const;
export const PARTS_OPT = {
  type: 'string',
  arg: 'FILE[#NAME]',
  help: 'swap in a variant: a module exporting a partial Parts (see examples/variants/); judged like --plant',
} as const;
export const MAX_RSS_OPT = {
  type: 'string',
  arg: 'SIZE',
  help: 'memory a model run may take (default 90% of RAM)',
} as const;

/** Thrown by parse() on `-h`/`--help`: main() prints the text on stdout and exits 0 (nothing else runs). */
export class HelpRequested extends Error {
  override readonly name = 'HelpRequested';
  readonly text: string;
  constructor(text: string) {
    super('help');
    this.text = text;
  }
}

const WIDTH = 116;

/** `[--flag ARG]` (a repeatable flag: `[--flag ARG]...`) */
const flagUsage = (name: string, o: Opt): string => {
  const f = `--${name}${o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''}`;
  return `${o.required ? f : `[${f}]`}${o.multiple ? '...' : ''}`;
};

/** Words filled into lines of at most WIDTH: the first line starts with `first`, the others with `indent` spaces. */
function fill(first: string, words: readonly string[], indent: number): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const w of words) {
    if (!empty && line.length + 1 + w.length > WIDTH) {
      lines.push(line);
      line = ' '.repeat(indent) + w;
    } else line = empty ? line + w : `${line} ${w}`;
    empty = false;
  }
  lines.push(line);
  return lines;
}

/** The command's synopsis lines: `hibfuzz NAME ARGS [--flag X]...` (or its own synopsis), wrapped. */
export function synopsis(c: Command, prefix = ''): string[] {
  if (c.synopsis !== undefined) {
    return c.synopsis.split('\n').map((l, i) => (i === 0 ? prefix : ' '.repeat(prefix.length)) + l);
  }
  const head = `${prefix}hibfuzz ${c.name} `;
  const words = [
    ...(c.args !== undefined ? [c.args] : []),
    ...Object.entries(c.options).map(([n, o]) => flagUsage(n, o)),
  ];
  return fill(head, words, head.length).map((l) => l.trimEnd());
}

/** `hibfuzz CMD --help`: synopsis, summary, one line per flag (every flag of the table), notes. */
export function commandHelp(c: Command): string {
  const rows = Object.entries(c.options).map(([n, o]): [string, string] => [
    `--${n}${o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''}`,
    `${o.help}${o.multiple ? ' (repeatable)' : ''}`,
  ]);
  rows.push(['-h, --help', 'this help']);
  const w = Math.min(28, Math.max(...rows.map(([f]) => f.length)) + 2);
  const lines = [...synopsis(c, 'usage: '), '', c.summary, '', 'options:'];
  for (const [flag, h] of rows) {
    let first = `  ${flag}${' '.repeat(Math.max(0, w - flag.length))}`;
    if (flag.length + 2 > w) {
      lines.push(`  ${flag}`);
      first = ' '.repeat(w + 2);
    }
    lines.push(...fill(first, h.split(' '), w + 2));
  }
  if (c.notes !== undefined && c.notes.length > 0) lines.push('', ...c.notes);
  return `${lines.join('\n')}\n`;
}

/**
 * Strict parsing of `args` by the command's table (node:util parseArgs). `-h`/`--help` anywhere before `--`
 * throws HelpRequested with the command's help; any other problem is one usage line.
 */
export function parse<T extends Record<string, Opt>>(args: readonly string[], cmd: Command<T>) {
  const end = args.indexOf('--');
  const head = end < 0 ? args : args.slice(0, end);
  if (head.includes('--help') || head.includes('-h')) throw new HelpRequested(commandHelp(cmd));
  const options = Object.fromEntries(
    Object.entries(cmd.options).map(([n, o]) => [n, { type: o.type, ...(o.multiple ? { multiple: true } : {}) }]),
  ) as { [K in keyof T]: { type: T[K]['type']; multiple: T[K]['multiple'] extends true ? true : false } };
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (e) {
    return fail(ambiguousValue(args, (e as Error).message) ?? (e as Error).message.split('\n')[0] ?? 'bad arguments');
  }
}

/** parseArgs' "argument is ambiguous" (a value starting with '-') as a line that says what is wrong. */
function ambiguousValue(args: readonly string[], message: string): string | undefined {
  const flag = /^Option '(--[\w-]+)' argument is ambiguous/.exec(message)?.[1];
  if (flag === undefined) return undefined;
  const v = args[args.indexOf(flag) + 1] ?? '';
  return /^-\d/.test(v)
    ? `${flag}: '${v}' is negative (values must be positive)`
    : `${flag}: the value '${v}' starts with '-' (write ${flag}=${v} if it is meant)`;
}

/** The value of a parsed flag, or its one-line error as a usage error. */
export function value<T>(r: { ok: true; value: T } | { ok: false; error: string }): T {
  if (!r.ok) fail(r.error);
  return r.value;
}

export function plantParts(name: string | undefined): { parts: Parts; plant?: string } {
  if (name === undefined) return { parts: defaultParts };
  const p = plantByName(name);
  if (p === undefined) fail(`--plant: unknown plant '${name}' (see 'hibfuzz plants')`);
  return { parts: p.parts, plant: name };
}

/** What a model run swaps in: nothing, a planted bug (`--plant`) or a researcher's variant (`--parts`). */
export interface ModelParts {
  readonly parts: Parts;
  readonly plant?: string;
  readonly variant?: LoadedVariant;
}

export async function modelParts(values: { readonly plant?: string; readonly parts?: string }): Promise<ModelParts> {
  if (values.plant !== undefined && values.parts !== undefined) {
    fail('--plant and --parts: give one of them (a variant is judged like a planted bug)');
  }
  if (values.parts === undefined) return plantParts(values.plant);
  const r = await loadVariant(values.parts);
  if (!r.ok) fail(r.error);
  return { parts: r.variant.parts, variant: r.variant };
}

/** The scenario as the swapped-in parts run it (a variant may fix a design choice, e.g. the kexec reservation). */
export const asRun = (m: ModelParts, s: Scenario): Scenario => (m.variant !== undefined ? m.variant.scenario(s) : s);

/** ` with plant NAME`, ` with variant NAME (FILE#EXPORT)` or '' */
export const partsLabel = (m: ModelParts): string =>
  m.plant !== undefined
    ? ` with plant ${m.plant}`
    : m.variant !== undefined
      ? ` with variant ${m.variant.name} (${m.variant.spec})`
      : '';

/** The flags that load the same parts again (in a replay command). */
export const partsFlags = (m: ModelParts): string =>
  m.plant !== undefined ? ` --plant ${m.plant}` : m.variant !== undefined ? ` --parts ${m.variant.spec}` : '';

export function loadScenario(file: string): Scenario {
  const r = readScenarioFile(file);
  if (!r.ok) fail(r.error);
  return r.scenario;
}

export function need<T>(x: T | undefined, message: string): T {
  if (x === undefined) fail(message);
  return x;
}

export function infra(io: Io, message: string): number {
  io.err(`hibfuzz: ${message}\n`);
  return exitCodeFor({ infraError: message, findings: 0 });
}

/** Create (truncate) every report file now: a bad path fails with one line before any kernel is built or booted. */
export function openReports(command: string, paths: readonly (string | undefined)[]): void {
  for (const p of paths) {
    if (p === undefined) continue;
    const why = outputPathProblem(p);
    if (why !== undefined) fail(`${command}: cannot write ${p}: ${why}`);
  }
}

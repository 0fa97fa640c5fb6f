// What every hibfuzz subcommand shares: the Io it writes to, strict flag parsing with one-line usage errors, the
// infrastructure-error line, loading scenario files and planted bugs.
import { closeSync, openSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Parts } from '../impl/index.ts';
import { defaultParts } from '../impl/index.ts';
import { plantByName } from '../properties/__fixtures__/plants.ts';
import type { Scenario } from '../spec/index.ts';
import { readScenarioFile } from './corpus.ts';
import { exitCodeFor } from './exit-code.ts';

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

export function parse<T extends Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>>(
  args: readonly string[],
  options: T,
) {
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
    try {
      closeSync(openSync(p, 'w'));
    } catch (e) {
      fail(`${command}: cannot write ${p}: ${(e instanceof Error ? e.message : String(e)).split('\n')[0] ?? ''}`);
    }
  }
}

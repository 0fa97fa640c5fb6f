// The corpus: one finding = three files named after (invariant, signature): NAME.json (the schema-valid scenario),
// NAME.txt (its text form and the verdict) and NAME.finding.json (seed, path, invariant, verdict, count, the model's
// event trace). Durability rule: every file is written to a temp file, fsynced, renamed over its name, then the
// directory is fsynced; NAME.finding.json is written last, so a finding reported as saved has all three files and
// a SIGKILL at any moment leaves only complete files (plus ignorable `.NAME.*.tmp` files).
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import type { PhaseEvent, Scenario, Violation } from '../spec/index.ts';
import { parseScenario } from '../spec/index.ts';

export const FINDING_FORMAT = 'hibfuzz-finding-1' as const;

/** What NAME.finding.json holds. */
export interface FindingRecord {
  readonly format: typeof FINDING_FORMAT;
  readonly name: string;
  /** an InvariantName, or `ModelAgreesWithKernel` for a model/kernel divergence (target vm) */
  readonly invariant: string;
  readonly signature: string;
  readonly target: 'model' | 'vm';
  readonly verdict: 'violated' | 'diverge';
  /** how many runs hit this (invariant, signature) */
  count: number;
  readonly plant?: string;
  /** target vm: the --kernel spec, the kernel's exact version (KernelIdentity.version) */
  readonly kernel?: string;
  readonly kernelVersion?: string;
  /** fast-check reproduction of the original (unshrunk) scenario: fc.sample(arb, { seed, numRuns: path + 1 })[path] */
  readonly seed?: number;
  readonly campaignSeed?: number;
  readonly batch?: number;
  readonly path?: string;
  readonly arb?: { readonly maxMemPages: number; readonly protocol?: string };
  /** found while replaying this scenario file (corpus or seeds), not by generation */
  readonly replayedFrom?: string;
  readonly original: { readonly id: string; readonly memPages: number; readonly steps: number };
  readonly shrink: { readonly evals: number; readonly accepted: number };
  readonly violations: readonly Violation[];
  readonly differences?: readonly string[];
  /** target vm: why the real run is a finding (judgeRealRun's reasons), and where its console logs are */
  readonly reasons?: readonly string[];
  readonly artifacts?: string;
  readonly outcomes: readonly string[];
  readonly events: readonly PhaseEvent[];
  readonly firstSeen: string;
  lastSeen: string;
  readonly replay: string;
}

/** Dedup signature: invariant, protocol and the violation message with every number replaced by N. */
export function signatureOf(invariant: string, protocol: string, message: string): string {
  const norm = message.replace(/0x[0-9a-f]+/gi, 'N').replace(/\d+/g, 'N');
  return `${invariant}|${protocol}|${norm}`;
}

/** FNV-1a, 32 bits, as 8 hex digits: short stable file names. */
export function hash8(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

export function findingName(invariant: string, signature: string): string {
  return `${invariant}-${hash8(signature)}`;
}

let tmpCounter = 0;

/** Write `data` to `path` atomically and durably (temp, fsync, rename, fsync dir). */
export function atomicWrite(path: string, data: string): void {
  const dir = join(path, '..');
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${tmpCounter++}.tmp`);
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export type OpenResult = { ok: true; dir: string } | { ok: false; error: string };

/** Create the corpus directory if needed; one line when it cannot be used. */
export function openCorpus(dir: string): OpenResult {
  try {
    mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) return { ok: false, error: `corpus ${dir}: not a directory` };
    readdirSync(dir);
    return { ok: true, dir };
  } catch (e) {
    return { ok: false, error: `corpus ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
}

/** Check a corpus directory can be read without creating it. */
export function checkReadableDir(dir: string): string | undefined {
  try {
    if (!statSync(dir).isDirectory()) return `${dir}: not a directory`;
    readdirSync(dir);
    return undefined;
  } catch (e) {
    return `${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
}

export interface CorpusScenario {
  readonly file: string;
  readonly scenario: Scenario;
}

export interface CorpusContents {
  readonly scenarios: readonly CorpusScenario[];
  readonly findings: readonly FindingRecord[];
  /** files that did not parse: `file: error` lines */
  readonly errors: readonly string[];
}

const isScenarioFile = (f: string) => f.endsWith('.json') && !f.endsWith('.finding.json') && !f.startsWith('.');

/** Scenario files of a directory (not recursive), sorted by name, and the finding records next to them. */
export function readCorpus(dir: string): CorpusContents {
  const scenarios: CorpusScenario[] = [];
  const findings: FindingRecord[] = [];
  const errors: string[] = [];
  for (const f of readdirSync(dir).sort()) {
    const file = join(dir, f);
    if (f.startsWith('.')) continue;
    if (f.endsWith('.finding.json')) {
      try {
        const rec = JSON.parse(readFileSync(file, 'utf8')) as FindingRecord;
        if (rec.format === FINDING_FORMAT) findings.push(rec);
        else errors.push(`${file}: not a ${FINDING_FORMAT} record`);
      } catch (e) {
        errors.push(`${file}: ${(e as Error).message}`);
      }
      continue;
    }
    if (!isScenarioFile(f)) continue;
    const r = readScenarioFile(file);
    if (r.ok) scenarios.push({ file, scenario: r.scenario });
    else errors.push(r.error);
  }
  return { scenarios, findings, errors };
}

export type ReadResult = { ok: true; scenario: Scenario } | { ok: false; error: string };

/** Read and validate one scenario file; the error is one line naming the file and the JSON path. */
export function readScenarioFile(file: string): ReadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return { ok: false, error: `${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `${file}: malformed JSON: ${(e as Error).message.split('\n')[0]}` };
  }
  const p = parseScenario(json);
  return p.ok ? p : { ok: false, error: `${file}: ${p.error}` };
}

/** Scenario files of FILE-or-DIR (directories: every scenario file, sorted). */
export function scenarioFilesOf(path: string): { ok: true; files: string[] } | { ok: false; error: string } {
  try {
    const st = statSync(path);
    if (!st.isDirectory()) return { ok: true, files: [path] };
    return {
      ok: true,
      files: readdirSync(path)
        .filter(isScenarioFile)
        .sort()
        .map((f) => join(path, f)),
    };
  } catch (e) {
    return { ok: false, error: `${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
}

/** The scenario as stored: canonical key order, pretty, trailing newline. */
export function scenarioJson(s: Scenario): string {
  return `${JSON.stringify(s, null, 2)}\n`;
}

/** Save a new finding: scenario, text, then the record (the commit point). Returns the scenario path. */
export function saveFinding(dir: string, rec: FindingRecord, scenario: Scenario, text: string): string {
  const base = join(dir, rec.name);
  atomicWrite(`${base}.json`, scenarioJson(scenario));
  atomicWrite(`${base}.txt`, text);
  atomicWrite(`${base}.finding.json`, `${JSON.stringify(rec, null, 2)}\n`);
  return `${base}.json`;
}

/** Rewrite the record only (count, lastSeen). */
export function updateFinding(dir: string, rec: FindingRecord): void {
  atomicWrite(join(dir, `${rec.name}.finding.json`), `${JSON.stringify(rec, null, 2)}\n`);
}

/** Remove temp files a killed writer left behind (names start with '.' and end with '.tmp'). */
export function sweepTemps(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) {
    if (f.startsWith('.') && f.endsWith('.tmp')) {
      rmSync(join(dir, f), { force: true });
      n++;
    }
  }
  return n;
}

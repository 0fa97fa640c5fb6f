// The corpus: one finding = three files named after (invariant, signature): NAME.json (the schema-valid scenario),
// NAME.txt (its text form and the verdict) and NAME.finding.json (seed, path, invariant, verdict, count, the model's
// event trace). Durability rule: every file is written to a temp file, fsynced, renamed over its name, then the
// directory is fsynced; NAME.finding.json is written last, so a finding reported as saved has all three files and
// a SIGKILL at any moment leaves only complete files (plus ignorable `.NAME.PID.N.tmp` files).
// Sharing rule: campaigns may share a corpus. Saves and count updates hold the corpus lock (corpus-lock.ts); a count
// update adds what this process counted since it last read or wrote the record; a finding another campaign saved
// first is kept and gets our hits; only the temp files of dead writers are swept.
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PhaseEvent, Scenario, Violation } from '../spec/index.ts';
import { parseScenario } from '../spec/index.ts';
import { SCENARIO_SCHEMA_URL } from '../spec/scenario/json-schema.ts';
import { isAlive, withCorpusLock } from './corpus-lock.ts';
import { atomicWrite, errnoText, makeDirs, probeDir, tempWriter } from './fsx.ts';

export { atomicWrite };

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

export type OpenResult = { ok: true; dir: string } | { ok: false; error: string };

/**
 * Create the corpus directory if needed and prove it can be written (a probe file is written, fsynced, removed):
 * a read-only or full corpus is refused before any run, never found out at the first save. One line otherwise.
 */
export function openCorpus(dir: string): OpenResult {
  try {
    if (statSync(dir, { throwIfNoEntry: false })?.isDirectory() === false) {
      return { ok: false, error: `corpus ${dir}: not a directory (a file of that name exists)` };
    }
    makeDirs(dir);
    readdirSync(dir);
  } catch (e) {
    return { ok: false, error: `corpus ${dir}: ${e instanceof Error && !('code' in e) ? e.message : errnoText(e)}` };
  }
  const why = probeDir(dir);
  return why === undefined ? { ok: true, dir } : { ok: false, error: `corpus ${dir}: cannot write: ${why}` };
}

/** Check a corpus directory can be read without creating it. */
export function checkReadableDir(dir: string): string | undefined {
  try {
    if (!statSync(dir).isDirectory()) return `${dir}: not a directory`;
    readdirSync(dir);
    return undefined;
  } catch (e) {
    return `${dir}: ${errnoText(e)}`;
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

/** Per record file, the count this process last read or wrote: a count update adds only what it counted since. */
const countSeen = new Map<string, number>();

function readRecord(file: string): FindingRecord | undefined {
  try {
    const rec = JSON.parse(readFileSync(file, 'utf8')) as FindingRecord;
    return rec.format === FINDING_FORMAT && typeof rec.count === 'number' ? rec : undefined;
  } catch {
    return undefined;
  }
}

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
        if (rec.format === FINDING_FORMAT) {
          findings.push(rec);
          countSeen.set(file, rec.count);
        } else errors.push(`${file}: not a ${FINDING_FORMAT} record`);
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
    return { ok: false, error: `${file}: ${errnoText(e)}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `${file}: malformed JSON: ${(e as Error).message.split('\n')[0]}` };
  }
  const p = parseScenario(json);
  if (!p.ok) return { ok: false, error: `${file}: ${p.error}` };
  // ids become file and directory names (work dirs, reports): '.' and '..' would name another directory
  if (p.scenario.id === '.' || p.scenario.id === '..') {
    return { ok: false, error: `${file}: id: '${p.scenario.id}' is not allowed (ids become file names)` };
  }
  return p;
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
    return { ok: false, error: `${path}: ${errnoText(e)}` };
  }
}

/**
 * The scenario as stored: canonical key order, pretty, trailing newline. With `file` (where the text is written),
 * `$schema` comes first and names scenario.schema.json relative to that file, so an editor validates and completes it
 * offline; without it (hashing, comparison), no `$schema`: the text is the scenario's content only.
 */
export function scenarioJson(s: Scenario, file?: string): string {
  const { $schema: _, ...content } = s;
  if (file === undefined) return `${JSON.stringify(content, null, 2)}\n`;
  const schema = relative(dirname(resolve(file)), fileURLToPath(SCENARIO_SCHEMA_URL));
  return `${JSON.stringify({ $schema: schema, ...content }, null, 2)}\n`;
}

/** A save or count update that failed; `unsaved` is the finding that could not be saved (the caller prints it). */
export class CorpusWriteError extends Error {
  override readonly name = 'CorpusWriteError';
  readonly unsaved: { readonly record: FindingRecord; readonly scenario: Scenario } | undefined;
  constructor(message: string, unsaved?: { readonly record: FindingRecord; readonly scenario: Scenario }) {
    super(message);
    this.unsaved = unsaved;
  }
}

const recordJson = (rec: FindingRecord) => `${JSON.stringify(rec, null, 2)}\n`;
const later = (a: string, b: string) => (a > b ? a : b);

/** `rec` with the count and lastSeen of the record on disk merged in; sets rec.count/lastSeen to the merged values. */
function merged(rec: FindingRecord, disk: FindingRecord | undefined, base: number): FindingRecord {
  rec.count = (disk?.count ?? base) + rec.count - base;
  rec.lastSeen = later(rec.lastSeen, disk?.lastSeen ?? '');
  const firstSeen = disk !== undefined && disk.firstSeen < rec.firstSeen ? disk.firstSeen : rec.firstSeen;
  return { ...(disk ?? rec), count: rec.count, lastSeen: rec.lastSeen, firstSeen };
}

/**
 * Save a new finding: scenario, text, then the record (the commit point). Returns the scenario path. When another
 * campaign saved the same finding first, its files stay and the record gets our count (rec.count becomes the sum).
 * Throws CorpusWriteError (naming the path, carrying the finding) when the corpus cannot be written.
 */
export function saveFinding(dir: string, rec: FindingRecord, scenario: Scenario, text: string): string {
  const base = join(dir, rec.name);
  const recFile = `${base}.finding.json`;
  try {
    withCorpusLock(dir, () => {
      const disk = readRecord(recFile);
      if (disk !== undefined && readScenarioFile(`${base}.json`).ok) {
        atomicWrite(recFile, recordJson(merged(rec, disk, 0)));
      } else {
        atomicWrite(`${base}.json`, scenarioJson(scenario, `${base}.json`));
        atomicWrite(`${base}.txt`, text);
        atomicWrite(recFile, recordJson(rec));
      }
      countSeen.set(recFile, rec.count);
    });
  } catch (e) {
    throw new CorpusWriteError(`cannot save ${base}.json: ${errnoText(e)}`, { record: rec, scenario });
  }
  return `${base}.json`;
}

/** Rewrite the record (count, lastSeen), adding what this process counted since it last read or wrote it. */
export function updateFinding(dir: string, rec: FindingRecord): void {
  const recFile = join(dir, `${rec.name}.finding.json`);
  try {
    withCorpusLock(dir, () => {
      const disk = readRecord(recFile);
      const seen = countSeen.get(recFile) ?? disk?.count ?? 0;
      atomicWrite(recFile, recordJson(merged(rec, disk, seen)));
      countSeen.set(recFile, rec.count);
    });
  } catch (e) {
    throw new CorpusWriteError(`cannot update ${recFile}: ${errnoText(e)}`);
  }
}

/** Remove the temp files (`.NAME.PID.N.tmp`) that dead writers left behind; a live writer's temp is never touched. */
export function sweepTemps(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) {
    const pid = tempWriter(f);
    if (pid === undefined || pid === process.pid || isAlive(pid)) continue;
    rmSync(join(dir, f), { force: true });
    n++;
  }
  return n;
}

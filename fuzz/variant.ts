// A researcher's variant of the reference implementation (`--parts FILE[#NAME]`): a module whose export swaps some
// of impl/'s parts (impl/parts.ts `Parts`) for others. It is fuzzed and judged exactly like a planted bug: every
// part it does not name stays the faithful one, and the invariants decide whether the variant keeps them.
//
// An export is either a Variant (`{ name, description, parts }`) or a bare partial Parts (named by its export).
// A key that is not a part, or a value of the wrong type, is refused: a typo would otherwise test nothing.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defaultParts, type Parts } from '../impl/index.ts';
import type { Scenario } from '../spec/index.ts';

export interface Variant {
  readonly name: string;
  readonly description?: string;
  /** the parts it replaces; the others are defaultParts */
  readonly parts: Partial<Parts>;
  /**
   * the design choice it is about, as a change of each scenario before it runs (e.g. every kexec scenario with
   * `reservation: 'reclaimPageCache'`); the result must still be a valid scenario
   */
  readonly scenario?: (s: Scenario) => Scenario;
}

export interface LoadedVariant {
  readonly name: string;
  readonly description: string;
  /** defaultParts with the variant's parts swapped in */
  readonly parts: Parts;
  /** the parts it replaces */
  readonly replaced: readonly (keyof Parts)[];
  /** every scenario goes through this before it runs (identity unless the variant says otherwise) */
  readonly scenario: (s: Scenario) => Scenario;
  /** FILE#EXPORT: what `--parts` takes to load it again */
  readonly spec: string;
}

export type VariantResult = { ok: true; variant: LoadedVariant } | { ok: false; error: string };

const PART_NAMES = Object.keys(defaultParts) as (keyof Parts)[];

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;

/** The partial Parts an export carries (a Variant's `parts`, or the export itself), checked part by part. */
function partsOf(where: string, x: unknown): { ok: true; parts: Partial<Parts> } | { ok: false; error: string } {
  const raw = isObject(x) && isObject(x.parts) ? x.parts : x;
  if (!isObject(raw)) return { ok: false, error: `${where}: not a variant (an object of parts, or { name, parts })` };
  const keys = Object.keys(raw);
  if (keys.length === 0) return { ok: false, error: `${where}: replaces no part` };
  for (const k of keys) {
    if (!PART_NAMES.includes(k as keyof Parts)) {
      return { ok: false, error: `${where}: '${k}' is not a part (parts: ${PART_NAMES.join(', ')})` };
    }
    const want = typeof defaultParts[k as keyof Parts];
    if (typeof raw[k] !== want) return { ok: false, error: `${where}: part '${k}' must be a ${want}` };
  }
  return { ok: true, parts: raw as Partial<Parts> };
}

/** Check one export and make it a runnable variant. */
export function toVariant(file: string, exportName: string, x: unknown): VariantResult {
  const where = `${file}#${exportName}`;
  const p = partsOf(where, x);
  if (!p.ok) return p;
  const v = isObject(x) && isObject(x.parts) ? x : {};
  const name = typeof v.name === 'string' && v.name.length > 0 ? v.name : exportName;
  if (v.scenario !== undefined && typeof v.scenario !== 'function') {
    return { ok: false, error: `${where}: scenario must be a function (Scenario => Scenario)` };
  }
  const scenario = (v.scenario as ((s: Scenario) => Scenario) | undefined) ?? ((s: Scenario) => s);
  return {
    ok: true,
    variant: {
      name,
      description: typeof v.description === 'string' ? v.description : '',
      parts: { ...defaultParts, ...p.parts },
      replaced: Object.keys(p.parts) as (keyof Parts)[],
      scenario,
      spec: where,
    },
  };
}

/** Load `FILE[#EXPORT]` (TypeScript or JavaScript; without #EXPORT: the default export, or the only one). */
export async function loadVariant(spec: string): Promise<VariantResult> {
  const hash = spec.lastIndexOf('#');
  const file = hash > 0 ? spec.slice(0, hash) : spec;
  const wanted = hash > 0 ? spec.slice(hash + 1) : undefined;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  } catch (e) {
    const m = (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
    const hint = /require\(\)|require\(esm\)|ERR_REQUIRE/.test(m)
      ? ' (outside a "type": "module" package, name it .mts)'
      : '';
    return { ok: false, error: `--parts: cannot load ${file}: ${m}${hint}` };
  }
  const names = Object.keys(mod);
  let exportName: string;
  if (wanted !== undefined) {
    if (!(wanted in mod))
      return { ok: false, error: `--parts: ${file} has no export '${wanted}' (${names.join(', ')})` };
    exportName = wanted;
  } else if ('default' in mod) exportName = 'default';
  else {
    const candidates = names.filter((n) => partsOf(n, mod[n]).ok);
    if (candidates.length !== 1) {
      return {
        ok: false,
        error: `--parts: ${file} exports ${candidates.length === 0 ? 'no variant' : `several variants (${candidates.join(', ')})`}: name one as ${file}#NAME`,
      };
    }
    exportName = candidates[0] as string;
  }
  const r = toVariant(file, exportName, mod[exportName]);
  return r.ok ? r : { ok: false, error: `--parts: ${r.error}` };
}

// A digest of everything a model run produces: every record of the trace (memory and storage snapshots byte for
// byte, loader bookkeeping, events, outcomes), the observation's facts, and the verdict. Two implementations that
// give the same digest on a scenario are indistinguishable to every monitor and verdict (issue 14: the per-frame
// model is the specification of the faster one). Test-side only: it hashes with node:crypto.
import { createHash, type Hash } from 'node:crypto';
import { defaultParts, type Parts, runAndJudge } from '../../impl/index.ts';
import type { Scenario } from '../../spec/index.ts';

function feed(h: Hash, v: unknown, seen: Set<object>): void {
  if (v === undefined) return void h.update('u');
  if (v === null || typeof v !== 'object') return void h.update(`${typeof v}:${String(v)};`);
  if (ArrayBuffer.isView(v)) {
    h.update(`${v.constructor.name}[${v.byteLength}]`);
    return void h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }
  // Shared snapshots are hashed at each place they appear: sharing is an implementation choice, not a fact.
  if (seen.has(v)) throw new Error('trace-digest: cyclic value');
  seen.add(v);
  if (v instanceof Map) {
    h.update(`Map(${v.size}){`);
    for (const k of [...v.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      h.update(`${String(k)}=`);
      feed(h, v.get(k), seen);
    }
    h.update('}');
  } else if (Array.isArray(v)) {
    h.update(`[${v.length}`);
    for (const x of v) feed(h, x, seen);
    h.update(']');
  } else {
    h.update('{');
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined) continue; // an absent optional field and an undefined one are the same fact
      h.update(`${k}:`);
      feed(h, x, seen);
    }
    h.update('}');
  }
  seen.delete(v);
}

export function digestOf(v: unknown): string {
  const h = createHash('sha256');
  feed(h, v, new Set());
  return h.digest('hex').slice(0, 12);
}

/**
 * `trace.observed.verdict`: the implementation's trace (records with their snapshots, events, final state); the
 * facts of each step as an observer reports them; the verdict with the violated invariants and their steps.
 */
export type RunDigest = string;

export function runDigest(s: Scenario, parts: Parts = defaultParts): RunDigest {
  const r = runAndJudge(s, parts);
  if (!r.ok) return `error: ${r.error}`;
  const { scenario: _s, ...trace } = r.trace;
  const violations = r.violations.map((v) => `${v.invariant}@${v.step ?? '-'}`).sort();
  return [digestOf(trace), digestOf(r.observation.steps), digestOf({ verdict: r.judgement.verdict, violations })].join(
    '.',
  );
}

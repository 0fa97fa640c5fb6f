// Re-aiming write-indexed faults while shrinking: a fault at image write i of W total is kept at the same distance
// from the end (W' - (W - i)) and, as a second choice, at the same index clamped to W' - 1, where W and W' are the
// writes the fault-free hibernation makes on the current scenario and on the smaller candidate.
import { type Parts, runScenario } from '../impl/index.ts';
import type { Scenario, Step } from '../spec/index.ts';
import type { Realign } from './shrink.ts';

type FaultKey = 'ioErrorAtWrite' | 'powerLossAfterWrite';
const FAULT_KEYS: readonly FaultKey[] = ['ioErrorAtWrite', 'powerLossAfterWrite'];

/** Image writes of hibernate step i with its write faults removed (undefined when it does not power off). */
export function faultFreeWrites(s: Scenario, i: number, parts: Parts): number | undefined {
  const steps = s.steps.slice(0, i + 1).map((st, j): Step => {
    if (j !== i || st.op !== 'hibernate') return st;
    const { ioErrorAtWrite: _a, powerLossAfterWrite: _b, ...rest } = st;
    return rest;
  });
  const r = runScenario({ ...s, steps }, parts);
  if (!r.ok) return undefined;
  const o = r.observation.steps[i];
  return o?.op === 'hibernate' && o.result === 'poweredOff' ? o.image.writes : undefined;
}

export function writeFaultRealigner(parts: Parts): Realign {
  return (cand, from) => {
    const out: Scenario[] = [];
    for (const [i, st] of cand.steps.entries()) {
      if (st.op !== 'hibernate') continue;
      const orig = from.steps[i];
      for (const k of FAULT_KEYS) {
        const at = st[k];
        if (at === undefined || orig?.op !== 'hibernate' || orig[k] !== at) continue;
        const w0 = faultFreeWrites(from, i, parts);
        const w1 = faultFreeWrites(cand, i, parts);
        if (w0 === undefined || w1 === undefined || w0 === w1) continue;
        for (const x of new Set([w1 - (w0 - at), Math.min(at, w1 - 1)])) {
          if (x >= 0 && x !== at) {
            out.push({ ...cand, steps: cand.steps.map((y, j) => (j === i ? { ...st, [k]: x } : y)) });
          }
        }
      }
    }
    return out;
  };
}

// Helpers shared by the invariant monitors: bounded diffs over typed arrays, so a violation says expected vs actual.
import type { Violation } from '../outcome.ts';
import type { InvariantName } from './names.ts';

export interface Diff {
  readonly count: number;
  readonly first: number;
}

/** Frames p in [0, n) with pred(p) where a[p] !== b[p]. */
export function diffWhere(a: Uint32Array, b: Uint32Array, n: number, pred: (p: number) => boolean): Diff {
  let count = 0;
  let first = -1;
  for (let p = 0; p < n; p++) {
    if (a[p] !== b[p] && pred(p)) {
      if (first < 0) first = p;
      count++;
    }
  }
  return { count, first };
}

export const hex = (n: number | undefined): string => (n === undefined ? 'undefined' : `0x${(n >>> 0).toString(16)}`);

export function violation(
  invariant: InvariantName,
  step: number | undefined,
  message: string,
  expected?: string,
  actual?: string,
): Violation {
  return {
    invariant,
    message,
    ...(step === undefined ? {} : { step }),
    ...(expected === undefined ? {} : { expected }),
    ...(actual === undefined ? {} : { actual }),
  };
}

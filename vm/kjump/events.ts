// kjump console reading: `HIBFUZZ {json}` lines of init.sh and hibkj.c -> zod-typed events (host-timestamped), phase
// timings, and A's firmware memory map (its `BIOS-e820:` lines). Pure; run.ts does the I/O.

import { z } from 'zod';
import type { MachineObservation } from '../../spec/machine.ts';
import { AGENT_PREFIX } from '../console/classify.ts';
import { type PfnRange, parseMachine, parseSaveable } from '../console/e820.ts';
import type { ConsoleLine } from '../qemu/launch.ts';

const count = z.number().int().min(0);
const rc = z.number().int();

// keep-sorted start
/** Events whose fields nobody reads: their host time is what counts (timings, which phase was reached). */
export const MARKER_EVENTS = [
  'a-back',
  'a-done',
  'a-filled',
  'a-halt',
  'a-hold-failed',
  'a-init',
  'a-jump',
  'a-load',
  'b-halt',
  'b-init',
  'b-jump-failed',
  'b-saved',
  'c-halt',
  'c-init',
  'c-restore-failed',
  'c-restored',
  'jump',
  'jump-returned',
  'jumpback-loaded',
] as const;
// keep-sorted end

/** One guest event as hibkj.c / init.sh print it (extra fields such as `up` pass through). */
export const KjumpEventSchema = z.discriminatedUnion('ev', [
  z.looseObject({ ev: z.literal('a-loaded'), rc }),
  z.looseObject({
    ev: z.literal('a-verify'),
    checked: count,
    corrupt: count,
    moved: count,
    corruptOutside: count,
    zeroChecked: count,
    zeroCorrupt: count,
  }),
  z.looseObject({ ev: z.literal('b-save-rc'), rc }),
  z.looseObject({ ev: z.literal('b-helper-loaded'), rc }),
  z.looseObject({ ev: z.literal('b-powerloss'), writes: count }),
  z.looseObject({ ev: z.literal('b-eio'), at: count }),
  z.looseObject({ ev: z.literal('b-nospace'), need: count, have: count }),
  z.looseObject({ ev: z.literal('c-noimage'), stale: z.union([z.literal(0), z.literal(1)]) }),
  z.looseObject({ ev: z.literal('c-refused'), reason: z.enum(['badHeader', 'crcMismatch', 'keyUnavailable']) }),
  z.looseObject({
    ev: z.literal('target'),
    kind: z.enum(['file', 'crypt', 'fuse']),
    pages: count,
    extents: z.string().optional(),
  }),
  z.looseObject({ ev: z.literal('target-failed'), why: z.string(), errno: z.number().optional() }),
  z.looseObject({ ev: z.literal('disk'), committed: z.union([z.literal(0), z.literal(1)]) }),
  z.looseObject({ ev: z.literal('error'), what: z.string(), errno: z.number().optional(), msg: z.string().optional() }),
  z.looseObject({ ev: z.enum(MARKER_EVENTS) }),
]);
export type KjumpEvent = z.infer<typeof KjumpEventSchema>;
export type KjumpEventName = KjumpEvent['ev'];
/** An event with the host time (ms since its QEMU was spawned) of the console line that carried it. */
export type TimedEvent = KjumpEvent & { readonly t: number };
/** The events whose fields are read (findEvent narrows to them). */
export type FieldEventName = Exclude<KjumpEventName, (typeof MARKER_EVENTS)[number]>;

/** hibkj.c and init.sh print flat objects: the first `{...}` after the prefix (kernel text may follow it). */
const FLAT_OBJECT = /^\{[^{}]*\}/;

function eventOfLine(text: string): KjumpEvent | undefined {
  const at = text.indexOf(AGENT_PREFIX);
  if (at < 0) return undefined;
  const m = FLAT_OBJECT.exec(text.slice(at + AGENT_PREFIX.length).trimStart());
  if (m === null) return undefined;
  try {
    const e = KjumpEventSchema.safeParse(JSON.parse(m[0]));
    return e.success ? e.data : undefined;
  } catch {
    return undefined; // torn by interleaved kernel output
  }
}

/**
 * The guest events of one QEMU run, in console order. The first occurrence of each name wins (the console replays
 * lines on resume). A line that is not a whole, well-formed event (torn by interleaved kernel output) is no event.
 */
export function parseEvents(lines: readonly ConsoleLine[]): TimedEvent[] {
  const out: TimedEvent[] = [];
  const seen = new Set<string>();
  for (const l of lines) {
    const e = eventOfLine(l.text);
    if (e === undefined || seen.has(e.ev)) continue;
    seen.add(e.ev);
    out.push({ ...e, t: l.t });
  }
  return out;
}

export const findEvent = <N extends FieldEventName>(
  evs: readonly TimedEvent[],
  name: N,
): Extract<TimedEvent, { ev: N }> | undefined => evs.find((e): e is Extract<TimedEvent, { ev: N }> => e.ev === name);

export const hasEvent = (evs: readonly TimedEvent[], name: KjumpEventName): boolean => evs.some((e) => e.ev === name);

export const timeOf = (evs: readonly TimedEvent[], name: KjumpEventName): number | undefined =>
  evs.find((e) => e.ev === name)?.t;

/** First kernel line (`[    0.000000]`) after host time t: the next kernel's first message. */
export function firstKernelLineAfter(lines: readonly ConsoleLine[], t: number): number | undefined {
  return lines.find((l) => l.t > t && /^\[\s*0\.0{6}\]/.test(l.text))?.t;
}

export type Timings = Readonly<Record<string, number>>;

/** Phase durations in seconds (host wall clock), for the phases whose two ends were seen. */
export function phaseTimings(lines: readonly ConsoleLine[], evs: readonly TimedEvent[], exitT: number): Timings {
  const t = (n: KjumpEventName) => timeOf(evs, n);
  const out: Record<string, number> = {};
  const span = (name: string, a: number | undefined, b: number | undefined) => {
    if (a !== undefined && b !== undefined && b >= a) out[name] = Math.round(b - a) / 1000;
  };
  const aJump = t('a-jump');
  const bFirst = aJump === undefined ? undefined : firstKernelLineAfter(lines, aJump);
  span('qemuToAInit', 0, t('a-init'));
  span('aKexecLoad', t('a-load'), t('a-loaded'));
  span('aJumpToBKernel', aJump, bFirst);
  span('bKernelToInit', bFirst, t('b-init'));
  span('bSave', t('b-init'), t('b-save-rc'));
  span('bLoadJumpBack', t('b-save-rc'), t('jump'));
  span('bJumpToA', t('jump'), t('a-back'));
  span('abortLatency', aJump, t('a-back'));
  span('qemuToCInit', 0, t('c-init'));
  span('cRestore', t('c-init'), t('c-restored'));
  span('coldResumeTotal', 0, t('a-back') !== undefined && t('c-init') !== undefined ? t('a-back') : undefined);
  span('qemuTotal', 0, exitT);
  return out;
}

/**
 * The machine of the first kernel that booted in this QEMU run (A): vm/console/e820.ts takes the first kernel's
 * map and nosave lines only (B prints its own, shrunken map after the jump); undefined when a line of it is torn.
 */
export function firstBootMachine(lines: readonly ConsoleLine[]): MachineObservation | undefined {
  return parseMachine(lines.map((l) => l.text).join('\n'));
}

/** A's saveable frames (RAM minus registered nosave), or its RAM alone when only the nosave lines tore. */
export function firstBootSaveable(lines: readonly ConsoleLine[]): PfnRange[] | undefined {
  return parseSaveable(lines.map((l) => l.text).join('\n'));
}

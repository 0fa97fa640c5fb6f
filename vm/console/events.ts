// The guest's `HIBFUZZ {json}` console lines (guest/agent.c, guest/init.sh) as zod-typed events, parsed once; and
// a cursor that walks one boot's events step by step.
import { z } from 'zod';
import { ERRNOS } from '../../spec/outcome.ts';
import type { ConsoleLine } from '../qemu/launch.ts';

export const AGENT_PREFIX = 'HIBFUZZ ';

/** errno names the agent prints (errname()); EOTHER for one the spec does not name */
const errnoName = z.union([z.enum(ERRNOS), z.literal('EOTHER')]);
const count = z.number().int().nonnegative();
const ms = z.number().nonnegative();

const EVENT_SCHEMAS = [
  /** init.sh: the boot's role and the swap device's maj:min */
  z.object({ ev: z.literal('init'), boot: z.string(), dev: z.string() }),
  /** the host restored a snapshot taken at `waiting` (the console before it is not in this boot's log) */
  z.object({ ev: z.literal('restored'), role: z.string() }),
  z.object({ ev: z.literal('waiting') }),
  z.object({ ev: z.literal('compressor'), name: z.string(), unsupported: z.string().optional() }),
  z.object({ ev: z.literal('agentStart'), id: count, prog: z.string() }),
  z.object({ ev: z.literal('filled'), anon: count, zero: count, pageCache: count, ms }),
  z.object({ ev: z.literal('write'), pages: count, ms }),
  z.object({
    ev: z.literal('verify'),
    pagesChecked: count,
    pagesCorrupt: count,
    zeroCorrupt: count,
    pageCacheCorrupt: count,
    firstBad: z.number().int(),
    ms,
  }),
  /** swapUsedKiB: /proc/swaps Used before the hibernation started */
  z.object({
    ev: z.literal('hibernating'),
    mode: z.string(),
    pmTest: z.string(),
    swapUsedKiB: count.optional(),
  }),
  /** after a resume, an abort or an error; swapUsedKiB: /proc/swaps Used after a failed hibernation */
  z.object({
    ev: z.literal('hibernateReturned'),
    ok: z.boolean(),
    errno: errnoName.optional(),
    phase: z.string().optional(),
    ms: ms.optional(),
    swapUsedKiB: count.optional(),
  }),
  z.object({ ev: z.literal('uswsuspWritten'), streamPages: count }),
  z.object({ ev: z.literal('resuming') }),
  /** init.sh: the dm-crypt mapping is open (maj:min); keyUnavailable: a resume boot without the volume's key */
  z.object({ ev: z.literal('dmCrypt'), dev: z.string(), sectors: count }),
  z.object({ ev: z.literal('keyUnavailable') }),
  /** init.sh: the FUSE target is served (swapon on it: ok, or what swapon said); the agent's writes into it */
  z.object({ ev: z.literal('fuse'), file: z.string(), swapon: z.string() }),
  z.object({ ev: z.literal('imageFileWrite'), path: z.string() }),
  z.object({ ev: z.literal('imageFileWritten'), streamPages: count }),
  z.object({ ev: z.literal('resumeReturned') }),
  z.object({ ev: z.literal('noresumeDone'), wrote: count, sig: z.string() }),
  z.object({ ev: z.literal('error'), what: z.string(), errno: errnoName.optional() }),
  z.object({ ev: z.literal('warn'), what: z.string(), errno: errnoName.optional() }),
  z.object({ ev: z.literal('done') }),
] as const;

export const AgentEventSchema = z.discriminatedUnion('ev', EVENT_SCHEMAS);
export type AgentEvent = z.infer<typeof AgentEventSchema>;
export type AgentEventName = AgentEvent['ev'];
export type EventOf<K extends AgentEventName> = Extract<AgentEvent, { ev: K }>;

/** An event with the time its line arrived (ms since QEMU started; 0 when parsed from a log file). */
export type TimedEvent = AgentEvent & { readonly t: number };

/**
 * The JSON object at the start of `s`: kernel output may follow a complete event on the same serial line
 * (`{"ev":"init",...}[    1.92] tsc: ...`). undefined when it is torn inside (kernel output mid-object).
 */
function jsonPrefix(s: string): { readonly value: unknown; readonly text: string } | undefined {
  for (let end = s.indexOf('}'); end >= 0; end = s.indexOf('}', end + 1)) {
    try {
      const text = s.slice(0, end + 1);
      return { value: JSON.parse(text), text };
    } catch {
      // not a whole object yet (or torn): try the next closing brace
    }
  }
  return undefined;
}

/**
 * Events the agent (guest/agent.c emit) writes with a checksum, ` #xxxxxxxx` = FNV-1a 32 of the JSON text: the 8250
 * console drops characters when the host is slow, and a lost digit still parses ("pagesCorrupt":10 -> 0). Such an
 * event without its sum, or with one that does not match, is torn: dropped (the step then lacks it, never passes).
 */
export const SUMMED_EVENTS: ReadonlySet<string> = new Set([
  'agentStart',
  'done',
  'error',
  'filled',
  'hibernateReturned',
  'hibernating',
  'uswsuspWritten',
  'verify',
  'warn',
  'write',
]);

/** FNV-1a 32 of a string's UTF-8 bytes (agent.c emit). */
export function lineSum(text: string): number {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(text, 'utf8')) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return h >>> 0;
}

/** A console line as agent.c emit() prints it: prefix, JSON, checksum (fixtures and the fake QEMU use it). */
export const agentLine = (json: string): string =>
  `${AGENT_PREFIX}${json} #${lineSum(json).toString(16).padStart(8, '0')}`;

/** The agent event on one console line; undefined for kernel text, torn lines and lines the schemas reject. */
export function parseAgentEvent(line: string): AgentEvent | undefined {
  const at = line.indexOf(AGENT_PREFIX);
  if (at < 0) return undefined;
  const rest = line.slice(at + AGENT_PREFIX.length).trim();
  const json = jsonPrefix(rest);
  if (json === undefined) return undefined;
  const r = AgentEventSchema.safeParse(json.value);
  if (!r.success) return undefined;
  const sum = /^\s*#([0-9a-f]{8})\b/.exec(rest.slice(json.text.length));
  if (sum !== null) return Number.parseInt(sum[1] ?? '', 16) === lineSum(json.text) ? r.data : undefined;
  return SUMMED_EVENTS.has(r.data.ev) ? undefined : r.data;
}

/** Where a kernel message starts inside a line (`[   11.134206] `): printk wrote into the middle of an agent line. */
const KERNEL_STAMP = /\[\s*\d+\.\d+\] /;

/**
 * The agent events of console lines, in order, with the line each ends on. An agent line that a kernel message
 * interrupted (`HIBFUZZ {"ev":"verify",...,"pageCacheCorrupt":[   11.13] ACPI: ...` then `0,"firstBad":-1,...} #sum`
 * on the next line) is put back together; the checksum decides whether the splice is the line the agent wrote.
 */
function eventsOfLines(texts: readonly string[]): { readonly e: AgentEvent; readonly line: number }[] {
  const out: { e: AgentEvent; line: number }[] = [];
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i] ?? '';
    const e = parseAgentEvent(text);
    if (e !== undefined) {
      out.push({ e, line: i });
      continue;
    }
    const at = text.indexOf(AGENT_PREFIX);
    const stamp = at < 0 ? undefined : KERNEL_STAMP.exec(text.slice(at));
    const next = texts[i + 1];
    if (stamp === undefined || stamp === null || next === undefined) continue;
    const spliced = parseAgentEvent(text.slice(0, at + stamp.index) + next);
    if (spliced === undefined) continue;
    out.push({ e: spliced, line: i + 1 });
    i++;
  }
  return out;
}

/** Every agent event of a console log, in order. */
export function parseAgentEvents(log: string): AgentEvent[] {
  return eventsOfLines(log.split('\n')).map((x) => x.e);
}

export function timedEvents(lines: readonly ConsoleLine[]): TimedEvent[] {
  return eventsOfLines(lines.map((l) => l.text)).map(({ e, line }) => ({ ...e, t: lines[line]?.t ?? 0 }));
}

/**
 * One boot's events, consumed step by step as the agent's program ran them. `take` stops at `done` (the program's
 * end): an event the program never printed is not found in what a later boot printed.
 */
export class AgentEvents {
  readonly #events: readonly TimedEvent[];
  #at = 0;
  constructor(events: readonly TimedEvent[]) {
    this.#events = events;
  }
  /** the next event named `ev`, skipping others; undefined (and nothing consumed) when the program ended first */
  take<K extends AgentEventName>(ev: K): (EventOf<K> & { readonly t: number }) | undefined {
    for (let i = this.#at; i < this.#events.length; i++) {
      const e = this.#events[i];
      if (e?.ev === 'done') return undefined;
      if (e?.ev === ev) {
        this.#at = i + 1;
        return e as EventOf<K> & { readonly t: number };
      }
    }
    return undefined;
  }
  /** the first of `evs` still ahead, not consumed */
  peek<K extends AgentEventName>(evs: readonly K[]): (EventOf<K> & { readonly t: number }) | undefined {
    for (let i = this.#at; i < this.#events.length; i++) {
      const e = this.#events[i];
      if (e !== undefined && (evs as readonly string[]).includes(e.ev)) return e as EventOf<K> & { readonly t: number };
    }
    return undefined;
  }
  /** the first event named `ev` anywhere in the boot (timings) */
  first<K extends AgentEventName>(ev: K): (EventOf<K> & { readonly t: number }) | undefined {
    return this.#events.find((e) => e.ev === ev) as (EventOf<K> & { readonly t: number }) | undefined;
  }
  /** how many events named `ev` were consumed before the cursor (the k-th hibernateReturned of a boot) */
  consumed(ev: AgentEventName): number {
    return this.#events.slice(0, this.#at).filter((e) => e.ev === ev).length;
  }
}

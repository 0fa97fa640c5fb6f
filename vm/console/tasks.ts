// The kernel's task dump (sysrq-t, `show_state()`: "task:NAME state:X ..." and a call trace per task) in a console
// log, reduced to where the guest's own programs wait. Pure. vm/boot.ts asks for the dump when the image writer
// stops making progress (the FUSE target); classify.ts names the hang from it.
import type { CrashCause } from '../../spec/outcome.ts';

/** The guest's own user-space programs (guest/): their states are what a hang's title reports. */
export const GUEST_TASKS = ['agent', 'hibfused'] as const;

export interface TaskWait {
  readonly name: string;
  /** the dump's state letter: S (interruptible), D (uninterruptible, and frozen tasks on 6.1+), R, ... */
  readonly state: string;
  /** the call trace's reliable frames, innermost first, without offsets ("request_wait_answer") */
  readonly frames: readonly string[];
}

const SCHEDULER_FRAMES = new Set([
  '__schedule',
  'schedule',
  'schedule_timeout',
  'io_schedule',
  'schedule_preempt_disabled',
]);

const strip = (line: string): string => line.replace(/^\[\s*\d+\.\d+\]\s?/, '');

/** Every task of the last dump in the log (a later dump of the same task replaces an earlier one). */
export function taskDump(log: string): TaskWait[] {
  const tasks = new Map<string, { name: string; state: string; frames: string[] }>();
  let cur: { name: string; state: string; frames: string[] } | undefined;
  for (const raw of log.split('\n')) {
    const line = strip(raw);
    const t = /^task:(\S+)\s+state:(\S)/.exec(line);
    if (t !== null) {
      cur = { name: t[1] ?? '', state: t[2] ?? '', frames: [] };
      tasks.set(cur.name, cur);
      continue;
    }
    if (cur === undefined) continue;
    // " __schedule+0x34d/0xa00", " request_wait_answer+0x159/0x2a0 [fuse]"; "? ..." frames are unreliable
    const f = /^\s+([A-Za-z_][\w.]*)\+0x[0-9a-f]+\/0x[0-9a-f]+/.exec(line);
    if (f !== null) cur.frames.push(f[1] ?? '');
    else if (!/^\s*(Call Trace:|<TASK>|\? |RIP:|RSP:|RAX:|RDX:|RBP:|R1[0-5]:|R[89]:)/.test(line)) cur = undefined;
  }
  return [...tasks.values()];
}

/** Where a task waits: its innermost frame outside the scheduler. */
export const waitsIn = (t: TaskWait): string => t.frames.find((f) => !SCHEDULER_FRAMES.has(f)) ?? 'unknown';

/** "agent S in request_wait_answer, hibfused D in __refrigerator" for the guest's programs in the dump, or undefined. */
export function guestTaskSummary(dump: readonly TaskWait[]): string | undefined {
  const guest = dump.filter((t) => (GUEST_TASKS as readonly string[]).includes(t.name));
  if (guest.length === 0) return undefined;
  return guest.map((t) => `${t.name} ${t.state} in ${waitsIn(t)}`).join(', ');
}

/**
 * The cause a task dump names, when it names one the model knows (spec/outcome.ts CRASH_CAUSES):
 * fuseServerFrozen: the agent (the image writer) waits for a FUSE reply (request_wait_answer) while hibfused, the
 * FUSE server, sits in the freezer (__refrigerator). Anything else is undefined: a hang with no known cause.
 */
export function hangCause(dump: readonly TaskWait[]): CrashCause | undefined {
  const agent = dump.find((t) => t.name === 'agent');
  const server = dump.find((t) => t.name === 'hibfused');
  if (agent === undefined || server === undefined) return undefined;
  const writerWaitsForFuse = waitsIn(agent) === 'request_wait_answer';
  const serverFrozen = waitsIn(server) === '__refrigerator';
  return writerWaitsForFuse && serverFrozen ? 'fuseServerFrozen' : undefined;
}

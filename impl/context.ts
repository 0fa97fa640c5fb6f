// The run context of the reference implementation: the machine (memory, storage), the parts, counters, and the
// trace being recorded. Shared by the swsusp path (power/hibernate.ts) and the kexec path (kexec/kexec.ts).
import {
  type BlockDevice,
  cloneMemory,
  type FaultState,
  type HibernateRecord,
  type HibernateStep,
  KIND as KIND_,
  type Memory,
  nosaveMap,
  OWNER as OWNER_,
  type PhaseEvent,
  type ResumeRecord,
  type Scenario,
  type StepRecord,
  staleToken,
} from '../spec/index.ts';
import {
  type Chunked,
  holdFrames,
  readFrames,
  type SnapshotOptions,
  snapshot,
  snapshotDevice,
  snapshotMemory,
} from '../spec/model/chunks.ts';
import type { Parts } from './parts.ts';
import { bioFor } from './power/block-dev.ts';
import type { KernelProfile } from './power/power.ts';
import type { CopyCounter } from './power/snapshot.ts';

// Local copies: imported bindings are getters under tsx/vitest transforms, and hot loops read these.
const KIND = KIND_;
const OWNER = OWNER_;

export interface Ctx {
  readonly s: Scenario;
  readonly parts: Parts;
  readonly profile: KernelProfile;
  /** the running system, or undefined while the machine is off */
  mem: Memory | undefined;
  /** ctx.mem is also the trace's initial machine: copy it before mutating (copy on write) */
  memShared: boolean;
  /** a record's snapshot equal to ctx.mem as it is now (undefined once ctx.mem changed since) */
  memSnap: Memory | undefined;
  readonly dev: BlockDevice;
  /** the last snapshot of dev (its chunks are shared by the next one where the device did not change) */
  lastDev: BlockDevice | undefined;
  /** a snapshot of ctx.dev taken since the device last changed (a record's storageAfter), shared, never mutated */
  devSnapshot: BlockDevice | undefined;
  readonly events: PhaseEvent[];
  readonly records: StepRecord[];
  /** ids of hibernations; the info page carries it */
  nextImageId: number;
  /** struct page state of each image (saved inside the image as kernel memory): its atImage snapshot's kinds */
  readonly imageKinds: Map<number, Memory>;
  /** the last memory snapshot a hibernation took (its chunks are shared by the next one where nothing changed) */
  lastImage: Memory | undefined;
  /** the last hibernation's system at the request (an abort's `after` shares its chunks) */
  lastBefore: Memory | undefined;
  /** what a frame nobody wrote since the running system booted holds (staleToken of that boot) */
  garbage: ((p: number) => number) | undefined;
  /** the last resume's loader maps (shared chunks, as lastImage) */
  lastLoad: ResumeRecord['load'];
  /** the image on storage was altered at rest since it was written */
  corruptedSinceImage: boolean;
  /** a read-write boot happened since the last image was written */
  staleSinceImage: boolean;
  /** write generation of the workload (user-space writes) */
  gen: number;
  /** per hibernate step that scheduled a write fault: did it hit a write (the observation's `fault` fact) */
  readonly faults: Map<number, FaultState>;
}

export function event(ctx: Ctx, step: number, phase: string, counts?: Record<string, number>, note?: string): void {
  ctx.events.push({ step, phase, ...(counts ? { counts } : {}), ...(note ? { note } : {}) });
}

/**
 * The start of every hibernation step: the running system and storage as they were at the request, a new image id,
 * copy counters, the block device with the step's fault schedule, and the record builder (storage is snapshotted
 * when the record is built, i.e. after the step; so is whether the scheduled fault fired).
 */
export function beginHibernation(ctx: Ctx, st: HibernateStep, step: number, region?: { start: number; end: number }) {
  // The system at the request: the record that holds it already (the last resume's or abort's `after`), the initial
  // machine itself, or a snapshot sharing the last one's chunks. The step mutates ctx.mem, never a record's arrays.
  const live = ctx.mem as Memory;
  const before = ctx.memSnap ?? (ctx.memShared ? live : snapMemory(ctx, live, ctx.lastImage));
  if (ctx.memShared) {
    ctx.mem = cloneMemory(live);
    ctx.memShared = false;
  }
  ctx.memSnap = undefined;
  ctx.lastBefore = before;
  const mem = ctx.mem as Memory;
  const storageBefore = deviceSnapshot(ctx);
  ctx.devSnapshot = undefined;
  const imageId = ctx.nextImageId++;
  const copies = { image: 0, exchange: 0 };
  const bio = bioFor(ctx.dev, st);
  const scheduled =
    st.ioErrorAtWrite !== undefined || st.powerLossAfterWrite !== undefined || st.ioErrorAfterSignature === true;
  const rec = (r: RecordInput): HibernateRecord => {
    if (scheduled) ctx.faults.set(step, bio.fired ? 'fired' : 'notFired');
    const { atJump, atSaveKernelEnd, afterWrite, ...rest } = r;
    const record: HibernateRecord = {
      kind: 'hibernate',
      step,
      imageId,
      before,
      storageBefore,
      copies,
      storageAfter: deviceSnapshot(ctx),
      ...(bio.signedAt > 0 ? { signedAtWrite: bio.signedAt } : {}),
      ...(bio.firedAt > 0 ? { faultAtWrite: bio.firedAt } : {}),
      ...(region ? { region } : {}),
      ...rest,
    };
    for (const [k, v] of [
      ['atJump', atJump],
      ['atSaveKernelEnd', atSaveKernelEnd],
      ['afterWrite', afterWrite],
    ] as const)
      if (v !== undefined) holdFrames(record, k, v);
    return record;
  };
  return { mem, before, imageId, copies, bio, rec };
}

/** The per-frame arrays of a hibernation record, held as chunks (spec/model/chunks.ts) until the record is built. */
export interface FrameSnaps {
  readonly atJump?: Chunked;
  readonly atSaveKernelEnd?: Chunked;
  readonly afterWrite?: Chunked;
}
export type RecordInput = Partial<Omit<HibernateRecord, keyof FrameSnaps>> &
  Pick<HibernateRecord, 'outcome'> &
  FrameSnaps;

/** A snapshot of the live content (or a view of it), sharing chunks with `refs` and the running system's garbage. */
export function snapContent(ctx: Ctx, live: Uint32Array, ...refs: (Chunked | undefined)[]): Chunked {
  const opts: SnapshotOptions = ctx.garbage !== undefined ? { refs, gen: ctx.garbage } : { refs };
  return snapshot(live, opts);
}

/** The memory at a hibernation's image point, as a chunked snapshot sharing what the last one holds. */
export function snapImage(ctx: Ctx, mem: Memory): Memory {
  const m = snapMemory(ctx, mem, ctx.lastBefore, ctx.lastImage);
  ctx.lastImage = m;
  return m;
}

/** The owner map of a (chunked) memory snapshot, for readers that need no more. */
export function ownersOf(m: Memory): Pick<Memory, 'nr' | 'owner'> {
  return { nr: m.nr, owner: readFrames<Uint8Array>(m, 'owner') as Uint8Array };
}

/** The storage as it is now, for a record: one snapshot shared until the device changes (run.ts forgets it then). */
export function deviceSnapshot(ctx: Ctx): BlockDevice {
  if (ctx.devSnapshot === undefined) {
    ctx.devSnapshot = snapshotDevice(ctx.dev, ctx.lastDev);
    ctx.lastDev = ctx.devSnapshot;
  }
  return ctx.devSnapshot;
}

/**
 * The original system carries on after the step (an abort or a failure): the record's `after` is a snapshot of
 * ctx.mem sharing the request's and the image point's chunks; it stands for ctx.mem until the next step changes it
 * (ctx.memSnap). Call it last, when the step is done.
 */
export function carriesOn(ctx: Ctx): { after: Memory } {
  const after = snapMemory(ctx, ctx.mem as Memory, ctx.lastBefore, ctx.lastImage);
  ctx.memSnap = after;
  return { after };
}

/** A chunked snapshot of memory, sharing the chunks of `refs` and holding the running system's garbage as bits. */
export function snapMemory(ctx: Ctx, m: Memory, ...refs: (Memory | undefined)[]): Memory {
  return snapshotMemory(m, ctx.garbage !== undefined ? { refs, gen: ctx.garbage } : { refs });
}

/** A freshly booted loader kernel: its own frames at `footprint`, everything else free (boot-time garbage). */
export function bootMemory(ctx: Ctx, memPages: number, footprint: (p: number) => boolean, tag: number): Memory {
  const nosave = nosaveMap(memPages, ctx.s.machine.e820);
  const content = new Uint32Array(memPages);
  const owner = new Uint8Array(memPages);
  const kind = new Uint8Array(memPages);
  for (let p = 0; p < memPages; p++) {
    if (nosave[p]) {
      owner[p] = OWNER.NOSAVE;
      kind[p] = KIND.HOLE;
      continue;
    }
    content[p] = staleToken(tag, p);
    if (footprint(p)) {
      owner[p] = OWNER.LOADER;
      kind[p] = KIND.TEXT;
    }
  }
  return { nr: memPages, content, owner, kind };
}

/** After the final copy and the jump: the original kernel runs again with the image's frames as its own. */
export function memoryAfterJump(boot: Memory, imageSet: Uint8Array, kinds: Uint8Array | undefined): Memory {
  const owner = new Uint8Array(boot.nr);
  const kind = new Uint8Array(boot.nr);
  for (let p = 0; p < boot.nr; p++) {
    if (boot.owner[p] === OWNER.NOSAVE) {
      owner[p] = OWNER.NOSAVE;
      kind[p] = KIND.HOLE;
    } else if (imageSet[p] === 1) {
      owner[p] = OWNER.ORIG;
      kind[p] = kinds?.[p] ?? KIND.ANON;
    }
  }
  return { nr: boot.nr, content: boot.content, owner, kind };
}

export type { CopyCounter };

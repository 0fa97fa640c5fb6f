// Snapshots held as shared chunks (issue 14: memory per cycle proportional to what changed). A per-frame array the
// trace records is a table of fixed-size chunks: a chunk equal to the same chunk of a reference snapshot IS that
// chunk (shared), a chunk that is mostly a function of the frame (boot-time garbage, `gen(p)`) over a reference chunk
// is the function, a bitmap and a few patches; any other chunk is a copy. Chunks are immutable and never alias the
// live array a snapshot was taken from, so nothing the implementation writes afterwards can change a snapshot.
//
// A record keeps the snapshot behind a field that reads as the flat typed array (materialized once, on first read:
// the trace's shape and bytes are those of the per-frame model). Monitors read through `readFrames`/`readMemory`, which
// never keep a materialized copy: the trace stays chunked however often they read it.
import { staleToken } from './init.ts';
import { type BlockDevice, cloneDevice, type Memory } from './state.ts';

/** Frames per chunk. */
export const CHUNK_FRAMES = 1 << 16;

export type Frames = Uint32Array | Uint8Array;

/** Frames [start, start + n): gen(p) where `bits` has bit p - start, else base (0 without one); then the patches. */
export interface GenChunk {
  readonly start: number;
  readonly n: number;
  readonly gen: (p: number) => number;
  readonly bits: Uint8Array;
  readonly base: Frames | undefined;
  readonly patchAt: Uint32Array;
  readonly patchVal: Uint32Array;
}

export type Chunk = Frames | GenChunk;

/** An immutable per-frame array: `bytes` per element (4: Uint32Array, 1: Uint8Array). */
export interface Chunked {
  readonly length: number;
  readonly bytes: 1 | 4;
  readonly chunks: readonly Chunk[];
}

export interface SnapshotOptions {
  /** snapshots of the same array taken earlier: equal chunks are shared */
  readonly refs?: readonly (Chunked | undefined)[];
  /** the content of a frame nobody wrote since boot (Uint32 only): chunks mostly equal to it are held as bits */
  readonly gen?: (p: number) => number;
}

const isGen = (c: Chunk): c is GenChunk => !ArrayBuffer.isView(c);

function sameRange(c: Frames, live: Frames, start: number): boolean {
  const n = c.length;
  const bytes = c.BYTES_PER_ELEMENT;
  const off = live.byteOffset + start * bytes;
  if ((n * bytes) % 4 === 0 && c.byteOffset % 4 === 0 && off % 4 === 0) {
    const a = new Int32Array(c.buffer, c.byteOffset, (n * bytes) >>> 2);
    const b = new Int32Array(live.buffer, off, a.length);
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  for (let i = 0; i < n; i++) if (c[i] !== live[start + i]) return false;
  return true;
}

/** A per-frame map of flags (the loader's maps, allocated slots): its 1s held as bits like boot-time garbage. */
const ONE = (_p: number): number => 1;

type StaleGen = ((p: number) => number) & { staleSeed?: number };

/** The garbage a boot seeded `seed` leaves in frames nobody wrote (staleToken), as a generator for snapshots. */
export function staleGarbage(seed: number): (p: number) => number {
  const g: StaleGen = (p: number) => staleToken(seed, p);
  g.staleSeed = seed;
  return g;
}

function genChunk(
  live: Frames,
  start: number,
  n: number,
  gen: (p: number) => number,
  base: Frames | undefined,
): GenChunk | undefined {
  const bits = new Uint8Array((n + 7) >>> 3);
  const at: number[] = [];
  const val: number[] = [];
  const maxPatches = live.BYTES_PER_ELEMENT === 4 ? n >>> 2 : n >>> 4;
  const seed = (gen as StaleGen).staleSeed;
  for (let i = 0; i < n; i++) {
    const v = live[start + i] as number;
    if (v === (base === undefined ? 0 : base[i])) continue;
    if (v === (gen === ONE ? 1 : seed !== undefined ? staleToken(seed, start + i) : gen(start + i))) {
      bits[i >>> 3] = (bits[i >>> 3] as number) | (1 << (i & 7));
      continue;
    }
    if (at.length >= maxPatches) return undefined;
    at.push(i);
    val.push(v);
  }
  return { start, n, gen, bits, base, patchAt: Uint32Array.from(at), patchVal: Uint32Array.from(val) };
}

function sameGen(a: GenChunk, b: GenChunk): boolean {
  if (a.gen !== b.gen || a.base !== b.base || a.n !== b.n || a.patchAt.length !== b.patchAt.length) return false;
  for (let i = 0; i < a.bits.length; i++) if (a.bits[i] !== b.bits[i]) return false;
  for (let i = 0; i < a.patchAt.length; i++)
    if (a.patchAt[i] !== b.patchAt[i] || a.patchVal[i] !== b.patchVal[i]) return false;
  return true;
}

/** Snapshot a live array: a chunk table that shares what equals the references and never aliases `live`. */
export function snapshot(live: Frames, opts: SnapshotOptions = {}): Chunked {
  const bytes = live.BYTES_PER_ELEMENT === 4 ? 4 : 1;
  if (live.length <= CHUNK_FRAMES) return { length: live.length, bytes, chunks: [live.slice()] }; // small: a copy
  const refs = (opts.refs ?? []).filter((r): r is Chunked => r !== undefined && r.length === live.length);
  const chunks: Chunk[] = [];
  for (let start = 0, c = 0; start < live.length; start += CHUNK_FRAMES, c++) {
    const end = Math.min(live.length, start + CHUNK_FRAMES);
    let got: Chunk | undefined;
    let raw: Frames | undefined;
    let genRef: GenChunk | undefined;
    for (const r of refs) {
      const rc = r.chunks[c] as Chunk;
      if (isGen(rc)) genRef ??= rc;
      else if (sameRange(rc, live, start)) {
        got = rc;
        break;
      } else raw ??= rc;
    }
    const gen = bytes === 4 ? (opts.gen ?? genRef?.gen) : ONE;
    if (got === undefined && gen !== undefined) {
      const g = genChunk(live, start, end - start, gen, raw ?? genRef?.base);
      if (g !== undefined) got = genRef !== undefined && sameGen(genRef, g) ? genRef : g;
    }
    chunks.push(got ?? live.slice(start, end));
  }
  return { length: live.length, bytes, chunks };
}

function chunkInto(c: Chunk, out: Frames, at: number): void {
  if (!isGen(c)) return void out.set(c, at);
  if (c.base !== undefined) out.set(c.base, at);
  else out.fill(0, at, at + c.n);
  const { bits, gen, start } = c;
  const seed = (gen as StaleGen).staleSeed; // the common generators run inline, not through a call per frame
  for (let b = 0; b < bits.length; b++) {
    const byte = bits[b] as number;
    if (byte === 0) continue;
    for (let k = 0; k < 8; k++) {
      if ((byte & (1 << k)) === 0) continue;
      const p = b * 8 + k;
      out[at + p] = gen === ONE ? 1 : seed !== undefined ? staleToken(seed, start + p) : gen(start + p);
    }
  }
  for (let i = 0; i < c.patchAt.length; i++) out[at + (c.patchAt[i] as number)] = c.patchVal[i] as number;
}

/** A new flat array with the snapshot's values. */
export function materialize(s: Chunked): Frames {
  const out = s.bytes === 4 ? new Uint32Array(s.length) : new Uint8Array(s.length);
  for (let c = 0; c < s.chunks.length; c++) chunkInto(s.chunks[c] as Chunk, out, c * CHUNK_FRAMES);
  return out;
}

/** Bytes of the snapshot's chunks that are not chunks of `others` (what it costs on top of them). */
export function chunkBytes(s: Chunked, others: readonly Chunked[] = []): number {
  const shared = new Set<Chunk>(others.flatMap((o) => o.chunks));
  let n = 0;
  for (const c of s.chunks) {
    if (shared.has(c)) continue;
    n += isGen(c) ? c.bits.byteLength + c.patchAt.byteLength + c.patchVal.byteLength : c.byteLength;
  }
  return n;
}

// ---- snapshots behind record fields ----------------------------------------------------------------------------

interface Held {
  snap: Chunked;
  flat: Frames | undefined;
}
const HELD = Symbol('chunked snapshots');
type Holder = { [HELD]?: Record<string, Held> };

// Arrays the fields' getters materialized, oldest first: at most FLAT_BYTES of them (and at least FLAT_MIN) stay
// materialized; an older one goes back into its snapshot (re-chunked against it, so a reader's writes are kept).
const flats: Held[] = [];
let flatBytes = 0;
const flatLimit = { bytes: 16 * 2 ** 20, min: 4 };

/** How many bytes of materialized fields stay materialized (at least `min` fields); for tests and tuning. */
export function limitMaterialized(bytes: number, min: number): void {
  flatLimit.bytes = bytes;
  flatLimit.min = min;
}

function forgetRecent(held: Held): void {
  for (let i = recent.length - 1; i >= 0; i--) {
    const [h, f] = recent[i] as readonly [Held, Frames];
    if (h !== held) continue;
    recentBytes -= f.byteLength;
    recent.splice(i, 1);
  }
}

function flatOf(held: Held): Frames {
  if (held.flat !== undefined) return held.flat;
  const f = materialize(held.snap);
  forgetRecent(held);
  held.flat = f;
  flats.push(held);
  flatBytes += f.byteLength;
  while (flatBytes > flatLimit.bytes && flats.length > flatLimit.min) {
    const old = flats.shift() as Held;
    const of = old.flat as Frames;
    flatBytes -= of.byteLength;
    old.flat = undefined;
    old.snap = snapshot(of, { refs: [old.snap] });
  }
  return f;
}

// One accessor pair per field name, shared by every holder (objects of one shape keep one hidden class).
const accessors = new Map<string, PropertyDescriptor>();
function accessorOf(key: string): PropertyDescriptor {
  let a = accessors.get(key);
  if (a === undefined) {
    // the last holder read through this accessor: the oracle's per-frame loops read one field again and again
    let lastObj: Holder | undefined;
    let lastHeld: Held | undefined;
    a = {
      enumerable: true,
      configurable: true,
      get(this: Holder) {
        if (this === lastObj && lastHeld?.flat !== undefined) return lastHeld.flat;
        const held = (this[HELD] as Record<string, Held>)[key] as Held;
        lastObj = this;
        lastHeld = held;
        return flatOf(held);
      },
      set(this: Holder, v: unknown) {
        if (this === lastObj) lastObj = undefined;
        delete (this[HELD] as Record<string, Held>)[key];
        Object.defineProperty(this, key, { value: v, enumerable: true, configurable: true, writable: true });
      },
    };
    accessors.set(key, a);
  }
  return a;
}

/**
 * Keep `snap` behind `obj[key]`: the field reads as the flat array, materialized on read (the latest few stay so; a
 * reader's writes into one are kept, as with a plain array). Monitors read with `readFrames` instead.
 */
export function holdFrames(obj: object, key: string, snap: Chunked): void {
  const only = snap.chunks[0];
  if (snap.chunks.length <= 1 && (only === undefined || !isGen(only))) {
    // a one-chunk snapshot is a plain array (a copy, or the equal array of a reference): small machines pay nothing
    (obj as Record<string, unknown>)[key] = only ?? materialize(snap);
    return;
  }
  const o = obj as Holder;
  if (o[HELD] === undefined) Object.defineProperty(o, HELD, { value: {}, enumerable: false });
  (o[HELD] as Record<string, Held>)[key] = { snap, flat: undefined };
  Object.defineProperty(obj, key, accessorOf(key));
}

/** The chunked snapshot behind `obj[key]`, if the field holds one. */
export function chunkedOf(obj: object | undefined, key: string): Chunked | undefined {
  return obj === undefined ? undefined : (obj as Holder)[HELD]?.[key]?.snap;
}

// The last few transient materializations: a monitor that reads one snapshot twice does not copy it twice.
// (At most RECENT_BYTES of them, at least RECENT_MIN: the monitors read each record's arrays in turn.)
const recent: (readonly [Held, Frames])[] = [];
let recentBytes = 0;
const RECENT_BYTES = 16 * 2 ** 20;
const RECENT_MIN = 4;

/**
 * Read `obj[key]` as a flat array without keeping a copy in the trace: the field's own array when it is a plain one
 * or was materialized already, the single chunk of a one-chunk snapshot, else a transient copy. Never write into it.
 */
export function readFrames<A extends Frames>(obj: object | undefined, key: string): A | undefined {
  if (obj === undefined) return undefined;
  const held = (obj as Holder)[HELD]?.[key];
  if (held === undefined) return (obj as Record<string, unknown>)[key] as A | undefined;
  if (held.flat !== undefined) return held.flat as A;
  const only = held.snap.chunks.length === 1 ? (held.snap.chunks[0] as Chunk) : undefined;
  if (only !== undefined && !isGen(only)) return only as A;
  for (const [h, f] of recent) if (h === held) return f as A;
  const f = materialize(held.snap);
  recent.push([held, f]);
  recentBytes += f.byteLength;
  while (recentBytes > RECENT_BYTES && recent.length > RECENT_MIN)
    recentBytes -= ((recent.shift() as readonly [Held, Frames])[1] as Frames).byteLength;
  return f as A;
}

function chunkAt(c: Chunk, i: number): number {
  if (!isGen(c)) return c[i] as number;
  let lo = 0;
  let hi = c.patchAt.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((c.patchAt[mid] as number) < i) lo = mid + 1;
    else hi = mid;
  }
  if (c.patchAt[lo] === i) return c.patchVal[lo] as number;
  if ((c.bits[i >>> 3] as number) & (1 << (i & 7))) return c.gen(c.start + i);
  return c.base === undefined ? 0 : (c.base[i] as number);
}

/** `obj[key]` is present (held or plain), without reading it. */
export function hasFrames(obj: object | undefined, key: string): boolean {
  return (
    obj !== undefined &&
    ((obj as Holder)[HELD]?.[key] !== undefined || (obj as Record<string, unknown>)[key] !== undefined)
  );
}

/**
 * Frame by frame reads of `obj[key]` without materializing it (for monitors that look at a few frames): undefined
 * when the field is absent. A field the getter materialized is read there (a reader's writes stay visible).
 */
export function frameReader(obj: object | undefined, key: string): ((p: number) => number) | undefined {
  if (obj === undefined) return undefined;
  const held = (obj as Holder)[HELD]?.[key];
  const flat = held === undefined ? ((obj as Record<string, unknown>)[key] as Frames | undefined) : held.flat;
  if (flat !== undefined) return (p) => flat[p] as number;
  if (held === undefined) return undefined;
  const chunks = held.snap.chunks;
  return (p) => chunkAt(chunks[Math.floor(p / CHUNK_FRAMES)] as Chunk, p % CHUNK_FRAMES);
}

// ---- memory snapshots ------------------------------------------------------------------------------------------

export interface MemorySnapshotOptions {
  /** earlier snapshots (chunked Memory records): equal chunks are shared */
  readonly refs?: readonly (Memory | undefined)[];
  /** boot-time content of a frame nobody wrote (see SnapshotOptions.gen) */
  readonly gen?: (p: number) => number;
}

/** A Memory snapshot of `m` held as chunks: reads as {nr, content, owner, kind}, like cloneMemory(m). */
export function snapshotMemory(m: Memory, opts: MemorySnapshotOptions = {}): Memory {
  // a machine of one chunk: plain copies, as cloneMemory (nothing to share, and the monitors' loops see one shape)
  if (m.nr <= CHUNK_FRAMES)
    return { nr: m.nr, content: m.content.slice(), owner: m.owner.slice(), kind: m.kind.slice() };
  const refs = opts.refs ?? [];
  const o = { nr: m.nr };
  for (const key of ['content', 'owner', 'kind'] as const)
    holdFrames(
      o,
      key,
      snapshot(m[key], {
        refs: refs.map((r) => chunkedOf(r, key)),
        ...(key === 'content' && opts.gen !== undefined ? { gen: opts.gen } : {}),
      }),
    );
  return o as unknown as Memory;
}

/**
 * A storage snapshot (as cloneDevice) whose per-page arrays are chunks shared with `ref`, the last snapshot of the
 * same device. Structured pages are immutable values: the maps are copied, their values shared.
 */
export function snapshotDevice(d: BlockDevice, ref?: BlockDevice): BlockDevice {
  if (d.nr <= CHUNK_FRAMES) return cloneDevice(d);
  const o = {
    nr: d.nr,
    header: new Map(d.header),
    maps: new Map(d.maps),
    infos: new Map(d.infos),
    metas: new Map(d.metas),
    epoch: d.epoch,
  };
  for (const key of ['tok', 'slot', 'allocated'] as const)
    holdFrames(o, key, snapshot(readFrames(d, key) as Frames, { refs: [chunkedOf(ref, key)] }));
  return o as unknown as BlockDevice;
}

/** A flat view of a Memory for reading (readFrames on each array; `m` itself when nothing is chunked). */
export function readMemory(m: Memory): Memory;
export function readMemory(m: Memory | undefined): Memory | undefined;
export function readMemory(m: Memory | undefined): Memory | undefined {
  if (m === undefined || (m as Holder)[HELD] === undefined) return m;
  return {
    nr: m.nr,
    content: readFrames<Uint32Array>(m, 'content') as Uint32Array,
    owner: readFrames<Uint8Array>(m, 'owner') as Uint8Array,
    kind: readFrames<Uint8Array>(m, 'kind') as Uint8Array,
  };
}

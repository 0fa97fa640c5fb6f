import { describe, expect, it } from 'vitest';
import {
  CHUNK_FRAMES,
  chunkBytes,
  chunkedOf,
  frameReader,
  holdFrames,
  limitMaterialized,
  materialize,
  readFrames,
  readMemory,
  snapshot,
  snapshotMemory,
} from './chunks.ts';
import { staleToken } from './init.ts';
import type { Memory } from './state.ts';

const N = CHUNK_FRAMES * 3 + 123;
const filled = (n: number, f: (i: number) => number) => Uint32Array.from({ length: n }, (_, i) => f(i));

describe('chunked snapshots', () => {
  it('a write to the live array after a snapshot does not change the snapshot', () => {
    const live = filled(N, (i) => i * 7 + 1);
    const a = snapshot(live);
    const b = snapshot(live, { refs: [a] });
    const gen = (p: number) => staleToken(5, p);
    const c = snapshot(live, { refs: [b], gen });
    const before = Uint32Array.from(live);
    for (let i = 0; i < N; i += 997) live[i] = 0xdeadbeef;
    live.fill(3);
    for (const s of [a, b, c]) expect(materialize(s)).toEqual(before);
  });

  it('shares equal chunks with a reference, copies the changed one', () => {
    const live = filled(N, (i) => i + 1);
    const a = snapshot(live);
    live[CHUNK_FRAMES + 5] = 42;
    const b = snapshot(live, { refs: [a] });
    expect(b.chunks.map((ch, i) => ch === a.chunks[i])).toEqual([true, false, true, true]);
    expect(materialize(b)).toEqual(live);
    expect(chunkBytes(b, [a])).toBe(CHUNK_FRAMES * 4);
  });

  it('holds boot-time garbage as bits over a reference chunk, with patches', () => {
    const gen = (p: number) => staleToken(9, p);
    const image = filled(N, (i) => (i * 2654435761) >>> 0);
    const ref = snapshot(image);
    // half the frames restored from the image, the rest garbage, a few neither, a zero frame
    const live = filled(N, (i) => (i % 2 === 0 ? (image[i] as number) : gen(i)));
    live[7] = 12345;
    live[CHUNK_FRAMES * 2 + 1] = 0;
    const s = snapshot(live, { refs: [ref], gen });
    expect(materialize(s)).toEqual(live);
    expect(chunkBytes(s)).toBeLessThan(N / 4);
    const rec = {};
    holdFrames(rec, 'c', s);
    const at = frameReader(rec, 'c');
    for (const p of [0, 1, 7, 8, CHUNK_FRAMES * 2 + 1, N - 1]) expect(at?.(p)).toBe(live[p]);
    expect(frameReader(rec, 'none')).toBeUndefined();
    // the same values again: the same chunks
    const t = snapshot(live, { refs: [s], gen });
    expect(t.chunks.every((ch, i) => ch === s.chunks[i])).toBe(true);
    // no generator matches: copies
    const u = snapshot(
      filled(N, (i) => i ^ 0x5555),
      { refs: [s] },
    );
    expect(chunkBytes(u)).toBe(N * 4);
  });

  it('holds a map of flags as bits, with patches for other values', () => {
    const live = Uint8Array.from({ length: N }, (_, i) => (i % 3 === 0 ? 1 : 0));
    live[5] = 2;
    const s = snapshot(live);
    expect(materialize(s)).toEqual(live);
    expect(chunkBytes(s)).toBeLessThan(N / 4);
    const rec = {};
    holdFrames(rec, 'm', s);
    expect(frameReader(rec, 'm')?.(5)).toBe(2);
    expect(frameReader(rec, 'm')?.(6)).toBe(1);
  });

  it('a held field reads as the flat array; readFrames reads without keeping a copy', () => {
    const live = filled(N, (i) => i);
    const rec: { nr: number; atJump?: Uint32Array } = { nr: N };
    holdFrames(rec, 'atJump', snapshot(live));
    expect(Object.keys(rec)).toEqual(['nr', 'atJump']);
    expect({ ...rec }.atJump).toEqual(live);
    const r2: { atJump?: Uint32Array } = {};
    holdFrames(r2, 'atJump', snapshot(live));
    const f = readFrames<Uint32Array>(r2, 'atJump');
    expect(f).toEqual(live);
    // a write through the field is seen by later reads (a plain array's behaviour)
    (rec.atJump as Uint32Array)[0] = 99;
    expect(readFrames<Uint32Array>(rec, 'atJump')?.[0]).toBe(99);
    expect(readFrames({ x: live }, 'x')).toBe(live);
    expect(chunkedOf(rec, 'atJump')?.length).toBe(N);
  });

  it('a materialized field that goes back into its snapshot keeps what a reader wrote into it', () => {
    limitMaterialized(0, 1);
    try {
      const recs = [0, 1, 2].map((k) => {
        const r: { a?: Uint32Array } = {};
        holdFrames(r, 'a', snapshot(filled(N, (i) => i + k)));
        return r;
      });
      const a0 = recs[0]?.a as Uint32Array;
      a0[N - 1] = 7;
      expect(readFrames<Uint32Array>(recs[0], 'a')?.[N - 1]).toBe(7);
      void recs[1]?.a; // materializes recs[1], evicts recs[0] back into chunks
      expect(readFrames<Uint32Array>(recs[0], 'a')?.[N - 1]).toBe(7);
      expect(frameReader(recs[0], 'a')?.(N - 1)).toBe(7);
      expect(recs[0]?.a?.[N - 1]).toBe(7);
      expect(recs[0]?.a?.[N - 2]).toBe(N - 2);
    } finally {
      limitMaterialized(16 * 2 ** 20, 4);
    }
  });

  it('memory snapshots read like cloneMemory and share owner and kind with a reference', () => {
    const m: Memory = {
      nr: N,
      content: filled(N, (i) => i + 1),
      owner: Uint8Array.from({ length: N }, (_, i) => i % 3),
      kind: Uint8Array.from({ length: N }, (_, i) => i % 5),
    };
    const a = snapshotMemory(m);
    m.content[3] = 0;
    const b = snapshotMemory(m, { refs: [a] });
    expect(chunkedOf(b, 'owner')?.chunks.every((ch, i) => ch === chunkedOf(a, 'owner')?.chunks[i])).toBe(true);
    expect(Object.keys(b).sort()).toEqual(['content', 'kind', 'nr', 'owner']);
    expect(readMemory(b).content).toEqual(m.content);
    expect(b.kind).toEqual(m.kind);
    m.owner.fill(7);
    expect(readMemory(a).owner[4]).toBe(1);
    expect(readMemory(m)).toBe(m);
  });
});

import { describe, expect, it } from 'vitest';
import { AGENT_KIND_ANON, agentPage, agentTagMatcher } from './agent-tag.ts';

describe('agentPage', () => {
  it('writes the tag header words of agent.c fill_page()', () => {
    // Arrange / Act
    const p = agentPage({ id: 0x1234, seed: 1, kind: AGENT_KIND_ANON, index: 68, generation: 3 });
    const v = new DataView(p.buffer);
    // Assert
    expect(v.getBigUint64(0, true)).toBe(0x5a5a5a5a5a5a5a5an);
    expect(v.getBigUint64(8, true)).toBe((0x1234n << 32n) | 3n);
    expect(v.getBigUint64(16, true)).toBe((1n << 32n) | 68n);
  });

  it('continues with the xorshift64 stream from page_seed (known words of a captured 6.1 image)', () => {
    // Arrange: id 0x1234, seed 1, anon page 0, generation 0; words 3 and 511 as read from the captured disk
    const p = agentPage({ id: 0x1234, seed: 1, kind: AGENT_KIND_ANON, index: 0, generation: 0 });
    const v = new DataView(p.buffer);
    // Act / Assert
    expect(v.getBigUint64(3 * 8, true).toString(16)).toBe(WORD3);
    expect(v.getBigUint64(511 * 8, true).toString(16)).toBe(WORD511);
  });

  it('differs for another index, generation or seed', () => {
    const base = { id: 1, seed: 1, kind: 1, index: 0, generation: 0 };
    const a = Buffer.from(agentPage(base).subarray(24));
    for (const k of [
      { ...base, index: 1 },
      { ...base, generation: 1 },
      { ...base, seed: 2 },
    ]) {
      expect(a.equals(Buffer.from(agentPage(k).subarray(24)))).toBe(false);
    }
  });
});

describe('agentTagMatcher', () => {
  const key = { id: 0x1234, seed: 1, kind: AGENT_KIND_ANON, index: 7, generation: 2 };

  it('recognises an intact page and a damaged one', () => {
    // Arrange
    const page = agentPage(key);
    const damaged = page.slice();
    damaged[4000] = (damaged[4000] ?? 0) ^ 1;
    const match = agentTagMatcher({ seed: 1 });
    // Act / Assert
    expect(match(page)).toEqual({ id: 0x1234, index: 7, generation: 2, kind: 1, intact: true });
    expect(match(damaged)?.intact).toBe(false);
  });

  it('ignores other pages, other ids, and skips body checks when asked', () => {
    const page = agentPage(key);
    expect(agentTagMatcher({ seed: 1 })(new Uint8Array(4096))).toBeUndefined();
    expect(agentTagMatcher({ seed: 1, id: 0x9999 })(page)).toBeUndefined();
    expect(agentTagMatcher({ seed: 99, verifyBody: false })(page)).toEqual({
      id: 0x1234,
      index: 7,
      generation: 2,
      kind: 1,
    });
  });
});

/** agent.c fill_page() in BigInt arithmetic, as agentPage was first written: the reference for the u32 version. */
function referencePage(k: { id: number; seed: number; kind: number; index: number; generation: number }): Uint8Array {
  const M64 = (1n << 64n) - 1n;
  const mix = (x: bigint): bigint => {
    let z = (x + 0x9e3779b97f4a7c15n) & M64;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
    return z ^ (z >> 31n);
  };
  const inner = mix(((BigInt(k.kind) << 56n) ^ (BigInt(k.index) << 20n) ^ BigInt(k.generation)) & M64);
  let x = mix(((BigInt(k.id) << 32n) | BigInt(k.seed)) ^ inner) || 1n;
  const v = new DataView(new ArrayBuffer(4096));
  v.setBigUint64(0, 0x5a5a5a5a5a5a5a5an, true);
  v.setBigUint64(8, (BigInt(k.id) << 32n) | BigInt(k.generation), true);
  v.setBigUint64(16, (BigInt(k.kind) << 32n) | BigInt(k.index), true);
  for (let i = 3; i < 512; i++) {
    x ^= (x << 13n) & M64;
    x ^= x >> 7n;
    x ^= (x << 17n) & M64;
    v.setBigUint64(i * 8, x, true);
  }
  return new Uint8Array(v.buffer);
}

describe('agentPage against the BigInt reference', () => {
  it('agrees for random u32 keys (all kind bits, large indices and generations)', () => {
    let x = 0x2545f491;
    const next = (): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    for (let t = 0; t < 200; t++) {
      // Arrange
      const k = { id: next(), seed: next(), kind: t % 2 ? next() : t % 3, index: next(), generation: next() % (t + 1) };
      // Act / Assert
      expect(Buffer.from(agentPage(k)).equals(Buffer.from(referencePage(k))), JSON.stringify(k)).toBe(true);
    }
  });

  it('matches an intact page at an unaligned offset, and finds damage in the last word', () => {
    // Arrange
    const key = { id: 5, seed: 6, kind: AGENT_KIND_ANON, index: 7, generation: 8 };
    const buf = new Uint8Array(4097);
    buf.set(agentPage(key), 1);
    const page = buf.subarray(1);
    const damaged = agentPage(key);
    damaged[4095] = (damaged[4095] ?? 0) ^ 0x80;
    const match = agentTagMatcher({ seed: 6 });
    // Act / Assert
    expect(match(page)?.intact).toBe(true);
    expect(match(damaged)?.intact).toBe(false);
  });
});

/** Words 3 and 511 of anon page 0 (id 0x1234, seed 1), read from the captured debian-6.1-nocompress disk. */
const WORD3 = 'ed8ef79513d34fed';
const WORD511 = '59b6cce8383b8434';

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

/** Words 3 and 511 of anon page 0 (id 0x1234, seed 1), read from the captured debian-6.1-nocompress disk. */
const WORD3 = 'ed8ef79513d34fed';
const WORD511 = '59b6cce8383b8434';

// Unit tests of the CLI value parsers: budgets, shards (1-based k/n), integer flags.
import { describe, expect, it } from 'vitest';
import { parseBudget, parseIntFlag, parseShard } from './args.ts';

describe('parseBudget', () => {
  it.each([
    ['60s', 60_000],
    ['10m', 600_000],
    ['1h', 3_600_000],
    ['500ms', 500],
    ['5', 5000],
    ['1.5s', 1500],
  ])('%s is %d ms', (text, ms) => {
    expect(parseBudget(text)).toEqual({ ok: true, value: ms });
  });

  it.each(['', 'soon', '10 minutes', '-5s', '0s'])('rejects %j with one line naming the flag', (text) => {
    const r = parseBudget(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/^--budget: [^\n]+$/);
  });
});

describe('parseShard', () => {
  it('accepts 1-based k/n', () => {
    expect(parseShard('1/1')).toEqual({ ok: true, value: { k: 1, n: 1 } });
    expect(parseShard('4/4')).toEqual({ ok: true, value: { k: 4, n: 4 } });
  });

  it.each(['3/2', '0/2', 'a/b', '1/0', '1', '1/2/3', ''])('rejects %j', (text) => {
    const r = parseShard(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/^--shard: /);
  });
});

describe('parseIntFlag', () => {
  it('accepts integers in range and rejects the rest', () => {
    expect(parseIntFlag('runs', '10', 1, 100)).toEqual({ ok: true, value: 10 });
    expect(parseIntFlag('runs', '0', 1, 100).ok).toBe(false);
    expect(parseIntFlag('runs', '1e3', 1, 100).ok).toBe(false);
    expect(parseIntFlag('runs', '101', 1, 100).ok).toBe(false);
  });
});

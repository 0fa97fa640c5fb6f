// The outcome oracle on swsusp images altered at rest (issue 10 point 3; spec/protocol/corrupt.ts): each flip whose
// effect the loader rules fix is predicted, the model's resume is one of the predicted outcomes, and the flips the
// rules leave open stay '*'.
import { describe, expect, it } from 'vitest';
import { runAndJudge } from '../../impl/index.ts';
import { type HibernateRecord, MAP_NEXT_BIT, parseScenario, type ScenarioInput } from '../../spec/index.ts';
import { predictCorruptSwsusp } from '../../spec/protocol/corrupt.ts';
import { W } from '../__fixtures__/plants.ts';

type Flip = { region: 'data' | 'header' | 'map' | 'meta'; index: number; bit: number };

function flipped(kernel: '6.1' | '6.12', compression: 'none' | 'lzo', flip: Flip, big = false) {
  // big: three map pages from offset 511, the first at slot 512 linking to 1024 (one bit away from 0)
  const input: ScenarioInput = {
    version: 1,
    id: 'corrupt-oracle',
    seed: 42,
    machine: { memPages: big ? 4096 : 2048 },
    workload: { ...W, anon: big ? 1300 : W.anon },
    protocol: { kind: 'swsusp', kernel, compression },
    storage: big ? { pages: 4096, offset: 511 } : { pages: 2048 },
    steps: [{ op: 'hibernate' }, { op: 'corrupt', ...flip }, { op: 'resume' }],
  };
  const p = parseScenario(input);
  if (!p.ok) throw new Error(p.error);
  const r = runAndJudge(p.scenario);
  if (!r.ok) throw new Error(r.error);
  const h = r.trace.records[0] as HibernateRecord;
  const st = p.scenario.steps[1];
  if (st?.op !== 'corrupt') throw new Error('no corrupt step');
  const allowed = predictCorruptSwsusp(h.storageAfter, p.scenario.storage.offset, st, {
    memPages: p.scenario.machine.memPages,
    zeroElision: kernel === '6.12',
  });
  return { allowed, resume: r.trace.records[2]?.outcome, violations: r.violations };
}

describe('the oracle of an image altered at rest', () => {
  const cases: [string, '6.1' | '6.12', 'none' | 'lzo', Flip, unknown][] = [
    ['a PFN past the last frame', '6.1', 'none', { region: 'meta', index: 8, bit: 20 }, 'pfnInvalid'],
    ['a PFN renamed to a listed one', '6.1', 'none', { region: 'meta', index: 8, bit: 0 }, 'EFAULT'],
    ['a data entry flagged zero (6.12)', '6.12', 'none', { region: 'meta', index: 8, bit: 31 }, 'EFAULT'],
    ['num_physpages', '6.1', 'none', { region: 'header', index: 0, bit: 3 }, 'memorySizeMismatch'],
    ['the e820 digest', '6.12', 'lzo', { region: 'header', index: 4, bit: 3 }, 'memoryMapMismatch'],
    ['a data page under the CRC', '6.1', 'lzo', { region: 'data', index: 5, bit: 7 }, 'crcMismatch'],
    ['a swap map entry past the device', '6.1', 'none', { region: 'map', index: 8, bit: 20 }, 'refused'],
  ];
  // next_swap: the first map page (slot 1) links to 513; bit 9 turns that back to itself, bit 40 past the device
  cases.push([
    'a map page linked back into the chain',
    '6.1',
    'none',
    { region: 'map', index: 0, bit: MAP_NEXT_BIT + 9 },
    'ENOMEM',
  ]);
  cases.push([
    'a map link past the device',
    '6.12',
    'none',
    { region: 'map', index: 0, bit: MAP_NEXT_BIT + 40 },
    'EIO',
  ]);
  for (const [what, kernel, compression, flip, expected] of cases) {
    it(`predicts the refusal of ${what}, and the model's resume is that refusal`, () => {
      // Act
      const r = flipped(kernel, compression, flip);
      // Assert
      expect(r.allowed).not.toBe('*');
      expect(JSON.stringify(r.allowed)).toContain(String(expected));
      expect(r.resume).toMatchObject({ op: 'resume', result: 'refused' });
      expect(r.violations).toEqual([]);
    });
  }

  it('leaves open what the rules do not fix: a flip into a hole, a data page or map entry without a CRC', () => {
    // entry 0 is the lowest saveable PFN (1, above the BIOS page): bit 0 names frame 0, a hole
    expect(flipped('6.1', 'none', { region: 'meta', index: 0, bit: 0 }).allowed).toBe('*');
    expect(flipped('6.1', 'none', { region: 'data', index: 5, bit: 7 }).allowed).toBe('*');
    expect(flipped('6.1', 'none', { region: 'map', index: 3, bit: 2 }).allowed).toBe('*');
  });

  it('allows a map entry renamed to another slot under the CRC to be refused, or to resume intact', () => {
    const r = flipped('6.12', 'lzo', { region: 'map', index: 3, bit: 2 });
    expect(r.allowed).toEqual([
      { op: 'resume', result: 'refused' },
      { op: 'resume', result: 'resumed', pagesCorrupt: 0 },
    ]);
    expect(r.violations).toEqual([]);
  });

  it('refuses a chain cut short by a map link flipped to 0, and allows a link to another slot under the CRC', () => {
    // Act: the first map page links to 1024; bit 10 cuts the chain after 511 of about 1 400 stream pages
    const cut = flipped('6.1', 'none', { region: 'map', index: 0, bit: MAP_NEXT_BIT + 10 }, true);
    const other = flipped('6.1', 'lzo', { region: 'map', index: 0, bit: MAP_NEXT_BIT + 3 }, true);
    // Assert
    expect(cut.allowed).toEqual([{ op: 'resume', result: 'refused', errno: 'EINVAL' }]);
    expect(cut.resume).toMatchObject({ op: 'resume', result: 'refused', errno: 'EINVAL' });
    expect(other.allowed).toEqual([
      { op: 'resume', result: 'refused' },
      { op: 'resume', result: 'resumed', pagesCorrupt: 0 },
    ]);
    expect([cut.violations, other.violations]).toEqual([[], []]);
  });
});

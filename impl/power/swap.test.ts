// swap.c writer and reader as the model implements them: map rollover, signature order, cycles, signature reset.
import { describe, expect, it } from 'vitest';
import { initialDevice, parseScenario, SIG } from '../../spec/index.ts';
import { bioFor } from './block-dev.ts';
import { MAP_PAGE_ENTRIES } from './power.ts';
import { getSwapReader, getSwapWriter, swapWritePage, swapWriterFinish, swsuspCheck } from './swap.ts';

const dev = (pages: number) => {
  const r = parseScenario({
    version: 1,
    id: 't',
    machine: { memPages: 64 },
    protocol: { kind: 'swsusp' },
    storage: { pages },
    steps: [{ op: 'hibernate' }],
  });
  if (!r.ok) throw new Error(r.error);
  return initialDevice(r.scenario);
};

const write = (n: number, d = dev(2048), faults = {}) => {
  const bio = bioFor(d, faults);
  const h = getSwapWriter(bio, 0);
  if (!h.ok) throw new Error(h.errno);
  let r: { ok: boolean } = { ok: true };
  for (let i = 0; i < n && r.ok; i++) r = swapWritePage(h.value, (x, at) => x.tok.set([i + 1], at));
  const fin = swapWriterFinish(h.value, { sig: SIG.S1SUSPEND, flags: 0, crc32: 0, epoch: 1 }, r as never);
  return { d, bio, fin };
};

describe('swap map writer', () => {
  it('chains a new map page every 511 entries and reads them back in order', () => {
    const { d, fin } = write(MAP_PAGE_ENTRIES + 10);
    expect(fin.ok).toBe(true);
    const header = d.header.get(0);
    if (!header) throw new Error('no header');
    const r = getSwapReader(d, header);
    expect(r.ok && r.value.length).toBe(MAP_PAGE_ENTRIES + 10);
    expect(d.maps.size).toBe(2);
  });
  it('signs the header before flushing the last map page (fef9c8d28e28)', () => {
    // A power loss after all data and the signature, before the last map flush, leaves a signed header.
    const n = 5;
    const { d, bio } = write(n, dev(64), { powerLossAfterWrite: n + 1 });
    expect(bio.powerLost).toBe(true);
    expect(d.header.get(0)?.sig).toBe(SIG.S1SUSPEND);
    expect(d.maps.size).toBe(0);
  });
  it('reports ENOSPC when slots run out', () => {
    expect(write(100, dev(16)).fin).toEqual({ ok: false, errno: 'ENOSPC' });
  });
  it('refuses a map chain with a cycle', () => {
    const { d } = write(3);
    const header = d.header.get(0);
    if (!header) throw new Error('no header');
    const first = d.maps.get(header.image);
    if (!first) throw new Error('no map');
    first.next = header.image;
    // get_swap_reader() has no cycle check: it allocates a page per link until that fails
    expect(getSwapReader(d, header)).toEqual({ ok: false, errno: 'ENOMEM' });
  });

  it('refuses a map link past the device with the failed read, and one to a slot that is no map page', () => {
    const { d } = write(3);
    const header = d.header.get(0);
    const first = header === undefined ? undefined : d.maps.get(header.image);
    if (!header || !first) throw new Error('no map');
    first.next = d.nr;
    expect(getSwapReader(d, header)).toEqual({ ok: false, errno: 'EIO' });
    first.next = first.entries[0] as number; // a data page
    expect(getSwapReader(d, header)).toEqual({ ok: false, errno: 'EFAULT' });
  });
});

describe('swsusp_check', () => {
  it('resets the signature before anything is loaded, so a second check finds nothing', () => {
    const { d } = write(3);
    expect(swsuspCheck(d, 0, SIG.S1SUSPEND).ok).toBe(true);
    expect(d.header.get(0)?.sig).toBe(SIG.SWAPSPACE2);
    expect(swsuspCheck(d, 0, SIG.S1SUSPEND)).toEqual({ ok: false, errno: 'ENODATA' });
  });
});

// A map page holds MAP_PAGE_ENTRIES (511) entries; swap_write_page() allocates and chains the next one as soon as
// one fills, so the last map page written by flush_swap_writer() may be empty: map pages = floor(n / 511) + 1.
describe('swap map pages at a map page boundary', () => {
  for (const k of [1, 2]) {
    for (const n of [511 * k - 1, 511 * k, 511 * k + 1]) {
      const maps = Math.floor(n / 511) + 1;
      it(`${n} stream pages take ${maps} map pages and ${n + maps + 1} writes, and read back whole`, () => {
        const { d, bio, fin } = write(n, dev(2048));
        expect(fin.ok).toBe(true);
        expect(d.maps.size).toBe(maps);
        expect(bio.writes).toBe(n + maps + 1);
        const header = d.header.get(0);
        if (!header) throw new Error('no header');
        const r = getSwapReader(d, header);
        expect(r.ok && r.value.length).toBe(n);
      });
    }
  }
  it('slots: header + n stream pages + map pages fit exactly; one slot less is ENOSPC', () => {
    const n = 511;
    const need = 1 + n + 2; // header, stream, two map pages (the second empty)
    expect(write(n, dev(need)).fin.ok).toBe(true);
    expect(write(n, dev(need - 1)).fin).toEqual({ ok: false, errno: 'ENOSPC' });
    expect(write(n, dev(need + 1)).fin.ok).toBe(true);
  });
});

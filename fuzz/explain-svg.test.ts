// The SVG of `explain` by its geometry: marks in the column of their PFN, every text inside the canvas, minority
// owners drawn on a 131 072-frame machine, the axis, the insets, the loading band and its relocations.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PLANTS } from '../properties/__fixtures__/plants.ts';
import { OWNER } from '../spec/index.ts';
import { columnStack, memoryMap, pfnTicks, STRIP, violationPfns } from './explain-map.ts';
import { CHAR_W, renderSvg } from './explain-svg.ts';
import { plantRun, runOf } from './testdata/explain-runs.ts';

/** `<tag a="1" b="x"/>` elements of the SVG text with their attributes. */
const elements = (svg: string, tag: string): Record<string, string>[] =>
  [...svg.matchAll(new RegExp(`<${tag} ([^>]*?)/?>`, 'g'))].map((m) =>
    Object.fromEntries([...(m[1] ?? '').matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]])),
  );

describe('violationPfns', () => {
  it('reads "PFN n" and "frame n", not storage pages', () => {
    expect(violationPfns({ message: '1 saved pages differ after resume, first PFN 39' })).toEqual([39]);
    expect(violationPfns({ message: 'save kernel wrote frame 2048 outside [2016, 2048)' })).toEqual([2048]);
    expect(
      violationPfns({
        message: 'header signed but the image is incomplete (mapBroken: page 513 is not a swap map page)',
      }),
    ).toEqual([]);
  });

  it('every violation of every planted bug is marked at its frame or listed as not at a frame', () => {
    for (const p of PLANTS) {
      const run = runOf(p.witness, p.parts);
      const map = memoryMap(run);
      for (const v of run.violations) {
        const named = /\b(PFN|frame) \d+/.test(v.message);
        const placed = map.marks.filter((m) => m.message === v.message && m.invariant === v.invariant);
        const unplaced = map.unplaced.filter((m) => m.message === v.message && m.invariant === v.invariant);
        expect(named ? placed.length : unplaced.length, `${p.name}: ${v.message}`).toBeGreaterThan(0);
      }
    }
  });
});

describe('columnStack and pfnTicks', () => {
  it('gives every present owner at least minPx and fills the band', () => {
    const owner = new Uint8Array(128).fill(OWNER.FREE);
    owner[5] = OWNER.ORIG;
    const h = columnStack(owner, 0, 128, 8, 28, 2);
    expect(h.reduce((a, b) => a + b, 0)).toBe(28);
    expect(h[OWNER.ORIG]).toBeGreaterThanOrEqual(2);
    expect(h[OWNER.FREE]).toBeGreaterThan(20);
    expect(h.filter((x) => x > 0)).toHaveLength(2);
  });

  it('ticks are round numbers inside the range', () => {
    expect(pfnTicks(0, 2048, 10)).toEqual([0, 500, 1000, 1500, 2000]);
    expect(pfnTicks(30, 49, 10)).toEqual([30, 32, 34, 36, 38, 40, 42, 44, 46, 48]);
    expect(pfnTicks(7, 70, 8)).toEqual([10, 20, 30, 40, 50, 60, 70]);
  });
});

describe('renderSvg', () => {
  it('marks the violating PFN in its column, on the map and in the inset (restore-skips-last-pbe: PFN 39)', () => {
    const { svg, layout } = renderSvg(memoryMap(plantRun('restore-skips-last-pbe')));
    const colLeft = layout.plotX + Math.floor(39 / layout.per) * layout.colW;
    const m = layout.marks.find((x) => x.pfn === 39);
    expect(m?.x).toBeGreaterThanOrEqual(colLeft);
    expect(m?.x).toBeLessThanOrEqual(colLeft + layout.colW);
    const line = elements(svg, 'line').find((e) => e.class === 'mark-line');
    expect(Number(line?.x1)).toBe(m?.x);
    const inset = layout.insets.find((i) => i.lo <= 39 && 39 < i.hi);
    expect(inset).toBeDefined();
    const im = elements(svg, 'line').find((e) => e.class === 'inset-mark' && e['data-pfn'] === '39');
    const cell = layout.plotX + (39 - (inset?.lo ?? 0)) * (inset?.cellW ?? 0);
    expect(Number(im?.x1)).toBeGreaterThan(cell);
    expect(Number(im?.x1)).toBeLessThan(cell + (inset?.cellW ?? 0));
    // the inset's own axis: each tick in the middle of its frame's cell
    const ticks = elements(svg, 'line').filter((e) => e.class === 'inset-tick');
    expect(ticks.length).toBeGreaterThan(2);
    for (const t of ticks) {
      const left = layout.plotX + (Number(t['data-pfn']) - (inset?.lo ?? 0)) * (inset?.cellW ?? 0);
      expect(Number(t.x1)).toBe(left + (inset?.cellW ?? 0) / 2);
    }
  });

  it('marks a frame past the last one (a save kernel write outside the machine) beyond the plot, a clobber at PFN 1', () => {
    const map = memoryMap(plantRun('save-kernel-overruns-region'));
    const message = `save kernel wrote frame ${map.nr} outside [${map.nr - 32}, ${map.nr})`;
    const past = {
      pfn: violationPfns({ message })[0] ?? -1,
      invariant: 'SaveKernelStaysInItsBox',
      message,
      predicted: false,
    };
    const box = renderSvg({ ...map, marks: [past] });
    const m = box.layout.marks.find((x) => x.pfn === map.nr);
    expect(m?.x).toBeGreaterThan(box.layout.plotX + box.layout.plotW);
    expect(box.layout.texts.some((t) => t.text === 'past the last frame')).toBe(true);
    expect(box.layout.texts.some((t) => t.text.includes(`PFN ${map.nr} (past the last frame)`))).toBe(true);
    expect(elements(box.svg, 'rect').some((e) => e.class === 'region')).toBe(true);
    const clobber = renderSvg(memoryMap(plantRun('safe-page-ignores-unsafe')));
    // the lowest RAM frame (PFN 1: PFN 0 is the BIOS page) sits in the first column, not before the plot
    expect(clobber.layout.marks.find((x) => x.pfn === 1)?.x).toBe(clobber.layout.plotX + clobber.layout.colW / 2);
  });

  it('sizes the canvas to its text: title, captions and the whole legend lie inside it', () => {
    for (const name of ['restore-skips-last-pbe', 'save-kernel-overruns-region', 'check-keeps-signature']) {
      const { layout } = renderSvg(memoryMap(plantRun(name)));
      for (const t of layout.texts) {
        expect(t.x + t.text.length * CHAR_W, `${name}: ${t.text}`).toBeLessThanOrEqual(layout.width);
        expect(t.y).toBeLessThanOrEqual(layout.height);
      }
      const last = layout.legend.at(-1);
      expect(last?.text).toBe('violation as predicted');
      expect((last?.x ?? 0) + (last?.text.length ?? 0) * CHAR_W).toBeLessThanOrEqual(layout.width);
      expect((last?.y ?? 0) + 4).toBeLessThanOrEqual(layout.height);
    }
  });

  it('draws a PFN axis with round ticks at their columns', () => {
    const { svg, layout } = renderSvg(memoryMap(plantRun('restore-skips-last-pbe')));
    expect(layout.ticks.map((t) => t.pfn)).toEqual([0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000]);
    for (const t of layout.ticks) expect(t.x).toBe(layout.plotX + Math.floor(t.pfn / layout.per) * layout.colW);
    for (const t of layout.ticks) expect(svg).toContain(`>${t.pfn}</text>`);
  });

  it('shows the loading step: safe frames in the loading band and a line per relocation', () => {
    const run = plantRun('restore-skips-last-pbe');
    const map = memoryMap(run);
    const load = map.bands.findIndex((b) => b.label.includes('loading'));
    expect(load).toBeGreaterThan(0);
    expect(map.bands[load]?.owner.includes(OWNER.SAFE)).toBe(true);
    const rel = map.relocations[0];
    expect(rel?.from).toBe(load);
    const { svg } = renderSvg(map);
    expect(elements(svg, 'line').filter((e) => e.class === 'reloc')).toHaveLength(Math.min(200, rel?.src.length ?? -1));
    expect(elements(svg, 'rect').some((e) => e['data-owner'] === 'SAFE')).toBe(true);
  });

  it('takes "written" from the raw memory snapshots: the save kernel writing outside its region, the loader', () => {
    const run = plantRun('save-kernel-scratch-outside');
    const map = memoryMap(run);
    const mark = map.marks.find((m) => m.invariant === 'SaveKernelStaysInItsBox');
    expect(mark).toBeDefined();
    const defined = map.bands.find((b) => b.label.endsWith('image defined'));
    expect(defined?.strip?.[mark?.pfn ?? -1]).toBe(STRIP.WRITTEN);
    const h = run.trace.records.find((r) => r.kind === 'hibernate');
    if (h?.kind !== 'hibernate' || h.atJump === undefined || h.atSaveKernelEnd === undefined)
      throw new Error('no snapshots');
    for (let p = 0; p < map.nr; p++) {
      expect(defined?.strip?.[p] === STRIP.WRITTEN).toBe(h.atJump[p] !== h.atSaveKernelEnd[p]);
    }
    const pbe = memoryMap(plantRun('restore-skips-last-pbe'));
    const load = pbe.bands.find((b) => b.label.includes('loading'));
    expect(load?.strip?.includes(STRIP.WRITTEN)).toBe(true);
    expect(load?.content).toBeDefined();
  });

  it('keeps the original kernel visible on a 131 072-frame machine: every column holding ORIG frames draws ORIG', () => {
    const input = JSON.parse(readFileSync(new URL('../vm/scenarios/clean-cycle.json', import.meta.url), 'utf8'));
    const run = runOf(input);
    const map = memoryMap(run);
    const { svg, layout } = renderSvg(map);
    expect(map.nr).toBe(131072);
    const owner = map.bands[0]?.owner as Uint8Array;
    let expected = 0;
    for (let c = 0; c * layout.per < map.nr; c++) {
      if (owner.subarray(c * layout.per, (c + 1) * layout.per).includes(OWNER.ORIG)) expected += layout.colW;
    }
    expect(expected).toBeGreaterThan(0);
    const y0 = layout.bandY[0] as number;
    const drawn = elements(svg, 'rect')
      .filter((e) => e['data-owner'] === 'ORIG' && Number(e.y) >= y0 && Number(e.y) < y0 + 28)
      .reduce((a, e) => a + Number(e.width), 0);
    expect(drawn).toBe(expected);
  });
});

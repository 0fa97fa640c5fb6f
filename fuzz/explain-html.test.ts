// `explain --html` and `--svg` in a real browser: Debian's chromium driven by playwright-core. The page is opened
// from a file and must fetch nothing; the violation mark sits at the violating PFN (against the page's own axis
// after zooming, and by hovering it: the tooltip names that PFN and its owner); the SVG's texts (title, legend) lie
// inside its canvas as the browser lays them out. The screenshot (docs/explain-html.png, also the README's picture)
// is compared with the committed PNG by a pixel diff done in the browser (canvas getImageData): at most 1% of the
// pixels may differ by more than 48 in a channel. HIBFUZZ_UPDATE_SCREENSHOTS=1 writes it anew.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plantByName } from '../properties/__fixtures__/plants.ts';
import { OWNER, parseScenario } from '../spec/index.ts';
import { explainHtml, writeExplainPage } from './explain-html.ts';
import { KIND_NAMES, OWNER_NAMES } from './explain-map.ts';
import { memorySvg } from './explain-svg.ts';
import { plantRun, runOf } from './testdata/explain-runs.ts';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = new URL('../docs/explain-html.png', import.meta.url);
const VIEWPORT = { width: 1400, height: 820 };
const MAX_DIFF_SHARE = 0.01;
const have = existsSync(CHROMIUM);

// In-browser code as JavaScript text (the project's TypeScript has no DOM types).
/** Every <text>'s box as chromium lays it out, the canvas size, the x of the mark at PFN 39. */
const SVG_TEXTS = `(() => {
  const svg = document.documentElement;
  const texts = [...svg.querySelectorAll('text')].map((t) => {
    const b = t.getBBox();
    return { text: t.textContent, right: b.x + b.width, bottom: b.y + b.height };
  });
  const line = svg.querySelector('g.mark[data-pfn="39"] line');
  return { width: svg.width.baseVal.value, height: svg.height.baseVal.value, texts, x: Number(line.getAttribute('x1')) };
})()`;
/** Width of the first band's ORIG rects, and the width of the columns whose frames include an ORIG one. */
const BAND0_ORIG = `(() => {
  const g = geometry(view.lo, view.hi);
  let expected = 0;
  for (let c = 0; c < g.cols; c++) {
    const hi = g.start(c + 1);
    for (let p = g.start(c); p < hi; p++) if (bands[0].owner[p] === 1) { expected += g.colW; break; }
  }
  let drawn = 0;
  for (const r of document.querySelectorAll('#map rect'))
    if (r.getAttribute('fill') === D.ownerColours[1] && Number(r.getAttribute('y')) >= bandY[0] && Number(r.getAttribute('y')) < bandY[0] + 28)
      drawn += Number(r.getAttribute('width'));
  return { drawn, expected };
})()`;
/** The share of pixels of two PNGs (base64) that differ by more than 48 in a channel; 1 when the sizes differ. */
const PIXEL_DIFF = `async (a, b) => {
  const load = async (s) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + s;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    return ctx.getImageData(0, 0, img.width, img.height);
  };
  const x = await load(a), y = await load(b);
  if (x.width !== y.width || x.height !== y.height) return 1;
  let bad = 0;
  for (let i = 0; i < x.data.length; i += 4)
    if (Math.abs(x.data[i] - y.data[i]) > 48 || Math.abs(x.data[i + 1] - y.data[i + 1]) > 48 || Math.abs(x.data[i + 2] - y.data[i + 2]) > 48) bad++;
  return bad / (x.width * x.height);
}`;

describe('writeExplainPage (the gate writes it next to a reproducer)', () => {
  it('writes explain.html for a scenario the model runs, nothing for one it cannot set up', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-page-'));
    const p = plantByName('restore-skips-last-pbe');
    const s = parseScenario(p?.witness);
    if (!s.ok) throw new Error(s.error);
    const file = writeExplainPage(dir, s.scenario);
    expect(file).toBe(join(dir, 'explain.html'));
    const html = readFileSync(file as string, 'utf8');
    expect(html).toContain('<pre id="story">');
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/);
    const huge = { ...s.scenario, workload: { ...s.scenario.workload, anon: 1 << 20 } };
    expect(writeExplainPage(mkdtempSync(join(tmpdir(), 'hibfuzz-page-')), huge)).toBeUndefined();
  });
});

describe.skipIf(!have)(
  `explain pictures in chromium${have ? '' : ` (skipped: ${CHROMIUM} is absent; vm/setup.sh installs it)`}`,
  () => {
    let browser: Browser;
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-html-'));
    const run = plantRun('restore-skips-last-pbe');
    const pfn = 39;
    const page = async (file: string): Promise<{ p: Page; requests: string[]; errors: string[] }> => {
      const p = await browser.newPage({ viewport: VIEWPORT });
      const requests: string[] = [];
      const errors: string[] = [];
      p.on('request', (r) => requests.push(r.url()));
      p.on('pageerror', (e) => errors.push(String(e)));
      p.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      await p.goto(pathToFileURL(file).href);
      return { p, requests, errors };
    };

    beforeAll(async () => {
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    });
    afterAll(async () => {
      await browser?.close();
    });

    it('the page fetches nothing, the mark sits at the violating PFN against the axis, hover names PFN and owner', async () => {
      const file = join(dir, 'pbe.html');
      writeFileSync(file, explainHtml(run));
      const { p, requests, errors } = await page(file);
      expect(requests).toEqual([pathToFileURL(file).href]);
      expect(errors).toEqual([]);
      expect(await p.locator('#story').textContent()).toContain('VIOLATED ResumeRestoresIdenticalMemory');
      // Zoom with the two inputs to PFN 30..49: round ticks inside the range at a constant step, each label its PFN;
      // the mark's x is where the axis puts PFN 39 (between the ticks around it, in proportion).
      await p.fill('#from', '30');
      await p.fill('#to', '49');
      await p.click('#zoom');
      expect(await p.locator('#viewinfo').textContent()).toMatch(/^PFN 30\.\.49: 20 frames/);
      const ticks = await p.$$eval('line.tick', (ls) =>
        ls.map((l) => [Number(l.dataset.pfn), Number(l.getAttribute('x1'))] as const),
      );
      expect(ticks.length).toBeGreaterThanOrEqual(3);
      const step = (ticks[1]?.[0] ?? 0) - (ticks[0]?.[0] ?? 0);
      expect([1, 2, 5, 10]).toContain(step);
      for (const [i, t] of ticks.entries()) {
        expect(t[0]).toBeGreaterThanOrEqual(30);
        expect(t[0]).toBeLessThanOrEqual(49);
        expect(t[0] % step).toBe(0);
        if (i > 0) expect(t[0] - (ticks[i - 1]?.[0] ?? 0)).toBe(step);
      }
      const labels = await p.$$eval('text.tick-label', (ts) => ts.map((t) => t.textContent));
      expect(labels).toEqual(ticks.map((t) => String(t[0])));
      /** x of frame n by the axis: linear between the ticks (the view's columns are all one width). */
      const x = (n: number) => {
        const [a, b] = [ticks[0], ticks.at(-1)];
        if (a === undefined || b === undefined) return Number.NaN;
        return a[1] + ((n - a[0]) * (b[1] - a[1])) / (b[0] - a[0]);
      };
      const mark = p.locator(`g.mark[data-pfn="${pfn}"]`);
      const markX = Number(await mark.getAttribute('data-x'));
      expect(Math.abs(markX - x(pfn))).toBeLessThan(0.5);
      // The mark's box on screen is centred at that x, and hovering it names the PFN, invariant and owners.
      const box = await mark.boundingBox();
      const svgBox = await p.locator('#map').boundingBox();
      if (box === null || svgBox === null) throw new Error('mark or map not laid out');
      expect(Math.abs(box.x + box.width / 2 - (svgBox.x + markX))).toBeLessThan(1);
      await p.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      const tip = (await p.locator('#tip').textContent()) ?? '';
      const owner = OWNER_NAMES[run.trace.initial.owner[pfn] as number];
      expect(tip).toContain(`PFN ${pfn}`);
      expect(tip).toContain('ResumeRestoresIdenticalMemory');
      expect(tip).toContain(`initial: ${owner}`);
      // A plain frame: hover PFN 45 (no mark there); the tooltip gives its owner in the first band.
      await p.mouse.move(svgBox.x + x(45), box.y + 40);
      const tip45 = (await p.locator('#tip').textContent()) ?? '';
      expect(tip45.split('\n')[0]).toBe('PFN 45');
      expect(tip45).toContain(`initial: ${OWNER_NAMES[run.trace.initial.owner[45] as number]}`);
      // The wheel zooms in around the pointer; "whole machine" goes back.
      await p.click('#reset');
      expect(await p.locator('#viewinfo').textContent()).toMatch(/^PFN 0\.\.2047: 2048 frames/);
      await p.mouse.move(svgBox.x + markX, box.y + 40);
      await p.mouse.wheel(0, -300);
      const zoomed = (await p.locator('#viewinfo').textContent()) ?? '';
      expect(Number(/: (\d+) frames/.exec(zoomed)?.[1])).toBeLessThan(2048);
      await p.close();
    });

    it('a 131 072-frame page: the original kernel drawn in every column holding its frames, tokens on hover', async () => {
      const big = runOf(JSON.parse(readFileSync(new URL('../vm/scenarios/clean-cycle.json', import.meta.url), 'utf8')));
      const file = join(dir, 'big.html');
      writeFileSync(file, explainHtml(big));
      const { p, errors } = await page(file);
      expect(errors).toEqual([]);
      // Columns of the first band that draw ORIG, against the columns of the page's own geometry holding ORIG frames.
      const r = (await p.evaluate(BAND0_ORIG)) as { drawn: number; expected: number };
      expect(r.expected).toBeGreaterThan(0);
      expect(r.drawn).toBeCloseTo(r.expected, 0);
      const svgBox = await p.locator('#map').boundingBox();
      if (svgBox === null) throw new Error('map not laid out');
      const pfnOrig = big.trace.initial.owner.indexOf(OWNER.ORIG);
      await p.fill('#from', String(pfnOrig));
      await p.fill('#to', String(pfnOrig + 99));
      await p.click('#zoom');
      const ticks = await p.$$eval('line.tick', (ls) =>
        ls.map((l) => [Number(l.dataset.pfn), Number(l.getAttribute('x1'))]),
      );
      const [a, b] = [ticks[0], ticks.at(-1)];
      if (a === undefined || b === undefined) throw new Error('no ticks');
      const x = (a[1] ?? 0) + ((pfnOrig - (a[0] ?? 0)) * ((b[1] ?? 0) - (a[1] ?? 0))) / ((b[0] ?? 0) - (a[0] ?? 1));
      await p.mouse.move(svgBox.x + x, svgBox.y + 40);
      const tip = (await p.locator('#tip').textContent()) ?? '';
      const token = (big.trace.initial.content[pfnOrig] as number).toString(16).padStart(8, '0');
      expect(tip.split('\n')[0]).toBe(`PFN ${pfnOrig}`);
      expect(tip).toContain(`initial: ORIG ${KIND_NAMES[big.trace.initial.kind[pfnOrig] as number]} 0x${token}`);
      await p.close();
    });

    it('the SVG: every text (title, legend) inside the canvas as laid out, the mark in the column of its PFN', async () => {
      const file = join(dir, 'pbe.svg');
      writeFileSync(file, memorySvg(run));
      const { p, errors } = await page(file);
      expect(errors).toEqual([]);
      const r = (await p.evaluate(SVG_TEXTS)) as {
        width: number;
        height: number;
        texts: { text: string; right: number; bottom: number }[];
        x: number;
      };
      for (const t of r.texts) {
        expect(t.right, String(t.text)).toBeLessThanOrEqual(r.width);
        expect(t.bottom, String(t.text)).toBeLessThanOrEqual(r.height);
      }
      expect(r.texts.at(-1)?.text).toBe('violation as predicted');
      expect(r.x).toBeGreaterThan(0);
      await p.close();
    });

    it('looks like the committed screenshot (docs/explain-html.png, pixel diff)', async () => {
      const file = join(dir, 'shot.html');
      writeFileSync(file, explainHtml(run));
      const { p } = await page(file);
      // The violation's button zooms to the 64 frames around it; then hover the mark (the tooltip is in the picture).
      await p.click(`#violations button[data-pfn="${pfn}"]`);
      expect(await p.locator('#viewinfo').textContent()).toMatch(/^PFN 7\.\.70: 64 frames/);
      const box = await p.locator(`g.mark[data-pfn="${pfn}"]`).boundingBox();
      if (box !== null) await p.mouse.move(box.x + box.width / 2, box.y + 6);
      const png = await p.screenshot();
      if (process.env.HIBFUZZ_UPDATE_SCREENSHOTS === '1' || !existsSync(SCREENSHOT)) {
        writeFileSync(SCREENSHOT, png);
        if (process.env.HIBFUZZ_UPDATE_SCREENSHOTS !== '1') throw new Error(`wrote ${SCREENSHOT.pathname}: commit it`);
      }
      const want = readFileSync(SCREENSHOT);
      await p.close();
      // Compared in a blank page: the report's Content-Security-Policy allows no images, data: URLs included.
      const blank = await browser.newPage();
      const share = (await blank.evaluate(
        `(${PIXEL_DIFF})(${JSON.stringify(png.toString('base64'))}, ${JSON.stringify(want.toString('base64'))})`,
      )) as number;
      expect(share).toBeLessThanOrEqual(MAX_DIFF_SHARE);
      await blank.close();
    });
  },
);

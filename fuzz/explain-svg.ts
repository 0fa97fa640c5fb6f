// The SVG picture of `hibfuzz explain --svg`: physical memory per moment of the run, one column per frame range with
// every owner present in it stacked in proportion (at least 2 px each: a minority owner never vanishes on a big
// machine), a strip under a band where frames differ from what the invariants expect or where the save kernel
// wrote, the save kernel's region, the relocations through safe frames, a PFN axis, a mark at every PFN a violation
// names and an inset (one cell per frame) around each marked range. The canvas is sized to its text. Pure.
import type { ModelRun } from '../impl/index.ts';
import { OWNER } from '../spec/index.ts';
import {
  columnStack,
  MARK_COLOUR,
  type Mark,
  type MemoryMap,
  memoryMap,
  OWNER_COLOURS,
  OWNER_NAMES,
  PREDICTED_COLOUR,
  pfnTicks,
  STRIP,
  STRIP_COLOURS,
} from './explain-map.ts';
import { xmlEscape } from './junit.ts';

/** Width of one character of the 11 px monospace font, rounded up (DejaVu Sans Mono: 0.602 em = 6.6 px). */
export const CHAR_W = 7;
const FONT = 11;
const M = 8;
const PLOT_TARGET = 1024;
const BAND_H = 28;
const STRIP_H = 6;
const GAP = 10;
const RELOC_GAP = 34;
const MIN_PX = 2;
const INSET_FRAMES = 64;
const INSET_BAND_H = 12;
const MAX_INSETS = 6;
const MAX_RELOC_LINES = 200;

export interface SvgText {
  readonly x: number;
  readonly y: number;
  readonly text: string;
}

/** Where things landed: what the tests check (the SVG is drawn from exactly these numbers). */
export interface SvgLayout {
  readonly width: number;
  readonly height: number;
  readonly plotX: number;
  readonly plotW: number;
  /** frames per column, and each column's width in px */
  readonly per: number;
  readonly colW: number;
  readonly bandY: readonly number[];
  /** x of each mark's line (main map), by mark */
  readonly marks: readonly { readonly pfn: number; readonly x: number }[];
  readonly insets: readonly { readonly lo: number; readonly hi: number; readonly y: number; readonly cellW: number }[];
  readonly ticks: readonly { readonly pfn: number; readonly x: number }[];
  /** every text drawn, with its estimated width (CHAR_W per character) */
  readonly texts: readonly SvgText[];
  /** the legend's items in drawing order */
  readonly legend: readonly SvgText[];
}

/** Group marked PFNs into inset ranges of INSET_FRAMES frames (more when one group spans further). */
export function insetRanges(marks: readonly Mark[], nr: number): { lo: number; hi: number }[] {
  const pfns = [...new Set(marks.map((m) => Math.min(m.pfn, nr - 1)))].sort((a, b) => a - b);
  const groups: number[][] = [];
  for (const p of pfns) {
    const g = groups.at(-1);
    if (g !== undefined && p - (g[0] as number) < INSET_FRAMES - 8) g.push(p);
    else groups.push([p]);
  }
  return groups.map((g) => {
    const a = g[0] as number;
    const b = g.at(-1) as number;
    const w = Math.min(nr, INSET_FRAMES);
    const lo = Math.max(0, Math.min(nr - w, Math.floor((a + b) / 2) - w / 2));
    return { lo, hi: Math.min(nr, lo + w) };
  });
}

export function renderSvg(map: MemoryMap): { svg: string; layout: SvgLayout } {
  const nr = map.nr;
  const per = nr <= PLOT_TARGET ? 1 : Math.ceil(nr / PLOT_TARGET);
  const colW = nr <= PLOT_TARGET ? Math.max(1, Math.floor(PLOT_TARGET / nr)) : 1;
  const cols = Math.ceil(nr / per);
  const plotW = cols * colW;
  const labelW = Math.max(...map.bands.map((b) => b.label.length), 18) * CHAR_W + 12;
  const plotX = M + labelW;
  const xOf = (p: number) => plotX + Math.floor(p / per) * colW;
  const texts: SvgText[] = [];
  const o: string[] = [];
  const text = (x: number, y: number, s: string, attrs = '') => {
    texts.push({ x, y, text: s });
    o.push(`<text x="${x}" y="${y}"${attrs}>${xmlEscape(s)}</text>`);
  };
  text(M, 16, map.title);
  text(M, 30, `${per} frame(s) per column, ${colW} px each; owners stacked in proportion, at least ${MIN_PX} px each`);
  // Lanes above the bands: the save kernel's region, then the marks.
  const regionY = 40;
  const markY = map.regions.length > 0 ? 58 : 44;
  const top = markY + 14;
  const bandY: number[] = [];
  let y = top;
  for (let i = 0; i < map.bands.length; i++) {
    bandY.push(y);
    y += BAND_H + STRIP_H + (map.relocations.some((r) => r.from === i) ? RELOC_GAP : GAP);
  }
  const bandsBottom = y - GAP;
  for (const r of map.regions) {
    const x0 = xOf(r.start);
    const x1 = xOf(Math.max(r.start, r.end - 1)) + colW;
    o.push(
      `<rect class="region" x="${x0}" y="${regionY}" width="${Math.max(2, x1 - x0)}" height="4" fill="${OWNER_COLOURS[OWNER.SAVEK]}"/>`,
    );
    text(M, regionY + 6, `step ${r.step}: save kernel [${r.start}, ${r.end})`);
  }
  for (const [b, band] of map.bands.entries()) {
    const by = bandY[b] as number;
    text(M, by + BAND_H / 2 + 4, band.label);
    let prevKey = '';
    let runX = 0;
    let runH: number[] = [];
    const flushStack = (xEnd: number) => {
      let sy = by;
      for (const [k, h] of runH.entries()) {
        if (h <= 0) continue;
        o.push(
          `<rect x="${runX}" y="${sy}" width="${xEnd - runX}" height="${h}" fill="${OWNER_COLOURS[k]}" data-owner="${OWNER_NAMES[k]}"/>`,
        );
        sy += h;
      }
    };
    let stripCode = 0;
    let stripX = 0;
    const flushStrip = (xEnd: number) => {
      if (stripCode !== STRIP.NONE) {
        o.push(
          `<rect class="strip" x="${stripX}" y="${by + BAND_H + 1}" width="${xEnd - stripX}" height="${STRIP_H - 1}" fill="${STRIP_COLOURS[stripCode]}"/>`,
        );
      }
    };
    for (let c = 0; c <= cols; c++) {
      const x = plotX + c * colW;
      const lo = c * per;
      const hi = Math.min(nr, lo + per);
      const hs = c < cols ? columnStack(band.owner, lo, hi, OWNER_NAMES.length, BAND_H, MIN_PX) : [];
      const key = hs.join(',');
      if (key !== prevKey) {
        if (prevKey !== '') flushStack(x);
        prevKey = key;
        runX = x;
        runH = hs;
      }
      let code: number = STRIP.NONE;
      if (c < cols && band.strip !== undefined) {
        for (let p = lo; p < hi; p++) {
          const s = band.strip[p] as number;
          if (s === STRIP.DIFFERS) {
            code = s;
            break;
          }
          if (s !== STRIP.NONE) code = s;
        }
      }
      if (code !== stripCode) {
        flushStrip(x);
        stripCode = code;
        stripX = x;
      }
    }
  }
  for (const r of map.relocations) {
    const fromY = (bandY[r.from] as number) + BAND_H + STRIP_H;
    const toY = bandY[r.to] as number;
    const n = r.src.length;
    const stride = Math.max(1, Math.ceil(n / MAX_RELOC_LINES));
    const shown = Math.ceil(n / stride);
    for (let i = 0; i < n; i += stride) {
      const sx = xOf(r.src[i] as number) + colW / 2;
      const dx = xOf(r.dst[i] as number) + colW / 2;
      o.push(
        `<line class="reloc" x1="${sx}" y1="${fromY}" x2="${dx}" y2="${toY}" stroke="${OWNER_COLOURS[OWNER.SAFE]}" stroke-opacity="0.6"/>`,
      );
    }
    text(M, fromY + RELOC_GAP / 2 + 4, `${n} relocated${shown < n ? ` (${shown} drawn)` : ''}`);
  }
  const markX: { pfn: number; x: number }[] = [];
  const beyond = (m: Mark) => m.pfn >= nr;
  for (const m of map.marks) {
    const x = beyond(m) ? plotX + plotW + 6 : xOf(m.pfn) + colW / 2;
    markX.push({ pfn: m.pfn, x });
    const colour = m.predicted ? PREDICTED_COLOUR : MARK_COLOUR;
    o.push(
      `<g class="mark" data-pfn="${m.pfn}" data-invariant="${m.invariant}"><path d="M${x - 5},${markY} L${x + 5},${markY} L${x},${markY + 9} Z" fill="${colour}"/>` +
        `<line class="mark-line" x1="${x}" y1="${markY + 9}" x2="${x}" y2="${bandsBottom}" stroke="${colour}" stroke-dasharray="3,2"/></g>`,
    );
  }
  if (map.marks.some(beyond)) text(plotX + plotW + 14, markY + 8, 'past the last frame');
  // The PFN axis under the bands.
  const axisY = bandsBottom + 4;
  o.push(`<line x1="${plotX}" y1="${axisY}" x2="${plotX + plotW}" y2="${axisY}" stroke="#000"/>`);
  const ticks = pfnTicks(0, nr, Math.max(2, Math.floor(plotW / 90))).map((p) => ({
    pfn: p,
    x: p >= nr ? plotX + plotW : xOf(p),
  }));
  for (const t of ticks) {
    o.push(`<line class="tick" x1="${t.x}" y1="${axisY}" x2="${t.x}" y2="${axisY + 5}" stroke="#000"/>`);
    text(Math.max(plotX, t.x - (String(t.pfn).length * CHAR_W) / 2), axisY + 17, String(t.pfn));
  }
  text(M, axisY + 17, 'PFN');
  y = axisY + 46;
  // Insets: one cell per frame around each marked range (lettered under the axis).
  const ranges = insetRanges(map.marks, nr);
  const insets: SvgLayout['insets'][number][] = [];
  for (const [i, r] of ranges.slice(0, MAX_INSETS).entries()) {
    const letter = String.fromCharCode(65 + i);
    const x0 = xOf(r.lo);
    o.push(
      `<rect class="inset-range" x="${x0}" y="${top - 2}" width="${Math.max(3, xOf(r.hi - 1) + colW - x0)}" height="${bandsBottom - top + 4}" fill="none" stroke="#000" stroke-dasharray="1,2"/>`,
    );
    text(x0, axisY + 30, letter);
    const inMarks = map.marks.filter((m) => Math.min(m.pfn, nr - 1) >= r.lo && Math.min(m.pfn, nr - 1) < r.hi);
    text(M, y, `${letter}: PFN ${r.lo}..${r.hi - 1}, one cell per frame`);
    y += 14;
    for (const m of inMarks) {
      text(
        M + 14,
        y,
        `PFN ${m.pfn}${m.pfn >= nr ? ' (past the last frame)' : ''}: ${m.predicted ? '(as predicted) ' : ''}${m.invariant}: ${m.message}`,
      );
      y += 14;
    }
    const cellW = Math.max(1, Math.floor(plotW / (r.hi - r.lo)));
    insets.push({ ...r, y, cellW });
    const iy0 = y;
    for (const band of map.bands) {
      text(M, y + INSET_BAND_H - 2, band.label);
      for (let p = r.lo; p < r.hi; p++) {
        const cx = plotX + (p - r.lo) * cellW;
        o.push(
          `<rect x="${cx}" y="${y}" width="${cellW - (cellW > 3 ? 1 : 0)}" height="${INSET_BAND_H - 3}" fill="${OWNER_COLOURS[band.owner[p] as number]}"/>`,
        );
        const s = band.strip?.[p] ?? 0;
        if (s !== STRIP.NONE)
          o.push(
            `<rect x="${cx}" y="${y + INSET_BAND_H - 3}" width="${cellW}" height="2" fill="${STRIP_COLOURS[s]}"/>`,
          );
      }
      y += INSET_BAND_H;
    }
    for (const m of inMarks) {
      const cx = plotX + (Math.min(m.pfn, nr - 1) - r.lo) * cellW + cellW / 2;
      o.push(
        `<line class="inset-mark" data-pfn="${m.pfn}" x1="${cx}" y1="${iy0 - 3}" x2="${cx}" y2="${y}" stroke="${m.predicted ? PREDICTED_COLOUR : MARK_COLOUR}" stroke-width="2"/>`,
      );
    }
    for (const p of pfnTicks(r.lo, r.hi - 1, 8)) {
      const cx = plotX + (p - r.lo) * cellW + cellW / 2;
      o.push(`<line class="inset-tick" data-pfn="${p}" x1="${cx}" y1="${y}" x2="${cx}" y2="${y + 4}" stroke="#000"/>`);
      text(cx - (String(p).length * CHAR_W) / 2, y + 15, String(p));
    }
    y += 30;
  }
  if (ranges.length > MAX_INSETS) {
    text(M, y, `${ranges.length - MAX_INSETS} more marked ranges are not magnified`);
    y += 16;
  }
  for (const m of map.unplaced) {
    text(
      M,
      y,
      `not at a frame: ${m.predicted ? '(as predicted) ' : ''}${m.invariant}${m.step !== undefined ? ` (step ${m.step})` : ''}: ${m.message}`,
    );
    y += 14;
  }
  // The canvas: wide enough for the plot and for every text drawn so far; the legend wraps inside it.
  const textRight = (t: SvgText) => t.x + t.text.length * CHAR_W;
  const width = Math.ceil(Math.max(plotX + plotW + (map.marks.some(beyond) ? 0 : M), ...texts.map(textRight)) + M);
  const items: { label: string; draw: (x: number, y: number) => string }[] = [
    ...OWNER_NAMES.map((k, i) => ({ label: k, draw: box(OWNER_COLOURS[i] as string) })),
    { label: 'differs from expected', draw: box(STRIP_COLOURS[STRIP.DIFFERS] as string, 5) },
    { label: 'written while the save kernel / loader ran', draw: box(STRIP_COLOURS[STRIP.WRITTEN] as string, 5) },
    { label: 'violation at a PFN', draw: box(MARK_COLOUR) },
    { label: 'violation as predicted', draw: box(PREDICTED_COLOUR) },
  ];
  const legend: SvgText[] = [];
  let lx = M;
  y += 8;
  for (const it of items) {
    const w = 16 + it.label.length * CHAR_W + 14;
    if (lx + w > width - M && lx > M) {
      lx = M;
      y += 18;
    }
    o.push(it.draw(lx, y));
    const t = { x: lx + 16, y: y + 10, text: it.label };
    legend.push(t);
    text(t.x, t.y, t.text);
    lx += w;
  }
  const height = y + 24;
  const head = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="monospace" font-size="${FONT}" role="img">`,
    `<title>${xmlEscape(`Physical memory of ${map.title}`)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
  ];
  const layout: SvgLayout = {
    width,
    height,
    plotX,
    plotW,
    per,
    colW,
    bandY,
    marks: markX,
    insets,
    ticks,
    texts,
    legend,
  };
  return { svg: `${[...head, ...o, '</svg>'].join('\n')}\n`, layout };
}

const box =
  (fill: string, h = 12) =>
  (x: number, y: number): string =>
    `<rect x="${x}" y="${y + (12 - h) / 2}" width="12" height="${h}" fill="${fill}"/>`;

export const memorySvg = (run: ModelRun): string => renderSvg(memoryMap(run)).svg;

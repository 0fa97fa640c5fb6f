// `hibfuzz explain --html OUT`: one self-contained page (inline CSS, JS and data; nothing fetched) with the story
// beside an interactive memory map: zoom to any PFN range (the two inputs, the wheel, or a drag to pan), hover a
// frame for its owner, kind and token in every band, hover a violation mark for its PFN and invariant. The map's
// columns and axis ticks are computed in the page by the same functions the SVG uses (their source is embedded).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultParts, type ModelRun, runAndJudge } from '../impl/index.ts';
import type { Scenario } from '../spec/index.ts';
import { storyLines } from './explain.ts';
import {
  columnStack,
  KIND_NAMES,
  MARK_COLOUR,
  type MemoryMap,
  memoryMap,
  OWNER_COLOURS,
  OWNER_NAMES,
  PREDICTED_COLOUR,
  pfnTicks,
  STRIP_COLOURS,
} from './explain-map.ts';
import { xmlEscape } from './junit.ts';

/** Tokens are embedded while bands x frames stays under this (4 bytes each); above it hover shows owner and kind. */
export const MAX_EMBEDDED_TOKENS = 1 << 21;

const b64 = (a: Uint8Array | Uint32Array): string =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

/** The page's data: the map with its typed arrays as base64 (little-endian, as the page's typed arrays read them). */
function pageData(map: MemoryMap): unknown {
  const tokens = map.bands.length * map.nr <= MAX_EMBEDDED_TOKENS;
  return {
    title: map.title,
    nr: map.nr,
    tokens,
    bands: map.bands.map((b) => ({
      label: b.label,
      owner: b64(b.owner),
      kind: b.kind !== undefined ? b64(b.kind) : null,
      content: tokens && b.content !== undefined ? b64(b.content) : null,
      strip: b.strip !== undefined ? b64(b.strip) : null,
      stripLabel: b.stripLabel ?? null,
    })),
    relocations: map.relocations.map((r) => ({
      step: r.step,
      from: r.from,
      to: r.to,
      src: b64(r.src),
      dst: b64(r.dst),
    })),
    marks: map.marks,
    unplaced: map.unplaced,
    regions: map.regions,
    owners: OWNER_NAMES,
    kinds: KIND_NAMES,
    ownerColours: OWNER_COLOURS,
    stripColours: STRIP_COLOURS,
    markColour: MARK_COLOUR,
    predictedColour: PREDICTED_COLOUR,
  };
}

const CSS = `
body { margin: 0; font: 13px/1.35 sans-serif; color: #222; }
header { padding: 8px 12px; border-bottom: 1px solid #ccc; }
h1 { font-size: 15px; margin: 0; }
main { display: flex; gap: 12px; padding: 8px 12px; align-items: flex-start; }
#story { flex: 0 0 34%; max-height: calc(100vh - 70px); overflow: auto; margin: 0; font: 11px/1.35 monospace;
  white-space: pre-wrap; background: #f7f7f7; padding: 8px; border: 1px solid #ddd; }
#right { flex: 1 1 auto; min-width: 0; }
#controls { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-bottom: 6px; }
#controls input { width: 8em; }
#map { display: block; font: 11px monospace; user-select: none; cursor: crosshair; }
#tip { position: fixed; pointer-events: none; display: none; background: #fffff0; border: 1px solid #999;
  padding: 4px 6px; font: 11px/1.3 monospace; white-space: pre; z-index: 2; box-shadow: 1px 1px 3px #0003; }
#violations button { font: 11px monospace; margin: 1px 0; text-align: left; }
#legend span { display: inline-block; margin-right: 10px; }
#legend i { display: inline-block; width: 11px; height: 11px; margin-right: 3px; vertical-align: -1px; }
`;

/** The page's script: decode, draw the view [lo, hi), zoom, pan, hover. `columnStack`/`pfnTicks` come first. */
const SCRIPT = String.raw`
const D = JSON.parse(document.getElementById('data').textContent);
const NS = 'http://www.w3.org/2000/svg';
const dec = (s, T) => { if (s === null) return null; const b = atob(s); const u = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i++) u[i] = b.charCodeAt(i); return new T(u.buffer); };
const bands = D.bands.map((b) => ({ label: b.label, owner: dec(b.owner, Uint8Array), kind: dec(b.kind, Uint8Array),
  content: dec(b.content, Uint32Array), strip: dec(b.strip, Uint8Array), stripLabel: b.stripLabel }));
const relocs = D.relocations.map((r) => ({ from: r.from, to: r.to, src: dec(r.src, Uint32Array), dst: dec(r.dst, Uint32Array) }));
const svg = document.getElementById('map');
const tip = document.getElementById('tip');
const BAND_H = 28, STRIP_H = 6, GAP = 10, LABEL_W = 8 + 7 * Math.max(18, ...bands.map((b) => b.label.length)) + 8;
const TOP = 24 + (D.regions.length > 0 ? 14 : 0), RELOC_GAP = 34;
const bandY = [];
for (let i = 0, y = TOP; i < bands.length; i++) { bandY.push(y); y += BAND_H + STRIP_H + (relocs.some((r) => r.from === i) ? RELOC_GAP : GAP); }
let view = { lo: 0, hi: D.nr };
let geo = null;
function el(name, attrs, parent) { const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]); (parent || svg).appendChild(e); return e; }
function hex(n) { return '0x' + (n >>> 0).toString(16).padStart(8, '0'); }
/** Columns of the view: column c holds frames [start(c), start(c + 1)); frame p is in column colOf(p). */
function geometry(lo, hi) {
  const plotW = Math.max(200, Math.floor(svg.parentNode.clientWidth) - LABEL_W - 16);
  const span = hi - lo, cols = Math.min(plotW, span), colW = plotW / cols;
  const start = (c) => lo + Math.ceil((c * span) / cols);
  const colOf = (p) => Math.floor(((p - lo) * cols) / span);
  const xOf = (p) => LABEL_W + colOf(p) * colW + colW / 2;
  return { lo, hi, span, cols, colW, plotW, start, colOf, xOf };
}
function draw() {
  const g = (geo = geometry(view.lo, view.hi));
  svg.textContent = '';
  const bottom = bandY[bands.length - 1] + BAND_H + STRIP_H + GAP;
  const height = bottom + 30;
  svg.setAttribute('width', LABEL_W + g.plotW + 90); svg.setAttribute('height', height);
  el('rect', { width: LABEL_W + g.plotW + 90, height, fill: 'white' });
  for (const r of D.regions) {
    if (r.end <= g.lo || r.start >= g.hi) continue;
    const a = Math.max(r.start, g.lo), b = Math.min(r.end, g.hi) - 1;
    const x0 = LABEL_W + g.colOf(a) * g.colW, x1 = LABEL_W + (g.colOf(b) + 1) * g.colW;
    el('rect', { class: 'region', x: x0, y: 4, width: Math.max(2, x1 - x0), height: 4, fill: D.ownerColours[3] });
    el('text', { x: 8, y: 12 }).textContent = 'save kernel [' + r.start + ', ' + r.end + ')';
  }
  bands.forEach((b, i) => {
    const y = bandY[i];
    el('text', { x: 8, y: y + BAND_H / 2 + 4 }).textContent = b.label;
    let key = '', runX = 0, runH = [];
    const flush = (xEnd) => { let sy = y; runH.forEach((h, k) => { if (h > 0) {
      el('rect', { x: runX, y: sy, width: xEnd - runX, height: h, fill: D.ownerColours[k] }); sy += h; } }); };
    let code = 0, sx = 0;
    const flushStrip = (xEnd) => { if (code !== 0)
      el('rect', { class: 'strip', x: sx, y: y + BAND_H + 1, width: xEnd - sx, height: STRIP_H - 1, fill: D.stripColours[code] }); };
    for (let c = 0; c <= g.cols; c++) {
      const x = LABEL_W + c * g.colW;
      const lo = c < g.cols ? g.start(c) : 0, hi = c < g.cols ? g.start(c + 1) : 0;
      const hs = c < g.cols ? columnStack(b.owner, lo, hi, D.owners.length, BAND_H, 2) : [];
      const k = hs.join(',');
      if (k !== key) { if (key !== '') flush(x); key = k; runX = x; runH = hs; }
      let s = 0;
      if (c < g.cols && b.strip) for (let p = lo; p < hi; p++) { if (b.strip[p] === 1) { s = 1; break; } if (b.strip[p]) s = b.strip[p]; }
      if (s !== code) { flushStrip(x); code = s; sx = x; }
    }
  });
  for (const r of relocs) {
    const y1 = bandY[r.from] + BAND_H + STRIP_H, y2 = bandY[r.to];
    const inView = [];
    for (let i = 0; i < r.src.length; i++) {
      const a = r.src[i], b = r.dst[i];
      if ((a >= g.lo && a < g.hi) || (b >= g.lo && b < g.hi)) inView.push(i);
    }
    const stride = Math.max(1, Math.ceil(inView.length / 200));
    for (let j = 0; j < inView.length; j += stride) {
      const i = inView[j], xa = g.xOf(Math.max(g.lo, Math.min(g.hi - 1, r.src[i]))), xb = g.xOf(Math.max(g.lo, Math.min(g.hi - 1, r.dst[i])));
      el('line', { class: 'reloc', x1: xa, y1, x2: xb, y2, stroke: D.ownerColours[7], 'stroke-opacity': 0.6 });
    }
    el('text', { x: 8, y: y1 + RELOC_GAP / 2 + 4 }).textContent = inView.length + ' relocated (in view)';
  }
  for (const m of D.marks) {
    if (m.pfn < g.lo || (m.pfn >= g.hi && !(m.pfn >= D.nr && g.hi === D.nr))) continue;
    const x = m.pfn >= D.nr ? LABEL_W + g.plotW + 6 : g.xOf(m.pfn);
    const grp = el('g', { class: 'mark', 'data-pfn': m.pfn, 'data-x': x });
    const colour = m.predicted ? D.predictedColour : D.markColour;
    el('path', { d: 'M' + (x - 5) + ',' + (TOP - 11) + ' L' + (x + 5) + ',' + (TOP - 11) + ' L' + x + ',' + (TOP - 2) + ' Z', fill: colour }, grp);
    el('line', { x1: x, y1: TOP - 2, x2: x, y2: bottom - GAP, stroke: colour, 'stroke-dasharray': '3,2' }, grp);
    el('line', { class: 'hit', x1: x, y1: TOP - 12, x2: x, y2: bottom - GAP, stroke: 'transparent', 'stroke-width': 9 }, grp);
    grp.addEventListener('mouseenter', (ev) => { show(ev, frameText(Math.min(m.pfn, D.nr - 1), m)); ev.stopPropagation(); });
    grp.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
  }
  const ay = bottom - GAP + 4;
  el('line', { x1: LABEL_W, y1: ay, x2: LABEL_W + g.plotW, y2: ay, stroke: '#000' });
  el('text', { x: 8, y: ay + 16 }).textContent = 'PFN';
  for (const t of pfnTicks(g.lo, g.hi - 1, Math.max(2, Math.floor(g.plotW / 90)))) {
    const x = g.xOf(t);
    el('line', { class: 'tick', 'data-pfn': t, x1: x, y1: ay, x2: x, y2: ay + 5, stroke: '#000' });
    const label = el('text', { class: 'tick-label', x: x - (String(t).length * 7) / 2, y: ay + 16 });
    label.textContent = String(t);
  }
  document.getElementById('from').value = g.lo;
  document.getElementById('to').value = g.hi - 1;
  const per = g.span / g.cols;
  document.getElementById('viewinfo').textContent = 'PFN ' + g.lo + '..' + (g.hi - 1) + ': ' + g.span + ' frames, ' +
    (per <= 1 ? Math.round(g.colW * 10) / 10 + ' px per frame' : Math.round(per * 10) / 10 + ' frames per column');
}
function frameText(p, mark) {
  const lines = [];
  if (mark) lines.push((mark.predicted ? '(as predicted) ' : '') + mark.invariant + ': ' + mark.message,
    'PFN ' + mark.pfn + (mark.pfn >= D.nr ? ' (past the last frame, ' + (D.nr - 1) + ')' : ''));
  else lines.push('PFN ' + p);
  if (!mark || mark.pfn < D.nr) for (const b of bands) {
    const o = D.owners[b.owner[p]];
    const k = b.kind ? ' ' + D.kinds[b.kind[p]] : '';
    const t = b.content ? ' ' + hex(b.content[p]) : '';
    const s = b.strip && b.strip[p] ? '  <- ' + b.stripLabel : '';
    lines.push(b.label + ': ' + o + k + t + s);
  }
  if (!D.tokens) lines.push('(tokens not embedded: ' + D.nr + ' frames x ' + bands.length + ' bands)');
  return lines.join('\n');
}
function show(ev, text) {
  tip.textContent = text; tip.style.display = 'block';
  tip.style.left = Math.min(ev.clientX + 14, innerWidth - tip.offsetWidth - 4) + 'px';
  tip.style.top = ev.clientY + 14 + 'px';
}
function pfnAt(clientX) {
  const r = svg.getBoundingClientRect(), x = clientX - r.left - LABEL_W;
  if (x < 0 || x >= geo.plotW) return -1;
  return geo.start(Math.min(geo.cols - 1, Math.floor(x / geo.colW)));
}
function setView(lo, hi) {
  lo = Math.max(0, Math.min(D.nr - 1, Math.floor(lo))); hi = Math.max(lo + 1, Math.min(D.nr, Math.ceil(hi)));
  view = { lo, hi }; draw();
}
svg.addEventListener('mousemove', (ev) => {
  if (drag) { const d = Math.round(((drag.x - ev.clientX) * geo.span) / geo.plotW);
    const w = drag.hi - drag.lo, lo = Math.max(0, Math.min(D.nr - w, drag.lo + d)); if (lo !== view.lo) setView(lo, lo + w); return; }
  if (ev.target.closest && ev.target.closest('.mark')) return;
  const p = pfnAt(ev.clientX);
  if (p < 0) { tip.style.display = 'none'; return; }
  const c = geo.colOf(p), last = geo.start(c + 1) - 1;
  show(ev, frameText(p) + (last > p ? '\n(this column: PFN ' + p + '..' + last + ')' : ''));
});
svg.addEventListener('mouseleave', () => { tip.style.display = 'none'; drag = null; });
let drag = null;
svg.addEventListener('mousedown', (ev) => { drag = { x: ev.clientX, lo: view.lo, hi: view.hi }; });
addEventListener('mouseup', () => { drag = null; });
svg.addEventListener('wheel', (ev) => {
  ev.preventDefault();
  const p = pfnAt(ev.clientX); const at = p < 0 ? (view.lo + view.hi) / 2 : p;
  const f = ev.deltaY < 0 ? 1 / 1.5 : 1.5, w = Math.max(8, (view.hi - view.lo) * f);
  const lo = Math.max(0, Math.min(D.nr - w, at - ((at - view.lo) * w) / (view.hi - view.lo)));
  setView(lo, lo + w);
}, { passive: false });
document.getElementById('zoom').addEventListener('click', () => {
  const a = Number(document.getElementById('from').value), b = Number(document.getElementById('to').value);
  if (Number.isFinite(a) && Number.isFinite(b) && b >= a) setView(a, b + 1);
});
document.getElementById('reset').addEventListener('click', () => setView(0, D.nr));
for (const btn of document.querySelectorAll('#violations button'))
  btn.addEventListener('click', () => { const p = Math.min(Number(btn.dataset.pfn), D.nr - 1); setView(p - 32, p + 32); });
document.getElementById('legend').innerHTML = D.owners.map((o, i) => '<span><i style="background:' + D.ownerColours[i] +
  '"></i>' + o + '</span>').join('') + '<span><i style="background:' + D.stripColours[1] + '"></i>differs from expected</span>' +
  '<span><i style="background:' + D.stripColours[2] + '"></i>written while the save kernel / loader ran</span>' +
  '<span><i style="background:' + D.markColour + '"></i>violation</span><span><i style="background:' + D.predictedColour +
  '"></i>as predicted</span>';
addEventListener('resize', draw);
draw();
`;

/** The whole page for an explained run. */
export function explainHtml(run: ModelRun): string {
  const map = memoryMap(run);
  const json = JSON.stringify(pageData(map)).replace(/</g, '\\u003c');
  const vs = [...map.marks, ...map.unplaced].map((m) => {
    const where = m.pfn >= 0 ? `PFN ${m.pfn}` : 'not at a frame';
    const text = `${where}: ${m.predicted ? '(as predicted) ' : ''}${m.invariant}${m.step !== undefined ? ` (step ${m.step})` : ''}: ${m.message}`;
    return m.pfn >= 0
      ? `<li><button type="button" data-pfn="${m.pfn}">${xmlEscape(text)}</button></li>`
      : `<li>${xmlEscape(text)}</li>`;
  });
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>${xmlEscape(`hibfuzz explain: ${map.title}`)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${xmlEscape(map.title)}</h1></header>
<main>
<pre id="story">${xmlEscape(storyLines(run).join('\n'))}</pre>
<div id="right">
<div id="controls">
<label>PFN <input id="from" type="number" min="0" max="${map.nr - 1}"></label>
<label>to <input id="to" type="number" min="0" max="${map.nr - 1}"></label>
<button id="zoom" type="button">zoom</button> <button id="reset" type="button">whole machine</button>
<span id="viewinfo"></span>
</div>
<div id="mapbox"><svg id="map" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="memory map"></svg></div>
<div id="legend"></div>
<p>Wheel: zoom around the pointer; drag: pan; hover: owner, kind and token of the frame in every band.</p>
<ul id="violations">${vs.join('')}</ul>
</div>
</main>
<div id="tip"></div>
<script type="application/json" id="data">${json}</script>
<script>
${columnStack.toString()}
${pfnTicks.toString()}
${SCRIPT}
</script>
</body>
</html>
`;
}

/** File name of the page the gate writes next to a saved reproducer's scenario.json. */
export const EXPLAIN_PAGE = 'explain.html';

/**
 * Write the page of the model's run of `scenario` (what the base kernel is predicted to do) into `dir`: its path, or
 * undefined when the model cannot set this machine up (then there is no page to link).
 */
export function writeExplainPage(dir: string, scenario: Scenario): string | undefined {
  const run = runAndJudge(scenario, defaultParts);
  if (!run.ok) return undefined;
  const file = join(dir, EXPLAIN_PAGE);
  writeFileSync(file, explainHtml(run));
  return file;
}

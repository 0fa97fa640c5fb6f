// `hibfuzz explain`: a scenario and its model trace as a story, phase by phase, and an SVG picture of physical
// memory (one pixel column per frame range, coloured by owner; a red band where a frame differs from what the
// invariants expect; ticks at the PFNs named by violations).
import type { ModelRun } from '../impl/index.ts';
import {
  describeOutcome,
  KIND,
  type Memory,
  OWNER,
  type PhaseEvent,
  type RunTrace,
  type StepRecord,
} from '../spec/index.ts';
import { eventText, violationLines } from './replay.ts';
import { scenarioLines, stepText } from './text.ts';

const c = (e: PhaseEvent, k: string): number => e.counts?.[k] ?? 0;

/** Sentences for the phases whose counts tell the story; other phases print as `phase k=v`. */
const PHRASES: Readonly<Record<string, (e: PhaseEvent) => string>> = {
  kexec_load: (e) =>
    `kexec_load: the save kernel gets a region of ${c(e, 'regionPages')} frames (${c(e, 'staging')} staging frames for the exchange)`,
  stopDevices: (e) =>
    `devices stopped; ${c(e, 'saveable')} frames to save, listed in ${c(e, 'listPages')} list pages${e.note ? ` (${e.note})` : ''}`,
  jump: (e) =>
    `jump to the save kernel: ${c(e, 'exchanged')} frames exchanged, the save kernel wrote ${c(e, 'saveKernelWrites')} frames of its region`,
  written: (e) =>
    `image written: ${c(e, 'writes')} storage writes, a stream of ${c(e, 'streamPages')} pages${e.counts?.dataPages !== undefined ? ` (${c(e, 'dataPages')} data pages)` : ''}`,
  jumpBack: (e) => `jump back to the original kernel (${c(e, 'copied')} page copies)`,
  frozen: () => 'tasks frozen',
  preallocated: (e) =>
    `image memory preallocated: ${c(e, 'copyFrames')} copy frames, ${c(e, 'droppedCleanCache')} clean page-cache pages dropped`,
  poweredOff: () => 'powered off',
  'resume:signatureReset': () => 'image found; signature reset before loading (resume at most once)',
  'resume:loaded': (e) =>
    `image loaded: ${c(e, 'inPlace')} pages in place, ${c(e, 'viaSafePages')} relocated through safe pages`,
  'resume:jumped': (e) =>
    `final copy (${c(e, 'copied')} pages), jump into the image kernel: ${c(e, 'pagesChecked')} pages checked, ${c(e, 'pagesCorrupt')} corrupt`,
};

export function phaseSentence(e: PhaseEvent): string {
  const f = PHRASES[e.phase];
  return f !== undefined ? f(e) : eventText(e);
}

const OWNER_NAMES = Object.fromEntries(Object.entries(OWNER).map(([k, v]) => [v, k])) as Record<number, string>;
const KIND_NAMES = Object.fromEntries(Object.entries(KIND).map(([k, v]) => [v, k])) as Record<number, string>;

function tally(arr: Uint8Array, names: Record<number, string>): string {
  const n = new Map<number, number>();
  for (const x of arr) n.set(x, (n.get(x) ?? 0) + 1);
  return [...n]
    .sort((a, b) => a[0] - b[0])
    .map(([k, v]) => `${names[k] ?? k}=${v}`)
    .join(' ');
}

export function storyLines(run: ModelRun): string[] {
  const t = run.trace;
  const out = [...scenarioLines(t.scenario), ''];
  out.push(`profile ${t.profile}; ${t.initial.nr} frames`);
  out.push(`  owners: ${tally(t.initial.owner, OWNER_NAMES)}`);
  out.push(`  kinds:  ${tally(t.initial.kind, KIND_NAMES)}`);
  for (const [i, st] of t.scenario.steps.entries()) {
    out.push('', `step ${i}: ${stepText(st)}`);
    for (const e of t.events.filter((x) => x.step === i)) out.push(`  - ${phaseSentence(e)}`);
    const r = t.records[i];
    if (r?.kind === 'hibernate') {
      out.push(`  copies of the original kernel's pages: ${r.copies.image} (image), ${r.copies.exchange} (exchange)`);
    }
    out.push(`  => ${describeOutcome(run.observation.steps[i])}`);
    for (const v of run.violations.filter((x) => x.step === i)) {
      const predicted = run.judgement.predicted.find((p) => p.invariant === v.invariant && p.message === v.message);
      const [head, ...rest] = violationLines(v, '');
      out.push(`  ${predicted ? '(as predicted)' : 'VIOLATED'} ${head}`, ...rest.map((l) => `    ${l}`));
    }
  }
  out.push('', `verdict: ${run.judgement.verdict}`);
  for (const p of run.judgement.predicted) out.push(`  known limit (${p.invariant}): ${p.limit}`);
  return out;
}

// ---- SVG ---------------------------------------------------------------------------------------------------

const OWNER_COLOURS: Readonly<Record<number, string>> = {
  [OWNER.FREE]: '#e8e8e8',
  [OWNER.ORIG]: '#4c78a8',
  [OWNER.NOSAVE]: '#555555',
  [OWNER.SAVEK]: '#f58518',
  [OWNER.LOADER]: '#b279a2',
  [OWNER.STAGING]: '#eeca3b',
  [OWNER.HIB]: '#72b7b2',
  [OWNER.SAFE]: '#54a24b',
};

interface Band {
  readonly label: string;
  readonly mem: Memory;
  /** content each frame should have (frames with expected[p] === undefined are not compared) */
  readonly expect?: { readonly content: Uint32Array; readonly frames: (p: number) => boolean };
}

function bandsOf(t: RunTrace): Band[] {
  const bands: Band[] = [{ label: 'initial', mem: t.initial }];
  let lastImage: Memory | undefined;
  for (const r of t.records as readonly StepRecord[]) {
    if (r.kind === 'hibernate') {
      if (r.atImage) {
        lastImage = r.atImage;
        bands.push({ label: `step ${r.step}: image defined`, mem: r.atImage });
      }
      if (r.after) {
        const before = r.before;
        bands.push({
          label: `step ${r.step}: after ${r.outcome.op === 'hibernate' ? r.outcome.result : ''}`,
          mem: r.after,
          expect: { content: before.content, frames: (p) => before.owner[p] === OWNER.ORIG },
        });
      }
    } else if (r.kind === 'resume' && r.after) {
      const img = lastImage;
      bands.push({
        label: `step ${r.step}: resumed`,
        mem: r.after,
        ...(img ? { expect: { content: img.content, frames: (p: number) => img.owner[p] === OWNER.ORIG } } : {}),
      });
    }
  }
  return bands;
}

export function memorySvg(run: ModelRun, maxColumns = 1024): string {
  const t = run.trace;
  const nr = t.initial.nr;
  const cols = Math.min(nr, maxColumns);
  const per = Math.ceil(nr / cols);
  const bands = bandsOf(t);
  const labelW = 200;
  const bandH = 28;
  const diffH = 6;
  const top = 40;
  const width = labelW + cols + 10;
  const height = top + bands.length * (bandH + diffH + 8) + 70;
  const bad = new Set<number>();
  for (const v of run.judgement.unexpected) {
    for (const m of `${v.message} ${v.actual ?? ''}`.matchAll(/PFN (\d+)/g)) bad.add(Math.floor(Number(m[1]) / per));
  }
  const o: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="monospace" font-size="11" role="img">`,
    `<title>Physical memory of ${t.scenario.id} by owner and invariant outcome</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="4" y="14">${t.scenario.id}: ${t.scenario.protocol.kind}, ${nr} frames, ${per} frame(s) per column; verdict ${run.judgement.verdict}</text>`,
  ];
  for (const col of bad) o.push(`<rect x="${labelW + col}" y="${top - 18}" width="1" height="12" fill="#d62728"/>`);
  for (const [b, band] of bands.entries()) {
    const y = top + b * (bandH + diffH + 8);
    o.push(`<text x="4" y="${y + bandH / 2 + 4}">${band.label}</text>`);
    // Run-length encode equal columns to keep the file small.
    let runStart = 0;
    let runColour = '';
    let diffStart = -1;
    const flush = (x: number) => {
      if (runColour !== '') {
        o.push(
          `<rect x="${labelW + runStart}" y="${y}" width="${x - runStart}" height="${bandH}" fill="${runColour}"/>`,
        );
      }
    };
    for (let col = 0; col <= cols; col++) {
      let colour = '';
      let differs = false;
      if (col < cols) {
        const counts = new Map<number, number>();
        for (let p = col * per; p < Math.min(nr, (col + 1) * per); p++) {
          const ow = band.mem.owner[p] as number;
          counts.set(ow, (counts.get(ow) ?? 0) + 1);
          if (band.expect?.frames(p) && band.expect.content[p] !== band.mem.content[p]) differs = true;
        }
        const major = [...counts].sort((a, z) => z[1] - a[1])[0]?.[0] ?? OWNER.FREE;
        colour = OWNER_COLOURS[major] ?? '#000000';
      }
      if (colour !== runColour) {
        flush(col);
        runStart = col;
        runColour = colour;
      }
      if (differs && diffStart < 0) diffStart = col;
      if ((!differs || col === cols) && diffStart >= 0) {
        o.push(
          `<rect x="${labelW + diffStart}" y="${y + bandH + 1}" width="${Math.max(1, col - diffStart)}" height="${diffH}" fill="#d62728"/>`,
        );
        diffStart = -1;
      }
    }
  }
  const ly = height - 50;
  let lx = 4;
  for (const [k, v] of Object.entries(OWNER)) {
    o.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${OWNER_COLOURS[v]}"/>`);
    o.push(`<text x="${lx + 16}" y="${ly + 10}">${k}</text>`);
    lx += 30 + k.length * 7;
  }
  o.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="#d62728"/>`);
  o.push(`<text x="${lx + 16}" y="${ly + 10}">differs from expected / PFN named by a violation</text>`);
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}

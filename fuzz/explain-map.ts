// The memory map of an explained run, as data both pictures draw (the SVG of `explain --svg`, the page of
// `explain --html`): one band per moment of the run that has a picture of physical memory (initial, image defined,
// after an abort or failure, the loader's frames while an image loads, resumed), the violation marks at their PFNs,
// the save kernel's region and the relocations through safe pages. Pure: a function of the model run.
import type { ModelRun } from '../impl/index.ts';
import { KIND, type Memory, OWNER, type RunTrace, type Violation } from '../spec/index.ts';

/** Owner tag -> its name (FREE, ORIG, ...), kind tag -> its name. */
export const OWNER_NAMES: readonly string[] = Object.entries(OWNER)
  .sort((a, b) => a[1] - b[1])
  .map(([k]) => k);
export const KIND_NAMES: readonly string[] = Object.entries(KIND)
  .sort((a, b) => a[1] - b[1])
  .map(([k]) => k);

/** One colour per owner tag (indexed by the tag), shared by the SVG and the page. */
export const OWNER_COLOURS: readonly string[] = [
  '#e8e8e8', // FREE
  '#4c78a8', // ORIG
  '#555555', // NOSAVE
  '#f58518', // SAVEK
  '#b279a2', // LOADER
  '#eeca3b', // STAGING
  '#72b7b2', // HIB
  '#54a24b', // SAFE
];

/**
 * Strip codes (under a band): a frame that differs from what the invariants expect; a frame written while the save
 * kernel or the loader ran (their start and end snapshots differ).
 */
export const STRIP = { NONE: 0, DIFFERS: 1, WRITTEN: 2 } as const;
export const STRIP_COLOURS: readonly string[] = ['none', '#d62728', '#8c564b'];
export const MARK_COLOUR = '#d62728';
export const PREDICTED_COLOUR = '#9467bd';

export interface MapBand {
  readonly label: string;
  readonly owner: Uint8Array;
  /** absent for the loading band (owners from the loader's lists, content from memory when loading ended) */
  readonly kind?: Uint8Array;
  readonly content?: Uint32Array;
  /** per frame a STRIP code; absent when nothing is compared or written */
  readonly strip?: Uint8Array;
  readonly stripLabel?: string;
}

/** A violation at a frame: `pfn` may lie past the last frame (a write outside the machine). */
export interface Mark {
  readonly pfn: number;
  readonly invariant: string;
  readonly step?: number;
  readonly message: string;
  /** a known design limit explains it (drawn in another colour) */
  readonly predicted: boolean;
}

export interface MemoryMap {
  readonly title: string;
  readonly nr: number;
  readonly bands: readonly MapBand[];
  readonly marks: readonly Mark[];
  /** violations that name no frame (an outcome, a count): listed, never dropped */
  readonly unplaced: readonly Mark[];
  /** the save kernel's region [start, end) per hibernation (kexec protocol) */
  readonly regions: readonly { readonly step: number; readonly start: number; readonly end: number }[];
  /** resume's final copy: safe frame src[i] goes to dst[i]; `from`/`to` are the band indices it links */
  readonly relocations: readonly {
    readonly step: number;
    readonly from: number;
    readonly to: number;
    readonly src: Uint32Array;
    readonly dst: Uint32Array;
  }[];
}

/**
 * The frames a violation names. The Violation type has no structured frame field, so this reads the two phrasings
 * every frame-level monitor in spec/invariants uses: `PFN n` and `frame n` (storage pages, `page n`, are not frames).
 */
export function violationPfns(v: Pick<Violation, 'message'>): number[] {
  return [...new Set([...v.message.matchAll(/\b(?:PFN|frame) (\d+)\b/g)].map((m) => Number(m[1])))];
}

const differsFrom = (mem: Memory, expect: Memory, frames: (p: number) => boolean): Uint8Array => {
  const s = new Uint8Array(mem.nr);
  for (let p = 0; p < mem.nr; p++) if (frames(p) && expect.content[p] !== mem.content[p]) s[p] = STRIP.DIFFERS;
  return s;
};

/** WRITTEN where two snapshots of raw memory differ (undefined when either is absent). */
function changed(from: Uint32Array | undefined, to: Uint32Array | undefined): Uint8Array | undefined {
  if (from === undefined || to === undefined) return undefined;
  const s = new Uint8Array(to.length);
  for (let p = 0; p < to.length; p++) if (from[p] !== to[p]) s[p] = STRIP.WRITTEN;
  return s;
}

const memBand = (label: string, m: Memory, strip?: Uint8Array, stripLabel?: string): MapBand => ({
  label,
  owner: m.owner,
  kind: m.kind,
  content: m.content,
  ...(strip !== undefined ? { strip, stripLabel: stripLabel ?? '' } : {}),
});

function bandsOf(
  t: RunTrace,
  map: { regions: MemoryMap['regions'][number][]; relocations: MemoryMap['relocations'][number][] },
): MapBand[] {
  const bands: MapBand[] = [memBand('initial', t.initial)];
  let lastImage: Memory | undefined;
  for (const r of t.records) {
    if (r.kind === 'hibernate') {
      if (r.region !== undefined) map.regions.push({ step: r.step, ...r.region });
      if (r.atImage) {
        lastImage = r.atImage;
        // What the save kernel wrote, from memory (its start and end snapshots), not from its own report.
        const strip = changed(r.atJump, r.atSaveKernelEnd);
        bands.push(memBand(`step ${r.step}: image defined`, r.atImage, strip, 'written while the save kernel ran'));
      }
      if (r.after) {
        const before = r.before;
        const result = r.outcome.op === 'hibernate' ? r.outcome.result : '';
        const strip = differsFrom(r.after, before, (p) => before.owner[p] === OWNER.ORIG);
        bands.push(memBand(`step ${r.step}: after (${result})`, r.after, strip, 'differs from the request'));
      }
    } else if (r.kind === 'resume') {
      if (r.load !== undefined) {
        const l = r.load;
        const owner = new Uint8Array(l.allocated.length);
        for (let p = 0; p < owner.length; p++) if (l.allocated[p] && l.imageSet[p]) owner[p] = OWNER.ORIG;
        for (const p of l.pbeSrc) owner[p] = OWNER.SAFE;
        for (const p of l.codeFrames) owner[p] = OWNER.LOADER;
        const strip = changed(r.atBoot, r.atLoaded);
        bands.push({
          label: `step ${r.step}: loading (${l.pbeSrc.length} via safe frames)`,
          owner,
          ...(r.atLoaded !== undefined ? { content: r.atLoaded } : {}),
          ...(strip !== undefined ? { strip, stripLabel: 'written while the loader ran' } : {}),
        });
      }
      if (r.after) {
        const img = lastImage;
        const strip = img ? differsFrom(r.after, img, (p) => img.owner[p] === OWNER.ORIG) : undefined;
        bands.push(memBand(`step ${r.step}: resumed`, r.after, strip, 'differs from the image'));
        if (r.load !== undefined && r.load.pbeSrc.length > 0) {
          map.relocations.push({
            step: r.step,
            from: bands.length - 2,
            to: bands.length - 1,
            src: r.load.pbeSrc,
            dst: r.load.pbeDst,
          });
        }
      }
    }
  }
  return bands;
}

export function memoryMap(run: ModelRun): MemoryMap {
  const t = run.trace;
  const regions: MemoryMap['regions'][number][] = [];
  const relocations: MemoryMap['relocations'][number][] = [];
  const bands = bandsOf(t, { regions, relocations });
  const marks: Mark[] = [];
  const unplaced: Mark[] = [];
  for (const v of run.violations) {
    const predicted = run.judgement.predicted.some((p) => p.invariant === v.invariant && p.message === v.message);
    const base = {
      invariant: v.invariant,
      message: v.message,
      predicted,
      ...(v.step !== undefined ? { step: v.step } : {}),
    };
    const pfns = violationPfns(v);
    if (pfns.length === 0) unplaced.push({ ...base, pfn: -1 });
    for (const pfn of pfns) marks.push({ ...base, pfn });
  }
  const s = t.scenario;
  return {
    title: `${s.id}: ${s.protocol.kind}, ${t.initial.nr} frames; verdict ${run.judgement.verdict}`,
    nr: t.initial.nr,
    bands,
    marks,
    unplaced,
    regions,
    relocations,
  };
}

// ---- shared by the SVG and the page (the page embeds these functions' source: keep them self-contained, no
// closures, no imports, plain loops) ------------------------------------------------------------------------------

/**
 * Pixel heights of a column's owner stack: every owner present in frames [lo, hi) of `owner` gets at least `minPx`
 * (a minority owner never vanishes), the rest of `h` in proportion to its frame count. Index = owner tag.
 */
export function columnStack(
  owner: Uint8Array,
  lo: number,
  hi: number,
  nOwners: number,
  h: number,
  minPx: number,
): number[] {
  const counts: number[] = [];
  for (let k = 0; k < nOwners; k++) counts.push(0);
  for (let p = lo; p < hi; p++) counts[owner[p] as number] = (counts[owner[p] as number] as number) + 1;
  let present = 0;
  for (let k = 0; k < nOwners; k++) if ((counts[k] as number) > 0) present++;
  const spare = Math.max(0, h - present * minPx);
  const total = Math.max(1, hi - lo);
  const heights: number[] = [];
  let used = 0;
  let last = -1;
  for (let k = 0; k < nOwners; k++) {
    const c = counts[k] as number;
    const px = c > 0 ? minPx + Math.floor((spare * c) / total) : 0;
    heights.push(px);
    used += px;
    if (c > 0) last = k;
  }
  // Rounding leaves a few pixels: the last owner present takes them, so the stack always fills the band.
  if (last >= 0) heights[last] = (heights[last] as number) + (h - used);
  return heights;
}

/** Axis ticks over [lo, hi): multiples of 1, 2 or 5 x 10^k, at most `max` of them. */
export function pfnTicks(lo: number, hi: number, max: number): number[] {
  const span = Math.max(1, hi - lo);
  let step = 1;
  while (span / step > max) {
    const d = String(step)[0];
    step = d === '1' ? step * 2 : d === '2' ? (step / 2) * 5 : step * 2;
  }
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) out.push(t);
  return out;
}

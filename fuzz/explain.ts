// `hibfuzz explain`: a scenario and its model trace as a story, phase by phase. The pictures of physical memory are
// explain-svg.ts (--svg) and explain-html.ts (--html), both drawn from explain-map.ts.
import type { ModelRun } from '../impl/index.ts';
import { describeOutcome, type PhaseEvent } from '../spec/index.ts';
import { KIND_NAMES, OWNER_NAMES } from './explain-map.ts';
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

function tally(arr: Uint8Array, names: readonly string[]): string {
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

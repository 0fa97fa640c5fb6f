// The executable abstract protocol: the outcome oracle. From the system at each step's request (memory and storage
// as the trace recorded them there) and the abstract state carried across steps (is the original system running,
// what image is on storage), it predicts the outcomes the protocol allows, with the kernel's formulas written
// independently of impl/ (formulas.ts). A step whose outcome is not among them violates OutcomeAllowed.
//
// Liveness is part of the prediction: a complete, valid image on the machine that made it resumes, with every page
// the agent owns intact, unless the loader runs out of safe frames (restoreShortfall: exactly above 0); a scheduled fault
// within the writes fires; ENOMEM and ENOSPC happen exactly at their formulas' limits, never a page early or late.
//
// Abstract state:  on ∈ {true, false};  image ∈ {none} ∪ {signed image: made on (memPages, kernel line), entries,
// agent pages, stale (a read-write boot since), corrupt (altered at rest), torn (swsusp: last map page lost)}.

import { restoreKernelFrames } from '../model/boot.ts';
import { nosaveMap, saveRegion } from '../model/init.ts';
import { type BlockDevice, KIND, type Memory, OWNER, SIG, SLOT } from '../model/state.ts';
import type { HibernateRecord, RunTrace } from '../model/trace.ts';
import type { StepOutcome, Violation } from '../outcome.ts';
import type { HibernateStep, ResumeStep, Scenario } from '../scenario/schema.ts';
import { predictCorruptSwsusp } from './corrupt.ts';
import {
  enoughSwap,
  ORACLE_PFNS_PER_META,
  preallocate,
  ramFrames,
  restoreShortfall,
  type StreamPrediction,
  stream,
  writeEnd,
} from './formulas.ts';

interface AbstractImage {
  readonly memPages: number;
  /** kernel line that wrote it (swsusp); undefined for the kexec protocol */
  readonly line: '6.1' | '6.12' | undefined;
  readonly lz4: boolean;
  readonly entries: number;
  readonly agentPages: number;
  stale: boolean;
  corrupt: boolean;
  /** swsusp: the resumes the one flip at rest allows on the writer's machine and line (corrupt.ts); '*' after two */
  flip?: Allowed;
  readonly torn: boolean;
  /** a device kept doing DMA after the image was defined (known limit deviceDmaAfterStop): pages may differ */
  readonly dma: boolean;
  /** image PFNs among the restore kernel's own frames (busy at restore), between lo and hi */
  readonly busy: Busy;
}

interface Busy {
  readonly lo: number;
  readonly hi: number;
}

/**
 * Image PFNs that lie among the restore kernel's frames (spec/model/boot.ts), counted at the request: `hi` every
 * frame there the image saves (`saved`), `lo` less the clean page cache there that preallocation may have dropped
 * instead (`dropped` pages in all; which ones it drops is not part of the protocol).
 */
function busyOf(s: Scenario, m: Memory, saved: (p: number) => boolean, dropped: number): Busy {
  const own = restoreKernelFrames(s);
  let hi = 0;
  let clean = 0;
  for (let p = own.start; p < Math.min(own.end, m.nr); p++) {
    if (!saved(p)) continue;
    hi++;
    if (m.kind[p] === KIND.PC_CLEAN) clean++;
  }
  return { lo: hi - Math.min(clean, dropped), hi };
}

interface AbstractState {
  on: boolean;
  image: AbstractImage | undefined;
}

/** An allowed outcome: the fields it must have (an `image` field compares ImageStats field by field). */
type Pattern = Readonly<Record<string, unknown>>;
/** '*': every outcome of the step's op is allowed (a known design limit or an unmodelled corner). */
type Allowed = readonly Pattern[] | '*';

const SWSUSP_PM_TEST = ['freezer', 'devices', 'platform', 'processors', 'core'] as const;

/** Counts of the system at a hibernation request, taken from its memory (one pass). */
interface AtRequest {
  saveable: number;
  free: number;
  cleanCache: number;
  zeros: number;
  agent: number;
}

function countAt(m: Memory, inRegion: (p: number) => boolean, skipRegion: boolean): AtRequest {
  const c = { saveable: 0, free: 0, cleanCache: 0, zeros: 0, agent: 0 };
  for (let p = 0; p < m.nr; p++) {
    const o = m.owner[p];
    if (o === OWNER.FREE) c.free++;
    if (o !== OWNER.ORIG || (skipRegion && inRegion(p))) continue;
    const k = m.kind[p];
    c.saveable++;
    if (k === KIND.PC_CLEAN) c.cleanCache++;
    if (m.content[p] === 0) c.zeros++;
    if (k === KIND.ANON || k === KIND.ZERO || k === KIND.PC_CLEAN || k === KIND.PC_DIRTY) c.agent++;
  }
  return c;
}

/**
 * Free swap slots of this area at the request: after its header and not another file's. No writer slot is held
 * then: a kernel starts with none (swap_map lives in its memory; a resumed one's predates its image) and a failed
 * write frees its own (free_all_swap_pages), so the storage's `allocated` map is not read.
 */
function freeSlots(r: HibernateRecord, offset: number): number {
  const d = r.storageBefore;
  let n = 0;
  for (let i = offset + 1; i < d.nr; i++) {
    if (d.slot[i] !== SLOT.SWAP_HEADER && d.slot[i] !== SLOT.OTHER) n++;
  }
  return n;
}

const failed = (errno: string, phase: string): Pattern => ({ op: 'hibernate', result: 'failed', errno, phase });
const statsOf = (st: StreamPrediction, torn: boolean) => ({
  dataPages: st.dataPages,
  zeroPages: st.zeroPages,
  metaPages: st.metaPages,
  streamPages: st.streamPages,
  ...(torn ? {} : { writes: st.writes }),
});

/** The write of the image and what follows it; `done` turns a complete image into the step's outcome. */
function predictWrite(
  s: Scenario,
  r: HibernateRecord,
  st: HibernateStep,
  commit: 'swsusp' | 'kexec',
  sp: StreamPrediction,
  nocompress: boolean,
  done: (torn: boolean) => Pattern,
): Pattern {
  if (r.storageBefore.header.get(s.storage.offset)?.sig !== SIG.SWAPSPACE2) return failed('ENODEV', 'write');
  const slots = freeSlots(r, s.storage.offset);
  if (slots === 0) return failed('ENOSPC', 'write');
  if (nocompress && !enoughSwap(s, slots, sp.streamPages)) return failed('ENOSPC', 'write');
  const end = writeEnd(commit, sp, slots, {
    ioErrorAtWrite: st.ioErrorAtWrite,
    powerLossAfterWrite: st.powerLossAfterWrite,
    afterSignature: st.ioErrorAfterSignature === true,
  });
  switch (end.kind) {
    case 'enospc':
      return failed('ENOSPC', 'write');
    case 'eio':
      return failed('EIO', 'write');
    case 'powerLost':
      return { op: 'hibernate', result: 'powerLost', writes: end.writes };
    case 'complete':
      return done(end.torn);
  }
}

/** A complete image was written and the machine powered off: the abstract state now holds that image. */
function poweredOff(
  a: AbstractState,
  s: Scenario,
  st: HibernateStep,
  sp: StreamPrediction,
  torn: boolean,
  img: Pick<AbstractImage, 'line' | 'lz4' | 'entries' | 'agentPages' | 'busy'>,
): Pattern {
  a.on = false;
  const dma = (st.dmaAfterStopPages ?? 0) > 0;
  a.image = { ...img, memPages: s.machine.memPages, stale: false, corrupt: false, torn, dma };
  return { op: 'hibernate', result: 'poweredOff', image: statsOf(sp, torn) };
}

/** swsusp hibernate(): freeze, preallocate, pm_test, snapshot, write, sign, power off (or test_resume). */
function predictSwsusp(s: Scenario, a: AbstractState, r: HibernateRecord, st: HibernateStep): Pattern {
  if (s.protocol.kind !== 'swsusp') throw new Error('not swsusp');
  const proto = s.protocol;
  const at = countAt(r.before, () => false, false);
  const pre = preallocate(s, r.before.nr, at);
  if (pre.enomem) return failed('ENOMEM', 'preallocate');
  const level = SWSUSP_PM_TEST.find((l) => l === st.abortAt);
  if (level !== undefined) return { op: 'hibernate', result: 'aborted', at: level };
  const zeroElision = proto.kernel === '6.12';
  // reclaimed pages are clean page cache, never all-zero: the zero pages all remain
  const sp = stream(pre.saveable, zeroElision ? at.zeros : 0);
  // A file on FUSE (measured on Debian 6.1 and 6.12): the kernel refuses swapon on it, so sysfs finds no swap device
  // after the snapshot; uswsusp's writer (SNAPSHOT_FREEZE froze the server) waits for a reply forever.
  if (s.storage.kind === 'fuseFile') {
    if (proto.interface === 'sysfs') return failed('ENODEV', 'write');
    a.on = false;
    return { op: 'hibernate', result: 'crashed', at: 'hibernating', boot: 'hang', cause: 'fuseServerFrozen' };
  }
  return predictWrite(s, r, st, 'swsusp', sp, proto.compression === 'none', (torn) => {
    if (st.abortAt === 'testResume') {
      return { op: 'hibernate', result: 'aborted', at: 'testResume', image: statsOf(sp, torn) };
    }
    return poweredOff(a, s, st, sp, torn, {
      line: proto.kernel,
      lz4: proto.compression === 'lz4' && proto.kernel === '6.12',
      entries: pre.saveable,
      agentPages: at.agent - pre.dropped,
      busy: busyOf(s, r.before, (p) => r.before.owner[p] === OWNER.ORIG, pre.dropped),
    });
  });
}

/** The 2007 proposal: kexec_load into the region, stop devices, PFN list, jump, write, sign last, power off. */
function predictKexec(s: Scenario, a: AbstractState, r: HibernateRecord, st: HibernateStep): Pattern {
  if (s.protocol.kind !== 'kexec') throw new Error('not kexec');
  const proto = s.protocol;
  const region = saveRegion(s);
  if (region === undefined) return failed('ENOMEM', 'load');
  const size = region.end - region.start;
  if (size < proto.saveKernelNeedPages) return failed('ENOMEM', 'load');
  const inRegion = (p: number) => p >= region.start && p < region.end;
  const m = r.before;
  let freeOutside = 0;
  let unreclaimable = 0;
  for (let p = 0; p < m.nr; p++) {
    if (m.owner[p] === OWNER.FREE && !inRegion(p)) freeOutside++;
    if (m.owner[p] === OWNER.ORIG && inRegion(p) && m.kind[p] !== KIND.PC_CLEAN && m.kind[p] !== KIND.PC_DIRTY)
      unreclaimable++;
  }
  const exchange = proto.reservation === 'exchange';
  // exchange: one staging frame per region page from free memory outside the region; otherwise the region's page
  // cache is reclaimed (clean dropped, dirty written back) and anything else there makes the load fail
  if (exchange ? freeOutside < size : unreclaimable > 0) return failed('ENOMEM', 'load');
  if (st.abortAt === 'afterLoad') return { op: 'hibernate', result: 'aborted', at: 'afterLoad' };
  const at = countAt(m, inRegion, !exchange);
  if (proto.handoff === 'pfnList') {
    const listPages = Math.ceil(at.saveable / ORACLE_PFNS_PER_META);
    if (freeOutside - (exchange ? size : 0) < listPages) return failed('ENOMEM', 'prepareList');
  }
  if (st.abortAt === 'afterStopDevices' || st.abortAt === 'afterJump') {
    return { op: 'hibernate', result: 'aborted', at: st.abortAt };
  }
  const sp = stream(at.saveable, proto.zeroElision ? at.zeros : 0);
  return predictWrite(s, r, st, 'kexec', sp, false, (torn) => {
    if (st.abortAt === 'afterImageWritten') {
      return { op: 'hibernate', result: 'aborted', at: 'afterImageWritten', image: statsOf(sp, torn) };
    }
    // the PFN list: every frame of the original kernel, the region's only when exchanged (countAt above)
    const saved = (p: number) => m.owner[p] === OWNER.ORIG && (exchange || !inRegion(p));
    const busy = busyOf(s, m, saved, 0);
    return poweredOff(a, s, st, sp, torn, {
      line: undefined,
      lz4: false,
      entries: at.saveable,
      agentPages: at.agent,
      busy,
    });
  });
}

/**
 * software_resume() on the abstract image. The loader runs out of safe frames (ENOMEM) exactly when
 * restoreShortfall(entries, the loader's RAM frames, busy destinations, RAM frames) is above 0; when only bounds of
 * `busy` are known (swsusp dropped clean page cache among the loader's frames), both outcomes are allowed between.
 */
function predictResume(s: Scenario, a: AbstractState, st: ResumeStep, ram: number): Allowed {
  const img = a.image;
  a.on = true;
  if (s.storage.kind === 'dmCrypt' && s.storage.keyAtResume !== 'same') {
    if (img !== undefined) img.stale = true; // the image stays; the fresh boot mounts filesystems read-write
    return s.storage.keyAtResume === 'missing'
      ? [{ op: 'resume', result: 'refused', reason: 'keyUnavailable', errno: 'ENOKEY' }]
      : [{ op: 'resume', result: 'noImage' }];
  }
  a.image = undefined; // swsusp_check() resets the signature before anything is loaded
  if (img === undefined) return [{ op: 'resume', result: 'noImage' }];
  const kexec = s.protocol.kind === 'kexec';
  if (kexec && img.stale) return [{ op: 'resume', result: 'refused', reason: 'staleImage', errno: 'EINVAL' }];
  if (img.torn) return '*';
  const line = s.protocol.kind === 'swsusp' ? (st.kernel ?? s.protocol.kernel) : undefined;
  const writer = line === img.line && !(img.lz4 && line === '6.1');
  const samePlace = writer && (st.memPages ?? s.machine.memPages) === img.memPages && !st.e820Changed;
  if (img.corrupt && !kexec) return samePlace ? (img.flip ?? '*') : '*';
  const intact = { op: 'resume', result: 'resumed', pagesCorrupt: 0 };
  if (img.corrupt) return [intact, { op: 'resume', result: 'refused' }];
  if (img.lz4 && line === '6.1') {
    return [{ op: 'resume', result: 'refused', reason: 'decompressFailed', errno: 'EINVAL' }];
  }
  if ((st.memPages ?? s.machine.memPages) !== img.memPages || st.e820Changed) {
    return [{ op: 'resume', result: 'refused', reason: 'memoryMapMismatch', errno: 'EPERM' }];
  }
  if (line !== img.line) return [intact, { op: 'resume', result: 'refused' }];
  const own = restoreKernelFrames(s);
  const nosave = nosaveMap(img.memPages, s.machine.e820);
  let loaderFrames = 0;
  for (let p = own.start; p < Math.min(own.end, img.memPages); p++) if (nosave[p] === 0) loaderFrames++;
  const short = (busy: number) => restoreShortfall({ entries: img.entries, loaderFrames, busy, ram });
  const enomem = { op: 'resume', result: 'refused', reason: 'outOfMemory', errno: 'ENOMEM' };
  if (short(img.busy.lo) > 0) return [enomem];
  const resumed = img.dma
    ? { op: 'resume', result: 'resumed', pagesChecked: img.agentPages }
    : { ...intact, pagesChecked: img.agentPages };
  return short(img.busy.hi) > 0 ? [resumed, enomem] : [resumed];
}

function matches(o: StepOutcome, p: Pattern): boolean {
  const rec = o as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(p)) {
    const got = rec[k];
    if (typeof v === 'object' && v !== null) {
      if (typeof got !== 'object' || got === null) return false;
      for (const [kk, vv] of Object.entries(v)) if ((got as Record<string, unknown>)[kk] !== vv) return false;
    } else if (got !== v) return false;
  }
  return true;
}

/** OutcomeAllowed over a run: every step's outcome is one the abstract protocol allows. */
export function outcomeAllowed(t: RunTrace): Violation[] {
  const s = t.scenario;
  const a: AbstractState = { on: true, image: undefined };
  const out: Violation[] = [];
  let died = false;
  let storage: BlockDevice | undefined; // storage after the last step that recorded it
  for (const rec of t.records) {
    const step = s.steps[rec.step];
    if (step === undefined) continue;
    let allowed: Allowed;
    const o = rec.outcome;
    if (!a.on && (step.op === 'write' || step.op === 'hibernate')) {
      allowed = [{ op: 'skip', step: step.op }];
    } else if (step.op === 'write') {
      allowed = o.op === 'write' && o.pages <= step.pages ? [{ op: 'write' }] : [{ op: 'write', pages: step.pages }];
    } else if (step.op === 'hibernate' && rec.kind === 'hibernate') {
      const before = a.image;
      const predicted = s.protocol.kind === 'kexec' ? predictKexec(s, a, rec, step) : predictSwsusp(s, a, rec, step);
      // DMA after the devices stopped changes up to dmaAfterStopPages saved pages after they were counted: a zero
      // page may become data (and back), so the stream's length, and whether it fits, is not known at the request
      allowed =
        (step.dmaAfterStopPages ?? 0) > 0
          ? [
              predicted,
              { op: 'hibernate', result: 'poweredOff' },
              { op: 'hibernate', result: 'failed', errno: 'ENOSPC' },
            ]
          : [predicted];
      if (o.op === 'hibernate' && (o.result === 'failed' || o.result === 'aborted')) {
        a.on = true;
        a.image = before;
      }
    } else if (step.op === 'resume' && rec.kind === 'resume') {
      allowed = predictResume(s, a, step, ramFrames(s, rec.memPages));
    } else if (step.op === 'bootNoresume') {
      a.on = true;
      if (a.image !== undefined) {
        if (step.writeStoragePages > 0)
          a.image = undefined; // mkswap rewrites the signature
        else a.image.stale = true;
      }
      allowed = [{ op: 'bootNoresume' }];
    } else if (step.op === 'corrupt') {
      if (o.op === 'corrupt' && o.applied && a.image !== undefined) {
        const img = a.image;
        const one = !img.corrupt && s.protocol.kind === 'swsusp';
        img.flip =
          one && storage !== undefined
            ? predictCorruptSwsusp(storage, s.storage.offset, step, {
                memPages: img.memPages,
                zeroElision: img.line === '6.12',
              })
            : '*';
        img.corrupt = true;
      }
      allowed = a.image === undefined ? [{ op: 'corrupt', applied: false }] : [{ op: 'corrupt' }];
    } else allowed = [{ op: step.op }];
    const ok = allowed === '*' ? o.op === step.op : allowed.some((p) => matches(o, p));
    if (!ok) {
      out.push({
        invariant: 'OutcomeAllowed',
        step: rec.step,
        message: `step ${rec.step} (${step.op}): the outcome is not one the abstract protocol allows`,
        expected: allowed === '*' ? `any ${step.op} outcome` : allowed.map((p) => JSON.stringify(p)).join(' | '),
        actual: JSON.stringify(o),
      });
    }
    // A failed or aborted hibernation leaves the system running (whatever the implementation did); a power-off or
    // a power loss does not.
    if (o.op === 'hibernate' && (o.result === 'poweredOff' || o.result === 'powerLost')) a.on = false;
    if (o.op === 'hibernate' && o.result === 'crashed') died = true;
    if (rec.kind === 'hibernate' || rec.kind === 'resume') storage = rec.storageAfter;
  }
  // every step has an outcome, unless the machine died before it (nothing runs after a hang)
  const ran = new Set(t.records.map((r) => r.step));
  const missing = s.steps.findIndex((_, i) => !ran.has(i));
  if (!died && missing >= 0) {
    out.push({
      invariant: 'OutcomeAllowed',
      step: missing,
      message: `step ${missing} has no outcome, and the machine did not die before it`,
    });
  }
  return out;
}

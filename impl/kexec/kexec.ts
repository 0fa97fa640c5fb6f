// The 2007 proposal ("A kexec approach to hibernation") on the model; mirrors kernel/kexec_core.c (kexec_load with
// KEXEC_PRESERVE_CONTEXT, kimage_alloc_page's rule, machine_kexec's swap_pages) and the save kernel's user space.
//
// start hibernation: load the save kernel (+ cmdline + initrd) into its region, stop all devices, prepare the list
//   of pages to save (a PFN list whose address goes on the cmdline, or pointers to the kernel's own bitmaps),
//   jump. No freezer: user space is simply stopped with the kernel.
// save kernel: confined to its region, reads the original kernel's memory (/dev/mem), writes the image (swsusp
//   stream layout; CRC over the whole stream, header included; header signed last, after a flush), powers off.
// abort: jump back; the pages are already in place, so nothing is copied (the exchange of the region with its
//   staging frames is undone: swap ∘ swap = id).
// Region reservation modes: bootReserved (crashkernel=), reclaimPageCache (page cache until hibernation, then
//   dropped / written back), exchange (kexec jump: staging frames from free memory at load time).
import {
  type HibernateRecord,
  type HibernateStep,
  KIND as KIND_,
  OWNER as OWNER_,
  pageToken as pageToken_,
  SIG,
} from '../../spec/index.ts';
import { chunkedOf } from '../../spec/model/chunks.ts';
import { beginHibernation, type Ctx, carriesOn, event, ownersOf, snapContent, snapImage } from '../context.ts';
import { type ExchangeMap, swapPages } from '../parts.ts';
import { dmaVictims, dmaWrite, imageData } from '../power/hibernate.ts';
import { KF_CRC_ALL, PFNS_PER_META } from '../power/power.ts';
import { initHeader } from '../power/snapshot.ts';
import { saveImage } from '../power/swap.ts';

// Local copies: imported bindings are getters under tsx/vitest transforms, and hot loops read these.
const KIND = KIND_;
const OWNER = OWNER_;
const pageToken = pageToken_;

export function kexecHibernate(ctx: Ctx, st: HibernateStep, i: number): HibernateRecord {
  const s = ctx.s;
  if (s.protocol.kind !== 'kexec') throw new Error('kexecHibernate: not a kexec scenario');
  const proto = s.protocol;
  const region = ctx.parts.saveKernelRegion(s);
  const { mem, imageId, copies, bio, rec } = beginHibernation(ctx, st, i, region);
  const failed = (errno: 'ENOMEM' | 'EIO' | 'ENOSPC' | 'ENODEV' | 'EBUSY', phase: string, extra = {}) =>
    rec({ ...carriesOn(ctx), ...extra, outcome: { op: 'hibernate', result: 'failed', errno, phase } });
  if (region === undefined) {
    event(ctx, i, 'kexec_load:failed', undefined, 'no contiguous region for the save kernel');
    return failed('ENOMEM', 'load');
  }
  // kexec_load() finds no room for the save kernel's segments (kernel, initrd) in a region smaller than it needs.
  if (region.end - region.start < proto.saveKernelNeedPages) {
    event(ctx, i, 'kexec_load:failed', { region: region.end - region.start, need: proto.saveKernelNeedPages });
    return failed('ENOMEM', 'load');
  }
  const bTok = (p: number) => pageToken(0x5a7e, p, ctx.gen);
  // ---- kexec_load(KEXEC_PRESERVE_CONTEXT): place the save kernel's segments ----
  let exchange: ExchangeMap | undefined;
  const unload = () => {
    if (exchange) for (const f of exchange.staging) mem.owner[f] = OWNER.FREE;
    if (proto.reservation === 'reclaimPageCache') {
      for (let p = region.start; p < region.end; p++) if (mem.owner[p] === OWNER.SAVEK) mem.owner[p] = OWNER.FREE;
    }
  };
  if (proto.reservation === 'exchange') {
    // kimage_alloc_page(): one staging frame per region page, from free memory outside the region.
    const n = region.end - region.start;
    const staging = ctx.parts.kimageStagingFrames(mem, region, n);
    if (staging.length < n) {
      event(ctx, i, 'kexec_load:failed', { need: n, free: staging.length }, 'not enough free memory for staging pages');
      return failed('ENOMEM', 'load');
    }
    for (const f of staging) {
      mem.owner[f] = OWNER.STAGING;
      mem.content[f] = bTok(f);
    }
    exchange = { region, staging };
  } else {
    for (let p = region.start; p < region.end; p++) {
      if (mem.owner[p] === OWNER.ORIG) {
        const k = mem.kind[p];
        if (k !== KIND.PC_CLEAN && k !== KIND.PC_DIRTY) {
          unload();
          return failed('ENOMEM', 'load');
        }
        // Reclaim: clean page cache is dropped; dirty page cache is written back to its file, then dropped.
        mem.owner[p] = OWNER.FREE;
        mem.kind[p] = KIND.FREE;
      }
      if (mem.owner[p] === OWNER.FREE || mem.owner[p] === OWNER.SAVEK) {
        mem.owner[p] = OWNER.SAVEK;
        mem.content[p] = bTok(p);
      }
    }
  }
  event(ctx, i, 'kexec_load', { regionPages: region.end - region.start, staging: exchange?.staging.length ?? 0 });
  if (st.abortAt === 'afterLoad') {
    unload();
    return rec({ ...carriesOn(ctx), outcome: { op: 'hibernate', result: 'aborted', at: 'afterLoad' } });
  }
  // ---- stop devices; prepare the list of pages to save ----
  const atImage = snapImage(ctx, mem);
  const imageContent = chunkedOf(atImage, 'content');
  const pfns = ctx.parts.saveableFrames(mem);
  let listFrames = new Uint32Array(0);
  if (proto.handoff === 'pfnList') {
    const n = Math.ceil(pfns.length / PFNS_PER_META);
    const got: number[] = [];
    for (let p = mem.nr - 1; p >= 0 && got.length < n; p--) {
      if (mem.owner[p] === OWNER.FREE && (p < region.start || p >= region.end)) got.push(p);
    }
    if (got.length < n) {
      unload();
      return failed('ENOMEM', 'prepareList');
    }
    listFrames = Uint32Array.from(got);
    for (const f of listFrames) {
      mem.owner[f] = OWNER.HIB;
      mem.content[f] = pageToken(imageId, f, 11);
    }
  }
  const freeList = () => {
    for (const f of listFrames) mem.owner[f] = OWNER.FREE;
  };
  event(ctx, i, 'stopDevices', { saveable: pfns.length, listPages: listFrames.length }, `handoff ${proto.handoff}`);
  if (st.abortAt === 'afterStopDevices') {
    freeList();
    unload();
    return rec({
      ...carriesOn(ctx),
      atImage,
      outcome: { op: 'hibernate', result: 'aborted', at: 'afterStopDevices' },
    });
  }
  // ---- jump to the save kernel ----
  if (exchange) swapPages(mem, exchange, copies);
  // Devices that ignored the stop write at the jump; then the save kernel runs, from the snapshot on.
  const rogue = ctx.parts.framesDmaAfterStop(mem);
  if (rogue.length > 0) dmaWrite(mem, rogue, s.seed);
  if ((st.dmaAfterStopPages ?? 0) > 0) dmaWrite(mem, dmaVictims(mem, st.dmaAfterStopPages ?? 0, region), s.seed);
  const atJump = snapContent(ctx, mem.content, imageContent);
  const working = ctx.parts.saveKernelWorkingSet(region, mem);
  for (const f of working) mem.content[f] = bTok(f) ^ 0x77;
  event(ctx, i, 'jump', { exchanged: exchange?.staging.length ?? 0, saveKernelWrites: working.length });
  // The original kernel's view: region pages live in the staging frames while the save kernel runs.
  const viewOf = (p: number): number =>
    exchange !== undefined && p >= region.start && p < region.end
      ? (mem.content[exchange.staging[p - region.start] as number] as number)
      : (mem.content[p] as number);
  const aView = (): Uint32Array => {
    const c = mem.content.slice();
    if (exchange)
      for (let k = 0; k < exchange.staging.length; k++)
        c[region.start + k] = mem.content[exchange.staging[k] as number] as number;
    return c;
  };
  const back = () => {
    ctx.parts.kexecJumpBack(mem, exchange, copies);
    freeList();
    unload();
  };
  const extra = { atImage, saveKernelWrites: working, atJump };
  if (st.abortAt === 'afterJump') {
    const atSaveKernelEnd = snapContent(ctx, mem.content, atJump, imageContent);
    back();
    return rec({
      ...extra,
      atSaveKernelEnd,
      ...carriesOn(ctx),
      outcome: { op: 'hibernate', result: 'aborted', at: 'afterJump' },
    });
  }
  // ---- the save kernel writes the image ----
  const packed = ctx.parts.packPfns(pfns, viewOf, proto.zeroElision);
  const data = imageData(packed.entries, packed.dataPages, (k) => viewOf(pfns[k] as number));
  const info = initHeader(ctx, ownersOf(atImage), packed, imageId);
  const w = saveImage(ctx, bio, {
    info,
    entries: packed.entries,
    data,
    flags: KF_CRC_ALL,
    sig: SIG.KEXECHIB,
    epoch: ctx.dev.epoch,
    commit: 'kexec',
  });
  const afterWrite = snapContent(ctx, aView(), imageContent);
  const ran = { ...extra, atSaveKernelEnd: snapContent(ctx, mem.content, atJump, afterWrite, imageContent) };
  if (!w.ok) {
    event(ctx, i, w.powerLost ? 'powerLost' : 'write:failed', { writes: w.writes, ...w.geometry }, w.errno);
    if (w.powerLost) {
      ctx.mem = undefined;
      return rec({ ...ran, afterWrite, outcome: { op: 'hibernate', result: 'powerLost', writes: w.writes } });
    }
    if (!ctx.parts.returnOnWriteError) {
      ctx.mem = undefined;
      return rec({
        ...ran,
        afterWrite,
        outcome: { op: 'hibernate', result: 'failed', errno: w.errno, phase: 'write' },
      });
    }
    back();
    return rec({
      ...ran,
      afterWrite,
      ...carriesOn(ctx),
      outcome: { op: 'hibernate', result: 'failed', errno: w.errno, phase: 'write' },
    });
  }
  event(ctx, i, 'written', { writes: w.stats.writes, dataPages: w.stats.dataPages, ...w.geometry });
  ctx.imageKinds.set(imageId, atImage);
  ctx.corruptedSinceImage = false;
  ctx.staleSinceImage = false;
  if (st.abortAt === 'afterImageWritten') {
    back();
    // The original kernel carries on: its image must never be resumed (swsusp_unmark's rule), and the slots were the
    // save kernel's.
    ctx.parts.swsuspCheck(ctx.dev, s.storage.offset, SIG.KEXECHIB);
    ctx.parts.swapMapAtStart(ctx.dev);
    event(ctx, i, 'jumpBack', { copied: copies.image });
    return rec({
      ...ran,
      afterWrite,
      ...carriesOn(ctx),
      outcome: { op: 'hibernate', result: 'aborted', at: 'afterImageWritten', image: w.stats },
    });
  }
  ctx.mem = undefined;
  event(ctx, i, 'poweredOff');
  return rec({ ...ran, afterWrite, outcome: { op: 'hibernate', result: 'poweredOff', image: w.stats } });
}

// Steps around hibernation that both protocols share: user-space writes, corruption at rest, boots (noresume and
// the fresh boot after a failed resume), and resume itself (software_resume(): check, load, final copy, jump).

import {
  type CorruptStep,
  decodeImage,
  flipLink,
  flipPage,
  flipWord,
  type HibernateRecord,
  INFO_FIELDS,
  initialMemory,
  isAgentKind,
  KIND as KIND_,
  type Memory,
  mapLinkBit,
  metaFlipWord,
  type OtherRecord,
  OWNER as OWNER_,
  pageToken as pageToken_,
  type ResumeRecord,
  type ResumeStep,
  SIG,
  SLOT as SLOT_,
  type Step,
  saveRegion,
  WORKLOAD_KIND,
} from '../spec/index.ts';
import { restoreKernelFrames } from '../spec/model/boot.ts';
import {
  type Chunked,
  chunkedOf,
  holdFrames,
  readFrames,
  readMemory,
  snapshot,
  snapshotMemory,
  staleGarbage,
} from '../spec/model/chunks.ts';
import { e820Checksum } from './arch/hibernate.ts';
import { bootMemory, type Ctx, deviceSnapshot, event, memoryAfterJump } from './context.ts';
import { profileOf } from './power/power.ts';
import { loadImage } from './power/swap.ts';

// Local copies: imported bindings are getters under tsx/vitest transforms, and hot loops read these.
const KIND = KIND_;
const OWNER = OWNER_;
const pageToken = pageToken_;
const SLOT = SLOT_;

/** A fresh boot of the original system (no image resumed): the workload again, on a new seed; filesystems rw. */
export function freshBoot(ctx: Ctx, step: number): void {
  const s = { ...ctx.s, seed: (ctx.s.seed ^ Math.imul(step + 1, 0x9e3779b1)) >>> 0 };
  const m = initialMemory(s);
  ctx.mem = m.ok ? m.memory : undefined;
  ctx.garbage = staleGarbage(s.seed);
  ctx.memShared = false;
  ctx.memSnap = undefined;
  ctx.dev.epoch++;
  ctx.parts.swapMapAtStart(ctx.dev);
  ctx.staleSinceImage = true;
}

/** User space writes `pages` pages of a kind: existing pages of that kind first (cyclically), then free frames. */
export function writeStep(ctx: Ctx, st: Extract<Step, { op: 'write' }>, i: number): OtherRecord {
  const mem = ctx.mem as Memory;
  const kind = WORKLOAD_KIND[st.kind];
  ctx.gen++;
  const region = saveRegion(ctx.s);
  const pageCacheOnlyRegion =
    ctx.s.protocol.kind === 'kexec' && ctx.s.protocol.reservation !== 'exchange' && region !== undefined;
  const inRegion = (p: number) => region !== undefined && p >= region.start && p < region.end;
  const put = (p: number) => {
    mem.owner[p] = OWNER.ORIG;
    mem.kind[p] = kind;
    mem.content[p] = kind === KIND.ZERO ? 0 : pageToken(ctx.s.seed, p, ctx.gen + 1);
  };
  let written = 0;
  for (let p = 0; p < mem.nr && written < st.pages; p++) {
    if (mem.owner[p] === OWNER.ORIG && mem.kind[p] === kind) {
      put(p);
      written++;
    }
  }
  const pcKind = kind === KIND.PC_CLEAN || kind === KIND.PC_DIRTY;
  for (let p = mem.nr - 1; p >= 0 && written < st.pages; p--) {
    if (mem.owner[p] !== OWNER.FREE) continue;
    if (
      pageCacheOnlyRegion &&
      inRegion(p) &&
      !(pcKind && ctx.s.protocol.kind === 'kexec' && ctx.s.protocol.reservation === 'reclaimPageCache')
    )
      continue;
    put(p);
    written++;
  }
  event(ctx, i, 'write', { pages: written });
  return { kind: 'write', step: i, outcome: { op: 'write', pages: written } };
}

/** Flip one bit of one image page at rest, located through the header and map chain. */
export function corruptStep(ctx: Ctx, st: CorruptStep, i: number): OtherRecord {
  const d = decodeImage(ctx.dev, ctx.s.storage.offset);
  const rec = (applied: boolean): OtherRecord => ({ kind: 'corrupt', step: i, outcome: { op: 'corrupt', applied } });
  if (!d.ok) return rec(false);
  const dev = ctx.dev;
  const bit = 1 << (st.bit % 32);
  const img = d.image;
  switch (st.region) {
    case 'data': {
      const slots = [...img.pagesUsed].filter((p) => dev.slot[p] === SLOT.DATA);
      if (slots.length === 0) return rec(false);
      const at = slots[st.index % slots.length] as number;
      dev.tok[at] = ((dev.tok[at] as number) ^ bit) >>> 0;
      break;
    }
    case 'meta': {
      const metas = [...img.pagesUsed].filter((p) => dev.slot[p] === SLOT.META);
      const flip = metaFlipWord(metas.length, img.entries.length, st.index);
      const at = metas[flip.page];
      const words = at === undefined ? undefined : dev.metas.get(at);
      if (words === undefined || img.entries.length === 0) return rec(false);
      const w = flip.word;
      // Structured pages are shared between trace snapshots: replace, never mutate in place.
      const flipped = words.slice();
      flipped[w] = ((flipped[w] as number) ^ bit) >>> 0;
      dev.metas.set(at as number, flipped);
      break;
    }
    case 'header': {
      const infoAt = [...img.pagesUsed].find((p) => dev.slot[p] === SLOT.INFO);
      const info = infoAt === undefined ? undefined : dev.infos.get(infoAt);
      if (info === undefined) return rec(false);
      const f = INFO_FIELDS[st.index % INFO_FIELDS.length] as (typeof INFO_FIELDS)[number];
      dev.infos.set(infoAt as number, { ...info, [f]: (info[f] ^ bit) >>> 0 });
      break;
    }
    case 'map': {
      const maps = [...img.pagesUsed].filter((p) => dev.slot[p] === SLOT.MAP);
      const at = maps[flipPage(st.index, maps.length)];
      const mp = at === undefined ? undefined : dev.maps.get(at);
      const link = mapLinkBit(st.bit);
      if (mp !== undefined && link !== undefined) {
        dev.maps.set(at as number, { ...mp, next: flipLink(mp.next, link) });
        break;
      }
      if (mp === undefined || mp.count === 0) return rec(false);
      const e = flipWord(st.index, mp.count);
      const entries = mp.entries.slice();
      entries[e] = ((entries[e] as number) ^ bit) >>> 0;
      dev.maps.set(at as number, { ...mp, entries });
      break;
    }
  }
  ctx.corruptedSinceImage = true;
  event(ctx, i, 'corrupt', { bit: st.bit }, `${st.region}[${st.index}]`);
  return rec(true);
}

/** Boot with noresume: the image is left alone by the kernel, filesystems are mounted read-write (epoch moves);
 * writing the swap area means mkswap + swapon (util-linux rewrites the signature) and pages of the new system. */
export function bootNoresumeStep(ctx: Ctx, st: Extract<Step, { op: 'bootNoresume' }>, i: number): OtherRecord {
  freshBoot(ctx, i);
  if (st.writeStoragePages > 0) {
    const dev = ctx.dev;
    dev.header.set(ctx.s.storage.offset, { sig: SIG.SWAPSPACE2, origSig: '', image: 0, flags: 0, crc32: 0, epoch: 0 });
    let n = 0;
    for (let p = 0; p < dev.nr && n < st.writeStoragePages; p++) {
      if (dev.slot[p] === SLOT.SWAP_HEADER) continue;
      dev.slot[p] = SLOT.OTHER;
      dev.tok[p] = pageToken(dev.epoch, p, 3);
      n++;
    }
  }
  event(ctx, i, 'bootNoresume', { storageWrites: st.writeStoragePages });
  return { kind: 'bootNoresume', step: i, outcome: { op: 'bootNoresume' } };
}

/**
 * software_resume(): boot a loader kernel (swsusp: the same kernel at the same place; kexec: a restore kernel
 * confined to the save kernel's region), find the image and reset its signature, load it (pages in place or in
 * safe frames), and on success run the final copy and jump into the original kernel.
 */
export function resumeStep(ctx: Ctx, st: ResumeStep, i: number): ResumeRecord {
  const s = ctx.s;
  const memPages = st.memPages ?? s.machine.memPages;
  const kexec = s.protocol.kind === 'kexec';
  const bootProfile = profileOf(s, st.kernel);
  const staleSinceImage = ctx.staleSinceImage;
  const corruptedSinceImage = ctx.corruptedSinceImage;
  const base = {
    kind: 'resume' as const,
    step: i,
    memPages,
    e820Changed: st.e820Changed,
    bootKernel: bootProfile.name,
    staleSinceImage,
    corruptedSinceImage,
  };
  // the machine when the restore kernel started and when loading ended, once it got that far
  let frames: { readonly atBoot: Chunked; readonly atLoaded: Chunked } | undefined;
  const done = (r: Omit<ResumeRecord, keyof typeof base | 'storageAfter' | 'atBoot' | 'atLoaded'>): ResumeRecord => {
    const rec: ResumeRecord = { ...base, ...r, storageAfter: deviceSnapshot(ctx) };
    if (frames !== undefined) {
      holdFrames(rec, 'atBoot', frames.atBoot);
      holdFrames(rec, 'atLoaded', frames.atLoaded);
    }
    return rec;
  };
  ctx.mem = undefined; // a reboot: whatever ran is gone
  if (s.storage.kind === 'dmCrypt' && s.storage.keyAtResume !== 'same') {
    freshBoot(ctx, i);
    event(ctx, i, 'resume:refused', undefined, `dm-crypt key ${s.storage.keyAtResume}`);
    return s.storage.keyAtResume === 'missing'
      ? done({ outcome: { op: 'resume', result: 'refused', reason: 'keyUnavailable', errno: 'ENOKEY' } })
      : done({ outcome: { op: 'resume', result: 'noImage' } });
  }
  const check = ctx.parts.swsuspCheck(ctx.dev, s.storage.offset, kexec ? SIG.KEXECHIB : SIG.S1SUSPEND);
  if (!check.ok) {
    freshBoot(ctx, i);
    event(ctx, i, 'resume:noImage');
    return done({ outcome: { op: 'resume', result: 'noImage' } });
  }
  const header = check.value;
  event(ctx, i, 'resume:signatureReset');
  const refuse = (reason: Parameters<typeof refusal>[0], errno: Parameters<typeof refusal>[1], extra = {}) => {
    freshBoot(ctx, i);
    event(ctx, i, 'resume:refused', undefined, reason);
    return done({ ...extra, outcome: refusal(reason, errno) });
  };
  if (kexec && !ctx.parts.epochMatches(header, ctx.dev)) return refuse('staleImage', 'EINVAL');
  // The loader's own footprint (spec/model/boot.ts: swsusp's boot kernel where the image kernel's text sits; the
  // kexec restore kernel confined to the region): those destinations are busy.
  const own = restoreKernelFrames(s);
  const tag = ctx.dev.epoch * 7919 + i;
  const boot = bootMemory(ctx, memPages, (p) => p >= own.start && p < own.end, tag);
  const garbage = staleGarbage(tag);
  const bootMachine = {
    memPages,
    ramPages: ctx.parts.ramPages(boot),
    e820Checksum: e820Checksum(memPages, s.machine.e820, st.e820Changed),
  };
  // The machine when the restore kernel starts and when loading ends: the monitors derive the loader's writes
  // from these snapshots, not from its own lists.
  const atBoot = snapshot(boot.content, { gen: garbage });
  const lr = loadImage(ctx, boot, bootMachine, header, {
    zeroElision: bootProfile.zeroElision,
    lz4: bootProfile.lz4,
  });
  const made = ctx.records.find(
    (r): r is HibernateRecord => lr.imageId !== undefined && r.kind === 'hibernate' && r.imageId === lr.imageId,
  );
  const atLoaded = snapshot(boot.content, { refs: [chunkedOf(made?.atImage, 'content'), atBoot], gen: garbage });
  frames = { atBoot, atLoaded };
  // the loader's maps, sharing chunks with the last resume's where they are the same
  const loadOf = (stt: NonNullable<typeof lr.st>): NonNullable<ResumeRecord['load']> => {
    const l = {
      pbeSrc: stt.pbeSrc.subarray(0, stt.pbeCount),
      pbeDst: stt.pbeDst.subarray(0, stt.pbeCount),
      codeFrames: stt.codeFrames,
    };
    for (const k of ['allocated', 'written', 'imageSet'] as const)
      holdFrames(l, k, snapshot(stt[k], { refs: [chunkedOf(ctx.lastLoad, k)] }));
    ctx.lastLoad = l as NonNullable<ResumeRecord['load']>;
    return ctx.lastLoad;
  };
  if (!lr.ok) {
    const extra = {
      ...(lr.st ? { load: loadOf(lr.st) } : {}),
      ...(lr.imageId !== undefined ? { imageId: lr.imageId } : {}),
    };
    return refuse(lr.reason, lr.errno, extra);
  }
  const counter = { image: 0, exchange: 0 };
  let inImage = 0;
  for (let p = 0; p < lr.st.imageSet.length; p++) inImage += lr.st.imageSet[p] as number;
  event(ctx, i, 'resume:loaded', { inPlace: inImage - lr.st.pbeCount, viaSafePages: lr.st.pbeCount });
  ctx.parts.restoreImage(lr.st, counter);
  const after = memoryAfterJump(boot, lr.st.imageSet, readFrames(ctx.imageKinds.get(lr.imageId), 'kind'));
  const v = made?.atImage !== undefined ? verifyPages(readMemory(made.atImage), after) : { checked: 0, corrupt: 0 };
  event(ctx, i, 'resume:jumped', { copied: counter.image, pagesChecked: v.checked, pagesCorrupt: v.corrupt });
  ctx.mem = after;
  ctx.parts.swapMapAtStart(ctx.dev); // the resumed kernel's swap map is the one its image holds
  ctx.memShared = false;
  ctx.garbage = garbage;
  // the record's view: a snapshot over the image point's chunks, the boot's garbage as bits; it stands for ctx.mem
  ctx.memSnap = snapshotMemory(after, { refs: [made?.atImage], gen: garbage });
  ctx.gen++;
  return done({
    imageId: lr.imageId,
    load: loadOf(lr.st),
    after: ctx.memSnap,
    outcome: { op: 'resume', result: 'resumed', pagesChecked: v.checked, pagesCorrupt: v.corrupt },
  });
}

function refusal(
  reason: import('../spec/index.ts').RefusalReason,
  errno: import('../spec/index.ts').Errno,
): ResumeRecord['outcome'] {
  return { op: 'resume', result: 'refused', reason, errno };
}

/**
 * What the guest agent checks after resume: its own pages (anon, zero, page cache) against their content at the
 * image. Kernel pages are left to the invariants, as on a real kernel.
 */
export function verifyPages(expected: Memory, after: Memory): { checked: number; corrupt: number } {
  let checked = 0;
  let corrupt = 0;
  for (let p = 0; p < expected.nr; p++) {
    if (expected.owner[p] !== OWNER.ORIG || !isAgentKind(expected.kind[p] as number)) continue;
    checked++;
    if (after.content[p] !== expected.content[p] || after.owner[p] !== OWNER.ORIG) corrupt++;
  }
  return { checked, corrupt };
}

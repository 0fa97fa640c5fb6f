// Mirrors kernel/power/hibernate.c: hibernate() → freeze, hibernation_snapshot() (pre-allocate, devices, create_image
// → swsusp_save), swsusp_write(), power_down(); with the pm_test abort levels and test_resume.
//
// Phases: running → frozen (user space frozen, a FUSE server included: its file can no longer be written)
//   → preallocated (image ≤ ~half of RAM) → [pm_test freezer|devices|platform|processors|core: roll back]
//   → snapshot (atomic copy of every saveable page into its copy frame) → thawed devices → written → signed
//   → poweredOff.  Any error before the signature: free slots, free copies, thaw; the system keeps running.
import {
  type HibernateRecord,
  type HibernateStep,
  KIND as KIND_,
  type Memory,
  OWNER as OWNER_,
  PFN_ZERO_FLAG as PFN_ZERO_FLAG_,
  pageToken as pageToken_,
  SIG,
} from '../../spec/index.ts';
import { chunkedOf } from '../../spec/model/chunks.ts';
import {
  beginHibernation,
  type Ctx,
  carriesOn,
  event,
  ownersOf,
  type RecordInput,
  snapContent,
  snapImage,
} from '../context.ts';
import { SF_COMPRESSION_ALG_LZ4, SF_CRC32_MODE, SF_NOCOMPRESS_MODE } from './power.ts';
import { hibernatePreallocateMemory, initHeader, swsuspSave } from './snapshot.ts';
import { saveImage } from './swap.ts';

// Local copies: imported bindings are getters under tsx/vitest transforms, and hot loops read these.
const KIND = KIND_;
const OWNER = OWNER_;
const PFN_ZERO_FLAG = PFN_ZERO_FLAG_;
const pageToken = pageToken_;

const PM_TEST_LEVELS = ['freezer', 'devices', 'platform', 'processors', 'core'] as const;

/** Frames a misbehaving device writes after it was told to stop: DMA buffers first, then any in-use page. */
export function dmaVictims(mem: Memory, n: number, avoid?: { start: number; end: number }): Uint32Array {
  const out: number[] = [];
  const ok = (p: number) => mem.owner[p] === OWNER.ORIG && (avoid === undefined || p < avoid.start || p >= avoid.end);
  for (let p = 0; p < mem.nr && out.length < n; p++) if (ok(p) && mem.kind[p] === KIND.DMA) out.push(p);
  for (let p = 0; p < mem.nr && out.length < n; p++) if (ok(p) && mem.kind[p] !== KIND.DMA) out.push(p);
  return Uint32Array.from(out);
}

export function dmaWrite(mem: Memory, frames: Uint32Array, seed: number): void {
  for (const p of frames) mem.content[p] = pageToken(seed ^ 0xd1a, p, 99);
}

/** Data pages of the stream: the content of each unflagged entry, in list order. */
export function imageData(entries: Uint32Array, dataPages: number, contentAt: (index: number) => number): Uint32Array {
  const data = new Uint32Array(dataPages);
  let d = 0;
  for (let k = 0; k < entries.length && d < dataPages; k++) {
    if (((entries[k] as number) & PFN_ZERO_FLAG) === 0) data[d++] = contentAt(k);
  }
  return data;
}

/** hibernate() for the swsusp protocol (sysfs `echo disk`, or uswsusp through /dev/snapshot: same stream). */
export function swsuspHibernate(ctx: Ctx, st: HibernateStep, i: number): HibernateRecord {
  const s = ctx.s;
  if (s.protocol.kind !== 'swsusp') throw new Error('swsuspHibernate: not a swsusp scenario');
  const { mem, imageId, copies, bio, rec } = beginHibernation(ctx, st, i);
  const running = () => carriesOn(ctx);

  // freeze_processes() (SNAPSHOT_FREEZE for uswsusp): a FUSE server is frozen like any other task.
  event(ctx, i, 'frozen');
  const limits = { saveable: 0, maxSize: 0 };
  const pre = hibernatePreallocateMemory(mem, s, limits);
  if (!pre.ok) {
    ctx.parts.swsuspFree(mem);
    event(ctx, i, 'preallocate:failed', limits);
    return rec({
      ...running(),
      outcome: { op: 'hibernate', result: 'failed', errno: pre.errno, phase: 'preallocate' },
    });
  }
  event(ctx, i, 'preallocated', {
    copyFrames: pre.value.copyFrames.length,
    droppedCleanCache: pre.value.dropped,
    ...limits,
  });
  const level = PM_TEST_LEVELS.find((l) => l === st.abortAt);
  if (level !== undefined) {
    ctx.parts.swsuspFree(mem);
    event(ctx, i, `pm_test:${level}`);
    return rec({ ...running(), outcome: { op: 'hibernate', result: 'aborted', at: level } });
  }
  // create_image(): devices frozen, interrupts off; a device that was not quiesced may still write.
  const atImage = snapImage(ctx, mem);
  const rogue = ctx.parts.framesDmaAfterStop(mem);
  if (rogue.length > 0) dmaWrite(mem, rogue, s.seed);
  const saved = swsuspSave(mem, pre.value.copyFrames, ctx.parts.saveableFrames, copies);
  if (!saved.ok) {
    ctx.parts.swsuspFree(mem);
    return rec({
      ...running(),
      atImage,
      outcome: { op: 'hibernate', result: 'failed', errno: saved.errno, phase: 'snapshot' },
    });
  }
  const pfns = saved.value;
  // The k-th saved page sits in the k-th copy frame.
  const copyFrames = pre.value.copyFrames;
  const fromCopy = (_p: number, k: number) => mem.content[copyFrames[k] as number] as number;
  const packed = ctx.parts.packPfns(pfns, fromCopy, ctx.profile.zeroElision);
  const data = imageData(packed.entries, packed.dataPages, (k) => mem.content[copyFrames[k] as number] as number);
  event(ctx, i, 'snapshot', {
    saved: pfns.length,
    dataPages: packed.dataPages,
    zeroPages: pfns.length - packed.dataPages,
  });
  // A device that keeps doing DMA after the snapshot (the scenario's fault) changes saved pages.
  if ((st.dmaAfterStopPages ?? 0) > 0) dmaWrite(mem, dmaVictims(mem, st.dmaAfterStopPages ?? 0), s.seed);

  // swsusp_write(): devices thawed for the write.
  const compression = s.protocol.compression === 'lz4' && !ctx.profile.lz4 ? 'lzo' : s.protocol.compression;
  const flags =
    compression === 'none' ? SF_NOCOMPRESS_MODE : SF_CRC32_MODE | (compression === 'lz4' ? SF_COMPRESSION_ALG_LZ4 : 0);
  const info = initHeader(ctx, ownersOf(atImage), packed, imageId);
  if (s.storage.kind === 'fuseFile') {
    ctx.parts.swsuspFree(mem);
    return fuseTargetWrite(ctx, i, rec, running, atImage);
  }
  const w = saveImage(ctx, bio, {
    info,
    entries: packed.entries,
    data,
    flags,
    sig: SIG.S1SUSPEND,
    epoch: ctx.dev.epoch,
    commit: 'swsusp',
  });
  const afterWrite = snapContent(ctx, mem.content, chunkedOf(atImage, 'content'));
  if (!w.ok) {
    event(ctx, i, w.powerLost ? 'powerLost' : 'write:failed', { writes: w.writes, ...w.geometry }, w.errno);
    if (w.powerLost) {
      ctx.mem = undefined;
      return rec({ atImage, afterWrite, outcome: { op: 'hibernate', result: 'powerLost', writes: w.writes } });
    }
    ctx.parts.swsuspFree(mem);
    if (!ctx.parts.returnOnWriteError) {
      ctx.mem = undefined;
      return rec({
        atImage,
        afterWrite,
        outcome: { op: 'hibernate', result: 'failed', errno: w.errno, phase: 'write' },
      });
    }
    return rec({
      ...running(),
      atImage,
      afterWrite,
      outcome: { op: 'hibernate', result: 'failed', errno: w.errno, phase: 'write' },
    });
  }
  event(ctx, i, 'written', { writes: w.stats.writes, ...w.geometry });
  ctx.parts.swsuspFree(mem);
  ctx.imageKinds.set(imageId, atImage);
  ctx.corruptedSinceImage = false;
  ctx.staleSinceImage = false;
  if (st.abortAt === 'testResume') {
    // test_resume: swsusp_check() resets the signature, the image is read back and restored in the same boot.
    ctx.parts.swsuspCheck(ctx.dev, s.storage.offset, SIG.S1SUSPEND);
    ctx.parts.swapMapAtStart(ctx.dev); // the restored snapshot's swap map predates the image's slots
    event(ctx, i, 'test_resume');
    return rec({
      ...running(),
      atImage,
      afterWrite,
      outcome: { op: 'hibernate', result: 'aborted', at: 'testResume', image: w.stats },
    });
  }
  ctx.mem = undefined;
  event(ctx, i, 'poweredOff');
  return rec({ atImage, afterWrite, outcome: { op: 'hibernate', result: 'poweredOff', image: w.stats } });
}

/**
 * The image's write to a file on FUSE (the 2007 proposal's argument against the freezer), as measured on Debian 6.1
 * and 6.12 (vm/README.md): sysfs: the kernel refused swapon on the FUSE file at boot (a plain FUSE mount has no
 * bmap), so swsusp_write() finds no swap device (swsusp_swap_check: -ENODEV) and hibernate() thaws; uswsusp: the
 * writer's first write() into the file is a FUSE request to a server SNAPSHOT_FREEZE froze, so it waits forever and
 * the machine hangs with the snapshot in memory (crash cause fuseServerFrozen; the run ends there).
 */
function fuseTargetWrite(
  ctx: Ctx,
  i: number,
  rec: (r: RecordInput) => HibernateRecord,
  running: () => Pick<HibernateRecord, 'after'>,
  atImage: Memory,
): HibernateRecord {
  const p = ctx.s.protocol;
  if (p.kind === 'swsusp' && p.interface === 'sysfs') {
    event(ctx, i, 'write:failed', undefined, 'no swap device: swapon refused the FUSE file');
    return rec({
      ...running(),
      atImage,
      outcome: { op: 'hibernate', result: 'failed', errno: 'ENODEV', phase: 'write' },
    });
  }
  event(ctx, i, 'write:blocked', undefined, 'the image writer waits for the frozen FUSE server');
  ctx.mem = undefined;
  return rec({
    atImage,
    outcome: {
      op: 'hibernate',
      result: 'crashed',
      at: 'hibernating',
      boot: 'hang',
      title: 'the image writer waits for the frozen FUSE server',
      cause: 'fuseServerFrozen',
    },
  });
}

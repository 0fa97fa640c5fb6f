// What an observer outside the kernel sees of a model run, in the vocabulary both targets report (outcome.ts
// HibernateFacts): storage read back by the spec's own decoder (image.ts, no code shared with impl/'s writer), and
// the original system's check of its own pages as the guest agent checks them (agent kinds only). A real run
// reports the same facts from its agent, its NBD server and vm/image; observed.ts judges both the same way.

import type {
  Compressor,
  FaultState,
  HibernateFacts,
  ImageCheck,
  ImageStats,
  MemoryCheck,
  StepOutcome,
  StorageFacts,
  TaggedCheck,
} from '../outcome.ts';
import type { Scenario } from '../scenario/schema.ts';
import { hasFrames, readFrames, readMemory } from './chunks.ts';
import {
  type DecodedImage,
  decodeSnapshot,
  infoDigest,
  isSigned,
  KF_CRC_ALL,
  SF_COMPRESSION_ALG_LZ4,
  SF_CRC32_MODE,
  SF_NOCOMPRESS_MODE,
} from './image.ts';
import { nosaveMap, saveRegion } from './init.ts';
import { type BlockDevice, isAgentKind, KIND as KIND_, type Memory, OWNER as OWNER_ } from './state.ts';
import { crcUpdate as crcUpdate_, digestWords } from './tokens.ts';
import type { HibernateRecord, RunTrace, StepRecord } from './trace.ts';

// Local copies: imported bindings are getters under tsx/vitest transforms, and hot loops read these.
const crcUpdate = crcUpdate_;
const KIND = KIND_;
const OWNER = OWNER_;
const PFN_MASK = 0x7fffffff;

/** What the header's flags say the writer used: the kexec container and nocompress store pages as they are. */
export function compressorOf(flags: number): Compressor {
  if ((flags & (KF_CRC_ALL | SF_NOCOMPRESS_MODE)) !== 0) return 'none';
  return (flags & SF_COMPRESSION_ALG_LZ4) !== 0 ? 'lz4' : 'lzo';
}

/** The CRC of a decoded stream as its flags define it (swsusp: meta + data pages; kexec: the info page too). */
function streamCrcOf(dev: BlockDevice, img: DecodedImage): number {
  let c = 0;
  if ((img.header.flags & KF_CRC_ALL) !== 0) c = crcUpdate(c, infoDigest(img.info));
  const nrMeta = img.info.pages - img.info.imagePages - 1;
  const streamAt = img.pagesUsed.length - img.info.pages; // pagesUsed: map pages, then the stream
  for (let m = 1; m <= nrMeta; m++) {
    const words = dev.metas.get(img.pagesUsed[streamAt + m] as number);
    if (words !== undefined) c = crcUpdate(c, digestWords(words));
  }
  const data = img.data;
  for (let k = 0; k < data.length; k++) c = crcUpdate(c, data[k] as number);
  return c;
}

const NO_STATS: ImageStats = { dataPages: 0, zeroPages: 0, metaPages: 0, streamPages: 0, writes: 0 };

/** Per kind: 1 if the agent owns pages of that kind (isAgentKind as a table, for the loops over every frame). */
const AGENT = Uint8Array.from({ length: 256 }, (_, k) => (isAgentKind(k) ? 1 : 0));
const NO_MEMORY: Memory = { nr: 0, content: new Uint32Array(0), owner: new Uint8Array(0), kind: new Uint8Array(0) };

/**
 * One pass over the PFN list: strict ascent, PFNs outside RAM, and the agent's pages of `atImage` (present once, at
 * their PFN, with their contents). A `seen` map is built only once the list stops ascending (duplicates possible).
 */
function scanEntries(
  img: DecodedImage,
  nosave: Uint8Array,
  atImage: Memory | undefined,
): { ascending: boolean; nosavePfns: number; tagged?: TaggedCheck } {
  const { entries, data } = img;
  const { nr, owner, kind, content } = readMemory(atImage) ?? NO_MEMORY;
  const orig = OWNER.ORIG;
  const nNosave = nosave.length;
  let ascending = true;
  let prev = -1;
  let nosavePfns = 0;
  let found = 0;
  let duplicated = 0;
  let wrongData = 0;
  let k = 0;
  let seen: Uint8Array | undefined;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as number;
    const pfn = e & PFN_MASK;
    const tok = e === pfn ? (data[k++] as number) : 0; // bit 31 set: a zero page without a data page
    if (pfn <= prev && seen === undefined) {
      ascending = false;
      seen = new Uint8Array(nr);
      for (let j = 0; j < i; j++) {
        const q = (entries[j] as number) & PFN_MASK;
        if (q < nr) seen[q] = 1;
      }
    }
    prev = pfn;
    if (pfn >= nNosave || nosave[pfn] === 1) nosavePfns++;
    if (pfn >= nr || owner[pfn] !== orig || AGENT[kind[pfn] as number] === 0) continue;
    if (seen !== undefined) {
      if (seen[pfn] === 1) {
        duplicated++;
        continue;
      }
      seen[pfn] = 1;
    }
    found++;
    if (tok !== content[pfn]) wrongData++;
  }
  if (atImage === undefined) return { ascending, nosavePfns };
  let expected = 0;
  for (let p = 0; p < nr; p++) if (owner[p] === orig) expected += AGENT[kind[p] as number] as number;
  return { ascending, nosavePfns, tagged: { expected, missing: expected - found, duplicated, wrongData } };
}

/** The frames a nosave map marks. */
function nosaveCount(nosave: Uint8Array): number {
  let n = 0;
  for (let p = nosave.indexOf(1); p >= 0; p = nosave.indexOf(1, p + 1)) n++;
  return n;
}

/**
 * The image signed at `offset`, checked by a reader that shares no code with the writer: decoded end to end, the
 * CRC where the flags ask for one, the PFN list's order and counts, PFNs outside the machine's RAM, and the agent's
 * pages of `atImage` (the memory the image was made from, when known). When the image does not decode, only
 * `complete`, `problem` and `compressor` carry information. `dev` is a snapshot (decodes are memoised per snapshot).
 */
export function checkImage(dev: BlockDevice, offset: number, nosave: Uint8Array, atImage?: Memory): ImageCheck {
  const compressor = compressorOf(dev.header.get(offset)?.flags ?? 0);
  const d = decodeSnapshot(dev, offset);
  if (!d.ok) {
    return {
      complete: false,
      problem: `${d.error}: ${d.detail}`,
      compressor,
      stats: NO_STATS,
      pfnsAscending: false,
      countsConsistent: false,
      nosavePfns: 0,
    };
  }
  const img = d.image;
  const { header, info, entries, data } = img;
  const nrMeta = info.pages - info.imagePages - 1;
  const crcOk = (header.flags & (SF_CRC32_MODE | KF_CRC_ALL)) === 0 || streamCrcOf(dev, img) === header.crc32;
  const scan = scanEntries(img, nosave, atImage);
  return {
    complete: crcOk,
    ...(crcOk ? {} : { problem: 'the CRC of the stream differs from the header' }),
    compressor,
    stats: {
      dataPages: data.length,
      zeroPages: entries.length - data.length,
      metaPages: nrMeta,
      streamPages: info.pages,
      writes: img.pagesUsed.length + 1,
    },
    pfnsAscending: scan.ascending,
    countsConsistent: data.length === info.imagePages && nrMeta === Math.ceil(entries.length / 512),
    nosavePfns: scan.nosavePfns,
    physpages: { header: info.numPhyspages, machine: nosave.length - nosaveCount(nosave) },
    ...(scan.tagged ? { tagged: scan.tagged } : {}),
  };
}

/**
 * The original system's check of its own pages after it came back from a failed or aborted hibernation: agent-kind
 * pages in use before the request, each unchanged or legitimately dropped (clean page cache; dirty page cache the
 * protocol wrote back). `after` undefined: the system never came back, every page is lost. `box`: the save kernel's
 * region, to count the pages outside it that changed (SaveKernelStaysInItsBox).
 */
export function agentMemoryCheck(
  beforeSnap: Memory,
  afterSnap: Memory | undefined,
  writtenBack: (p: number) => boolean,
  box?: { readonly start: number; readonly end: number },
): MemoryCheck {
  const before = readMemory(beforeSnap);
  const after = readMemory(afterSnap);
  let checked = 0;
  let corrupt = 0;
  let outside = 0;
  const bo = before.owner;
  const bk = before.kind;
  const bc = before.content;
  for (let p = 0; p < before.nr; p++) {
    const k = bk[p] as number;
    if (bo[p] !== OWNER.ORIG || AGENT[k] === 0) continue;
    checked++;
    if (after === undefined) continue;
    const kept = after.owner[p] === OWNER.ORIG && after.content[p] === bc[p];
    const dropped = after.owner[p] !== OWNER.ORIG && (k === KIND.PC_CLEAN || (k === KIND.PC_DIRTY && writtenBack(p)));
    if (kept || dropped) continue;
    corrupt++;
    if (box !== undefined && (p < box.start || p >= box.end)) outside++;
  }
  if (after === undefined) return { checked, corrupt: checked };
  return box === undefined ? { checked, corrupt } : { checked, corrupt, corruptOutside: outside };
}

function allocatedSlots(dev: BlockDevice): number {
  let n = 0;
  const a = readFrames<Uint8Array>(dev, 'allocated') as Uint8Array;
  for (let i = 0; i < a.length; i++) n += a[i] as number;
  return n;
}

/** Dirty page cache the protocol writes back to its files and drops: the kexec page-cache region. */
function writtenBackIn(s: Scenario): (p: number) => boolean {
  const reg = saveRegion(s);
  if (s.protocol.kind !== 'kexec' || s.protocol.reservation !== 'reclaimPageCache' || reg === undefined)
    return () => false;
  return (p) => p >= reg.start && p < reg.end;
}

/** Images of at least this many PFNs are checked on first read (see storageFacts). */
const LAZY_CHECK_ENTRIES = 1 << 16;

/**
 * What a reader of the storage sees after a step: the signature, and the image checked when one is signed. The
 * check reads every PFN and data page: about 6% of a hibernate + resume cycle at 16 GiB, so an image of 64 Ki PFNs
 * or more is checked on first read of `image` and the result kept (a run whose observation no monitor reads pays
 * nothing). Smaller images are checked at once: for them an accessor costs more than the check (measured).
 */
export function storageFacts(
  t: RunTrace,
  dev: BlockDevice,
  nosave: () => Uint8Array,
  withImage: boolean,
): StorageFacts {
  const off = t.scenario.storage.offset;
  const signed = isSigned(dev.header.get(off));
  if (!signed || !withImage) return { signed };
  const d = decodeSnapshot(dev, off); // memoised: the trace monitors decoded this snapshot already
  const id = d.ok ? d.image.info.imageId : undefined;
  const big = d.ok && d.image.entries.length >= LAZY_CHECK_ENTRIES;
  // the lazy check holds the snapshot, not its decode (decodeSnapshot decodes it again when the memo let it go)
  const check = (): ImageCheck => {
    const made = t.records.find((r): r is HibernateRecord => r.kind === 'hibernate' && r.imageId === id);
    return checkImage(dev, off, nosave(), made?.atImage);
  };
  if (!big) return { signed, image: check() };
  let image: ImageCheck | undefined;
  const facts = { signed };
  Object.defineProperty(facts, 'image', { enumerable: true, get: () => (image ??= check()) });
  return facts;
}

function hibernateFacts(t: RunTrace, r: HibernateRecord, fault: FaultState | undefined, nosave: () => Uint8Array) {
  const o = r.outcome;
  const facts: { -readonly [K in keyof HibernateFacts]: HibernateFacts[K] } = {};
  if (fault !== undefined) facts.fault = fault;
  facts.storage = storageFacts(t, r.storageAfter, nosave, true);
  if (o.op === 'hibernate' && (o.result === 'failed' || o.result === 'aborted')) {
    // the save kernel's box after it ran and the original kernel came back from an abort (as the trace monitor)
    const ran = hasFrames(r, 'atJump') && r.after !== undefined && o.result === 'aborted';
    const box = ran ? saveRegion(t.scenario) : undefined;
    facts.memory = agentMemoryCheck(r.before, r.after, writtenBackIn(t.scenario), box);
  }
  if (o.op === 'hibernate' && o.result === 'failed') {
    facts.slotsLeaked = Math.max(0, allocatedSlots(r.storageAfter) - allocatedSlots(r.storageBefore));
  }
  return facts;
}

/**
 * The observation's steps of a model run: each record's outcome with the facts an outside observer would report.
 * `faults`: per hibernate step that scheduled a write fault, whether it hit a write (the block device knows).
 */
export function observedSteps(t: RunTrace, faults: ReadonlyMap<number, FaultState>): StepOutcome[] {
  let nosave: Uint8Array | undefined;
  const nosaveOf = () => {
    nosave ??= nosaveMap(t.scenario.machine.memPages, t.scenario.machine.e820);
    return nosave;
  };
  return t.records.map((r: StepRecord): StepOutcome => {
    const o = r.outcome;
    if (r.kind === 'hibernate' && o.op === 'hibernate' && o.result !== 'crashed') {
      return { ...o, ...hibernateFacts(t, r, faults.get(r.step), nosaveOf) };
    }
    if (r.kind === 'resume' && o.op === 'resume' && o.result === 'resumed') {
      return { ...o, storageAfter: storageFacts(t, r.storageAfter, nosaveOf, false) };
    }
    return o;
  });
}

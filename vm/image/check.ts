// Semantic checks on a parsed swsusp image (§1.9 step 7) as Violations, and the agent-tag scan over its data pages.
import type { InvariantName } from '../../spec/invariants/names.ts';
import type { PfnRange } from '../../spec/machine.ts';
import type { Violation } from '../../spec/outcome.ts';
import { ceilDiv, PAGE_SIZE } from './format.ts';
import type { SwsuspImage } from './parse.ts';

export type { PfnRange } from '../../spec/machine.ts';

export interface CheckOptions {
  /** the target's saveable frames (RAM minus registered nosave) as PFN ranges; when given, every saved PFN must lie inside one */
  readonly ramRanges?: readonly PfnRange[];
  /** when given, the image must hold each of these PFNs exactly once, and no other */
  readonly expectedPfns?: Iterable<number>;
  /**
   * false for a resume kernel before 6.6 (6.1), which has no zero-page flag: bit 63 makes pfn_valid() fail and the
   * resume is refused with -EFAULT (default true)
   */
  readonly zeroFlagAllowed?: boolean;
  /** step index to stamp on every violation */
  readonly step?: number;
  /** at most this many violations per kind of problem (default 5); the last one says how many were left out */
  readonly maxPerCheck?: number;
}

/**
 * Check that each page was saved exactly once and the image is intact:
 * - CRC: when the kernel would compare it, expected === actual; a compressed image carries SF_CRC32_MODE
 *   (CorruptImageNeverResumed);
 * - x86-64 restore magic present, orig_sig a swap magic, size === pages × PAGE_SIZE (CorruptImageNeverResumed);
 * - with zeroFlagAllowed: false (a 6.1 resume kernel), no entry carries bit 63 (MismatchedImageRefused);
 * - PFNs strictly ascending (so unique);
 * - the ~0 terminator only in the last metadata page, zeros after it (so every earlier page is full);
 * - nr_meta === ceil(entries × 8 / PAGE_SIZE);
 * - unflagged entries === image_pages, data pages produced === image_pages;
 * - no device page stores two things (header, map pages, stream pages);
 * - optionally: every PFN inside `ramRanges` (NosaveNeverSaved: non-RAM is nosave), and the PFN set equal to
 *   `expectedPfns` (EveryPageSavedOnce).
 * @returns every violation found (empty when the image is well-formed); never throws on bad data.
 * @see EveryPageSavedOnce, CorruptImageNeverResumed, NosaveNeverSaved, MismatchedImageRefused
 */
export function checkSwsuspImage(image: SwsuspImage, opts: CheckOptions = {}): Violation[] {
  const out: Violation[] = [];
  const cap = opts.maxPerCheck ?? 5;
  const add = (invariant: InvariantName, message: string, expected?: string, actual?: string): void => {
    out.push({
      invariant,
      message,
      ...(opts.step === undefined ? {} : { step: opts.step }),
      ...(expected === undefined ? {} : { expected }),
      ...(actual === undefined ? {} : { actual }),
    });
  };
  // Reports the first `cap` problems of one kind and a summary of the rest.
  const capped = (invariant: InvariantName) => {
    let n = 0;
    return {
      report(message: string, expected?: string, actual?: string): void {
        n++;
        if (n <= cap) add(invariant, message, expected, actual);
      },
      finish(what: string): void {
        if (n > cap) add(invariant, `${n - cap} more ${what} not listed (${n} in total)`);
      },
    };
  };
  const { info, header, crc } = image;
  const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

  // Integrity of the stream.
  if (crc.checked && !crc.match) {
    add('CorruptImageNeverResumed', 'image CRC32 does not match the stream', hex(crc.expected ?? 0), hex(crc.actual));
  }
  if (header.flags.compression !== 'none' && !header.flags.crc32Mode) {
    add('CorruptImageNeverResumed', 'compressed image without SF_CRC32_MODE: nothing checks its integrity');
  }
  if (!info.archMagicOk) {
    add(
      'CorruptImageNeverResumed',
      'x86-64 restore_data_record magic is wrong',
      '0x23456789abcdef02',
      `0x${info.archMagic.toString(16)}`,
    );
  }
  if (header.origSig !== 'SWAPSPACE2' && header.origSig !== 'SWAP-SPACE') {
    add(
      'CorruptImageNeverResumed',
      'orig_sig is not a swap magic (mark_swapfiles copies it from a swap header)',
      'SWAPSPACE2',
      JSON.stringify(header.origSig),
    );
  }
  if (info.size !== info.pages * PAGE_SIZE) {
    add(
      'CorruptImageNeverResumed',
      'swsusp_info.size is not pages << PAGE_SHIFT',
      String(info.pages * PAGE_SIZE),
      String(info.size),
    );
  }

  // PFN order: strictly ascending rules out duplicates.
  const order = capped('EveryPageSavedOnce');
  for (let i = 1; i < image.pfns.length; i++) {
    const a = image.pfns[i - 1] ?? 0;
    const b = image.pfns[i] ?? 0;
    if (b <= a) {
      order.report(
        `PFN list not strictly ascending at entry ${i}${b === a ? ' (duplicate)' : ''}`,
        `> ${a}`,
        String(b),
      );
    }
  }
  order.finish('out-of-order PFN entries');

  // Terminator placement: pack_pfns fills every page but the last, which ends with ~0 unless full.
  const last = image.meta.length - 1;
  image.meta.forEach((m, i) => {
    if (i < last && m.terminatorAt !== undefined) {
      add(
        'EveryPageSavedOnce',
        `end-of-map marker in metadata page ${i} of ${image.meta.length} (not the last)`,
        'none',
        `word ${m.terminatorAt}`,
      );
    }
    if (m.nonZeroAfterTerminator > 0) {
      add(
        'EveryPageSavedOnce',
        `metadata page ${i} has non-zero words after the end-of-map marker`,
        '0',
        String(m.nonZeroAfterTerminator),
      );
    }
  });

  if (opts.zeroFlagAllowed === false) {
    const flagged = image.zeroFlags.reduce((n, z) => (z ? n + 1 : n), 0);
    if (flagged > 0) {
      add(
        'MismatchedImageRefused',
        'zero-flagged PFN entries (6.6+ format) for a resume kernel without the flag',
        '0',
        String(flagged),
      );
    }
  }

  // Counts (swsusp_save / load_header).
  const entries = image.pfns.length;
  const wantMeta = ceilDiv(entries * 8, PAGE_SIZE);
  if (image.nrMeta !== wantMeta) {
    add(
      'EveryPageSavedOnce',
      `nr_meta_pages does not fit ${entries} PFN entries`,
      String(wantMeta),
      String(image.nrMeta),
    );
  }
  const unflagged = image.zeroFlags.reduce((n, z) => (z ? n : n + 1), 0);
  if (unflagged !== info.imagePages) {
    add(
      'EveryPageSavedOnce',
      'PFN entries without the zero flag differ from image_pages',
      String(info.imagePages),
      String(unflagged),
    );
  }
  if (image.dataPages.length !== info.imagePages) {
    add(
      'EveryPageSavedOnce',
      'data pages produced differ from image_pages',
      String(info.imagePages),
      String(image.dataPages.length),
    );
  }

  // Storage: each device page holds one thing.
  const owner = new Map<number, string>([[header.resumePage, 'swsusp_header']]);
  const reuse = capped('EveryPageSavedOnce');
  const claim = (page: number, what: string): void => {
    const prev = owner.get(page);
    if (prev !== undefined) reuse.report(`device page ${page} stores both ${prev} and ${what}`);
    else owner.set(page, what);
  };
  image.mapPages.forEach((p, i) => {
    claim(p, `swap-map page ${i}`);
  });
  for (const c of image.chunks) for (const p of c.devicePages) claim(p, `stream page ${c.firstStreamPage}`);
  reuse.finish('reused device pages');

  // Target RAM.
  if (opts.ramRanges !== undefined) {
    const ranges = [...opts.ramRanges].sort((x, y) => x.start - y.start);
    const inRam = (pfn: number): boolean => {
      let lo = 0;
      let hi = ranges.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const r = ranges[mid];
        if (r === undefined) return false;
        if (pfn < r.start) hi = mid - 1;
        else if (pfn >= r.end) lo = mid + 1;
        else return true;
      }
      return false;
    };
    const outside = capped('NosaveNeverSaved');
    image.pfns.forEach((pfn, i) => {
      if (!inRam(pfn)) outside.report(`PFN ${pfn} (entry ${i}) is not in target RAM`);
    });
    outside.finish('PFNs outside RAM');
  }

  // Expected set.
  if (opts.expectedPfns !== undefined) {
    const expected = new Set(opts.expectedPfns);
    const seen = new Map<number, number>();
    for (const pfn of image.pfns) seen.set(pfn, (seen.get(pfn) ?? 0) + 1);
    const missing = capped('EveryPageSavedOnce');
    for (const pfn of expected) if (!seen.has(pfn)) missing.report(`expected PFN ${pfn} is not in the image`);
    missing.finish('missing PFNs');
    const extra = capped('EveryPageSavedOnce');
    const twice = capped('EveryPageSavedOnce');
    for (const [pfn, n] of seen) {
      if (!expected.has(pfn)) extra.report(`PFN ${pfn} is in the image but was not expected`);
      else if (n > 1) twice.report(`PFN ${pfn} is saved ${n} times`, '1', String(n));
    }
    extra.finish('unexpected PFNs');
    twice.finish('PFNs saved more than once');
  }
  return out;
}

/** What the guest agent writes into a page it owns (vm/guest/agent.c decides the byte layout). */
export interface AgentTag {
  readonly id: number;
  readonly index: number;
  readonly generation: number;
  /** whether the whole page matched what the agent wrote (undefined: not verified) */
  readonly intact?: boolean;
}

/** Recognises an agent-tagged page; undefined for any other page. */
export type TagMatcher<T extends AgentTag = AgentTag> = (page: Uint8Array) => T | undefined;

export interface TaggedPage<T extends AgentTag = AgentTag> {
  readonly pfn: number;
  /** index among the data pages */
  readonly dataIndex: number;
  readonly tag: T;
}

/**
 * Find agent-tagged pages among the data pages, pairing data page k with the k-th PFN whose zero flag is clear
 * (§1.9 step 8). Zero pages have no data and cannot carry a tag.
 */
export function findTaggedPages<T extends AgentTag>(image: SwsuspImage, match: TagMatcher<T>): TaggedPage<T>[] {
  const found: TaggedPage<T>[] = [];
  let k = 0;
  for (let i = 0; i < image.pfns.length; i++) {
    if (image.zeroFlags[i]) continue;
    const page = image.dataPages[k];
    const pfn = image.pfns[i];
    if (page === undefined || pfn === undefined) break;
    const tag = match(page);
    if (tag !== undefined) found.push({ pfn, dataIndex: k, tag });
    k++;
  }
  return found;
}

export interface ExpectedTags {
  readonly id: number;
  /** tags 0..count-1 must each be present once */
  readonly count: number;
  readonly generation: number;
}

/**
 * Every page the agent tagged (id, indices 0..count-1, generation) must be in the image exactly once and carry
 * the expected generation (a stale generation means a page was saved from an older state); a tag whose body
 * was verified and differs is a ResumeRestoresIdenticalMemory violation (a resume would restore it wrong).
 * @see EveryPageSavedOnce, ResumeRestoresIdenticalMemory
 */
export function checkAgentTags(
  found: readonly TaggedPage[],
  want: ExpectedTags,
  opts: { step?: number; maxPerCheck?: number } = {},
): Violation[] {
  const out: Violation[] = [];
  const cap = opts.maxPerCheck ?? 5;
  const byIndex = new Map<number, TaggedPage[]>();
  for (const f of found) {
    if (f.tag.id !== want.id) continue;
    const list = byIndex.get(f.tag.index) ?? [];
    list.push(f);
    byIndex.set(f.tag.index, list);
  }
  const problems: { invariant?: InvariantName; message: string; expected?: string; actual?: string }[] = [];
  for (let i = 0; i < want.count; i++) {
    const list = byIndex.get(i) ?? [];
    if (list.length === 0) problems.push({ message: `agent page ${want.id}/${i} is not in the image` });
    else if (list.length > 1) {
      problems.push({
        message: `agent page ${want.id}/${i} is in the image ${list.length} times (PFNs ${list.map((f) => f.pfn).join(', ')})`,
        expected: '1',
        actual: String(list.length),
      });
    } else if (list[0]?.tag.intact === false) {
      problems.push({
        invariant: 'ResumeRestoresIdenticalMemory',
        message: `agent page ${want.id}/${i} at PFN ${list[0].pfn}: the saved copy differs from what the agent wrote`,
      });
    } else if (list[0]?.tag.generation !== want.generation) {
      problems.push({
        message: `agent page ${want.id}/${i} has a stale generation`,
        expected: String(want.generation),
        actual: String(list[0]?.tag.generation),
      });
    }
  }
  for (const index of byIndex.keys()) {
    if (index < 0 || index >= want.count)
      problems.push({ message: `agent page ${want.id}/${index} is out of range 0..${want.count - 1}` });
  }
  for (const p of problems.slice(0, cap)) {
    out.push({
      invariant: p.invariant ?? 'EveryPageSavedOnce',
      message: p.message,
      ...(opts.step === undefined ? {} : { step: opts.step }),
      ...(p.expected === undefined ? {} : { expected: p.expected }),
      ...(p.actual === undefined ? {} : { actual: p.actual }),
    });
  }
  if (problems.length > cap)
    out.push({
      invariant: 'EveryPageSavedOnce',
      message: `${problems.length - cap} more agent-page problems not listed (${problems.length} in total)`,
      ...(opts.step === undefined ? {} : { step: opts.step }),
    });
  return out;
}

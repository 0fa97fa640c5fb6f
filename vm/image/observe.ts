// Storage facts of a real run (spec/outcome.ts StorageFacts, ImageCheck): is an image signed on the swap disk, and
// what an independent reader finds in it. One parser (parse.ts), one checker (check.ts), the agent's tag matcher
// (agent-tag.ts); the guest's own memory map comes from its console (BIOS-e820 lines).
import { closeSync, openSync, readSync } from 'node:fs';
import type { ImageCheck, ImageStats, StorageFacts, TaggedCheck } from '../../spec/outcome.ts';
import { AGENT_KIND_ANON, agentTagMatcher } from './agent-tag.ts';
import { checkSwsuspImage, findTaggedPages, type PfnRange } from './check.ts';
import { decryptingReader } from './dmcrypt.ts';
import { type Extent, imagePagesOutside } from './extents.ts';
import { HIBERNATE_SIG, PAGE_SIZE, type PageReader } from './format.ts';
import { decodeSwsuspHeader, imageStats, parseSwsuspImage, type SwsuspImage } from './parse.ts';

export { parseE820Ram } from '../console/e820.ts';

/** The agent's mlocked anon pages (agent.c fill/rewrite): every one must be in an image exactly once. */
export interface AgentPages {
  /** hibfuzz.id (plan.ts scenarioIdHash) */
  readonly id: number;
  readonly seed: number;
  /** generation of anon page i at the snapshot (how often the program's writes rewrote it) */
  readonly generations: readonly number[];
}

/** Generations of `anon` pages after writes of these sizes (agent.c rewrite: page k % anon, in order). */
export function anonGenerations(anon: number, writes: readonly number[]): number[] {
  const gen = new Array<number>(anon).fill(0);
  if (anon === 0) return gen;
  for (const n of writes) {
    const rounds = Math.floor(n / anon);
    for (let i = 0; i < anon; i++) gen[i] = (gen[i] ?? 0) + rounds + (i < n % anon ? 1 : 0);
  }
  return gen;
}

/** The agent's pages as found among the image's data pages. */
export function taggedCheck(image: SwsuspImage, agent: AgentPages): TaggedCheck {
  const found = findTaggedPages(image, agentTagMatcher({ seed: agent.seed, id: agent.id }));
  const n = agent.generations.length;
  // per anon index: how often it was found, and the first find
  const count = new Uint32Array(n);
  const first: ((typeof found)[number] | undefined)[] = new Array(n);
  for (const f of found) {
    const i = f.tag.index;
    if (f.tag.kind !== AGENT_KIND_ANON || i >= n) continue;
    if (count[i] === 0) first[i] = f;
    count[i] = (count[i] ?? 0) + 1;
  }
  let missing = 0;
  let duplicated = 0;
  let wrongData = 0;
  for (let i = 0; i < n; i++) {
    const c = count[i] ?? 0;
    const f = first[i];
    if (c === 0) missing++;
    else if (c > 1) duplicated++;
    else if (f?.tag.intact !== true || f.tag.generation !== agent.generations[i]) wrongData++;
  }
  return { expected: n, missing, duplicated, wrongData };
}

const findingIs = (re: RegExp) => (v: { readonly message: string }) => re.test(v.message);

/** The ImageCheck of a parsed image: the checker's findings as facts (no invariant is decided here). */
export function imageCheckOf(
  image: SwsuspImage,
  ram: readonly PfnRange[] | undefined,
  agent?: AgentPages,
  physpages?: number,
): ImageCheck {
  const findings = checkSwsuspImage(image, {
    ...(ram === undefined ? {} : { ramRanges: ram }),
    maxPerCheck: Number.POSITIVE_INFINITY,
  });
  const crcBad = image.crc.checked && !image.crc.match;
  const problem = crcBad ? 'image CRC32 does not match the stream' : findings[0]?.message;
  return {
    complete: !crcBad,
    ...(problem === undefined ? {} : { problem }),
    compressor: image.header.flags.compression,
    stats: imageStats(image),
    pfnsAscending: !findings.some(findingIs(/PFN list not strictly ascending/)),
    countsConsistent: !findings.some(findingIs(/nr_meta_pages does not fit|PFN entries without the zero flag differ/)),
    // the machine's memory map unknown (torn console): not observed, never 0
    ...(ram === undefined ? {} : { nosavePfns: findings.filter((v) => v.invariant === 'NosaveNeverSaved').length }),
    ...(physpages === undefined ? {} : { physpages: { header: image.info.numPhyspages, machine: physpages } }),
    ...(agent === undefined ? {} : { tagged: taggedCheck(image, agent) }),
  };
}

/** Pages read at once when the parser reads a device sequentially (1 MiB). */
const READ_BLOCK_PAGES = 256;

/**
 * A PageReader over an open device file (reads only what the parser asks for). A read of the page after the last
 * one read fetches READ_BLOCK_PAGES pages at once and serves the next ones from that block (swap slots are
 * mostly consecutive); any other read fetches one page. Every page returned is a view of a fresh buffer.
 */
function fileReader(fd: number, devicePages: number): PageReader {
  let block = new Uint8Array(0);
  let blockStart = -1;
  let blockPages = 0;
  let last = -2;
  return (i) => {
    if (!Number.isSafeInteger(i) || i < 0 || i >= devicePages) return undefined;
    const sequential = i === last + 1;
    last = i;
    if (i < blockStart || i >= blockStart + blockPages) {
      const want = sequential ? Math.min(READ_BLOCK_PAGES, devicePages - i) : 1;
      block = new Uint8Array(want * PAGE_SIZE);
      let got = 0;
      while (got < block.length) {
        const n = readSync(fd, block, got, block.length - got, i * PAGE_SIZE + got);
        if (n <= 0) break;
        got += n;
      }
      blockStart = i;
      blockPages = Math.floor(got / PAGE_SIZE);
      if (blockPages === 0) return undefined;
      if (i >= blockStart + blockPages) return undefined;
    }
    const o = (i - blockStart) * PAGE_SIZE;
    return block.subarray(o, o + PAGE_SIZE);
  };
}

export interface ReadStorageOptions {
  readonly devicePages: number;
  /** page of the swap header (0 for a partition) */
  readonly resumeOffset?: number;
  /** a swap file's extents on the disk: every page of the image must be one of the file's (after its header) */
  readonly file?: readonly Extent[];
  /** a dm-crypt volume's key (dmcrypt.ts): the disk is read through the host's own decryption */
  readonly key?: Buffer;
  /** check a signed image: the guest's RAM (nosave = outside it) and, optionally, the agent's pages */
  readonly check?: {
    readonly ram: readonly PfnRange[] | undefined;
    /** the writing kernel's get_num_physpages() (console/e820.ts parsePhyspages); absent: not observed */
    readonly physpages?: number;
    readonly agent?: AgentPages;
  };
}

export interface StorageRead {
  readonly facts: StorageFacts;
  /** counts of the signed image, also when it is torn after its metadata; undefined: no image or unreadable */
  readonly stats: ImageStats | undefined;
}

/**
 * Read the swap disk as it is now: the signature, and with `check` the whole image (parse, check, agent tags).
 * A signed image that does not parse is `complete: false` with the parser's message.
 */
export function readStorage(disk: string, opts: ReadStorageOptions): StorageRead {
  const fd = openSync(disk, 'r');
  try {
    const raw = fileReader(fd, opts.devicePages);
    const reader = opts.key === undefined ? raw : decryptingReader(raw, opts.key);
    const at = opts.resumeOffset ?? 0;
    const head = reader(at);
    const signed = head !== undefined && decodeSwsuspHeader(head, at).sig === HIBERNATE_SIG;
    if (!signed) return { facts: { signed }, stats: undefined };
    const popts = { devicePages: opts.devicePages, resumeOffset: at };
    const metadata = () => parseSwsuspImage(reader, { ...popts, metadataOnly: true });
    if (opts.check === undefined) {
      const meta = metadata();
      return { facts: { signed }, stats: meta.ok ? imageStats(meta.image) : undefined };
    }
    // A full parse that succeeds has the metadata-only parse's counts (same header, map chain, swsusp_info and
    // PFN pages; every used entry non-zero and none after them), so the metadata is parsed alone only when it fails.
    const full = parseSwsuspImage(reader, popts);
    if (full.ok) {
      const image = imageCheckOf(full.image, opts.check.ram, opts.check.agent, opts.check.physpages);
      const outside = opts.file === undefined ? [] : imagePagesOutside(full.image, opts.file, at);
      // pages written outside the swap file overwrote the filesystem: not an image the file holds
      const checked: ImageCheck =
        outside.length === 0
          ? image
          : {
              ...image,
              complete: false,
              problem: `${outside.length} image pages outside the swap file's extents (first: disk page ${outside[0]})`,
            };
      return { facts: { signed, image: checked }, stats: imageStats(full.image) };
    }
    const meta = metadata();
    const stats = meta.ok ? imageStats(meta.image) : undefined;
    // torn after its metadata: the PFN list is still there to check
    const partial = meta.ok ? imageCheckOf(meta.image, opts.check.ram) : undefined;
    const torn: ImageCheck = {
      complete: false,
      problem: `${full.error.code}: ${full.error.message}`,
      compressor: decodeSwsuspHeader(head, at).flags.compression,
      stats: stats ?? { dataPages: 0, zeroPages: 0, metaPages: 0, streamPages: 0, writes: 0 },
      pfnsAscending: partial?.pfnsAscending ?? false,
      countsConsistent: partial?.countsConsistent ?? false,
      ...(partial?.nosavePfns === undefined ? {} : { nosavePfns: partial.nosavePfns }),
    };
    return { facts: { signed, image: torn }, stats };
  } finally {
    closeSync(fd);
  }
}

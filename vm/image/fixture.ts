// Compact fixtures of captured swap disks: only the pages reachable from the swsusp header, as gzip'ed page records.
import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { type AgentPageKey, agentPage } from './agent-tag.ts';
import { ascii, asciiBytes, PAGE_SIZE, type PageReader, viewOf } from './format.ts';

/**
 * File layout (little-endian), gzip'ed:
 *   "HIBFXIM1" | u32 devicePages | u32 resumeOffset | u32 recordCount | records…
 *   record = u32 pageIndex | u32 kind | payload
 *     kind 0 raw:    4096 bytes, the page as captured
 *     kind 1 zero:   no payload, an all-zero page
 *     kind 2 agent:  u32 id | u32 seed | u32 kind | u32 index | u32 generation, the page agent.c fill_page() writes
 *     kind 3 elided: no payload; the page was left out to keep the fixture small and reads as `elidedPage()`
 * Raw, zero and agent records reproduce the captured bytes exactly; elided ones do not (use them only for data
 * pages of nocompress images, whose content no check depends on).
 */
export const FIXTURE_MAGIC = 'HIBFXIM1';
export const RECORD_KINDS = ['raw', 'zero', 'agent', 'elided'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

export type FixtureRecord =
  | { readonly pageIndex: number; readonly kind: 'raw'; readonly bytes: Uint8Array }
  | { readonly pageIndex: number; readonly kind: 'zero' }
  | { readonly pageIndex: number; readonly kind: 'agent'; readonly key: AgentPageKey }
  | { readonly pageIndex: number; readonly kind: 'elided' };

export interface Fixture {
  readonly devicePages: number;
  readonly resumeOffset: number;
  readonly records: readonly FixtureRecord[];
}

const HEAD = 8 + 4 * 3;

export function encodeFixture(f: Fixture): Uint8Array {
  let size = HEAD;
  for (const r of f.records) size += 8 + (r.kind === 'raw' ? PAGE_SIZE : r.kind === 'agent' ? 20 : 0);
  const out = new Uint8Array(size);
  const v = viewOf(out);
  out.set(asciiBytes(FIXTURE_MAGIC), 0);
  v.setUint32(8, f.devicePages, true);
  v.setUint32(12, f.resumeOffset, true);
  v.setUint32(16, f.records.length, true);
  let o = HEAD;
  for (const r of f.records) {
    v.setUint32(o, r.pageIndex, true);
    v.setUint32(o + 4, RECORD_KINDS.indexOf(r.kind), true);
    o += 8;
    if (r.kind === 'raw') {
      out.set(r.bytes.subarray(0, PAGE_SIZE), o);
      o += PAGE_SIZE;
    } else if (r.kind === 'agent') {
      const k = r.key;
      [k.id, k.seed, k.kind, k.index, k.generation].forEach((n, i) => {
        v.setUint32(o + 4 * i, n >>> 0, true);
      });
      o += 20;
    }
  }
  return out;
}

export type DecodeFixtureResult =
  | { readonly ok: true; readonly fixture: Fixture }
  | { readonly ok: false; readonly message: string };

export function decodeFixture(bytes: Uint8Array): DecodeFixtureResult {
  if (bytes.length < HEAD || ascii(bytes.subarray(0, 8)) !== FIXTURE_MAGIC)
    return { ok: false, message: 'not a hibfuzz image fixture' };
  const v = viewOf(bytes);
  const devicePages = v.getUint32(8, true);
  const resumeOffset = v.getUint32(12, true);
  const count = v.getUint32(16, true);
  const records: FixtureRecord[] = [];
  let o = HEAD;
  for (let i = 0; i < count; i++) {
    if (o + 8 > bytes.length) return { ok: false, message: `record ${i} is truncated` };
    const pageIndex = v.getUint32(o, true);
    const kind = RECORD_KINDS[v.getUint32(o + 4, true)];
    o += 8;
    if (kind === 'raw') {
      if (o + PAGE_SIZE > bytes.length) return { ok: false, message: `record ${i} is truncated` };
      records.push({ pageIndex, kind, bytes: bytes.subarray(o, o + PAGE_SIZE) });
      o += PAGE_SIZE;
    } else if (kind === 'agent') {
      if (o + 20 > bytes.length) return { ok: false, message: `record ${i} is truncated` };
      const w = (j: number): number => v.getUint32(o + 4 * j, true);
      records.push({ pageIndex, kind, key: { id: w(0), seed: w(1), kind: w(2), index: w(3), generation: w(4) } });
      o += 20;
    } else if (kind === 'zero' || kind === 'elided') {
      records.push({ pageIndex, kind });
    } else {
      return { ok: false, message: `record ${i} has an unknown kind` };
    }
  }
  if (o !== bytes.length) return { ok: false, message: `${bytes.length - o} trailing bytes` };
  return { ok: true, fixture: { devicePages, resumeOffset, records } };
}

/** What an elided page reads as: "ELIDED" and its page index, repeated (never all-zero, never a valid map page). */
export function elidedPage(pageIndex: number): Uint8Array {
  const page = new Uint8Array(PAGE_SIZE);
  const v = viewOf(page);
  for (let o = 0; o < PAGE_SIZE; o += 16) {
    page.set(asciiBytes('ELIDED\0\0'), o);
    v.setUint32(o + 8, pageIndex >>> 0, true);
    v.setUint32(o + 12, 0xe1e1e1e1, true);
  }
  return page;
}

/** A page reader over a fixture; pages without a record read as all zeros (unused swap), as on the captured disk. */
export function fixtureReader(f: Fixture): PageReader {
  const byPage = new Map<number, FixtureRecord>();
  for (const r of f.records) byPage.set(r.pageIndex, r);
  const zero = new Uint8Array(PAGE_SIZE);
  return (pageIndex) => {
    if (!Number.isSafeInteger(pageIndex) || pageIndex < 0 || pageIndex >= f.devicePages) return undefined;
    const r = byPage.get(pageIndex);
    if (r === undefined || r.kind === 'zero') return zero;
    if (r.kind === 'raw') return r.bytes;
    if (r.kind === 'agent') return agentPage(r.key);
    return elidedPage(pageIndex);
  };
}

/** A device image (devicePages × PAGE_SIZE bytes) materialised from a fixture, for code that wants bytes. */
export function fixtureDevice(f: Fixture): Uint8Array {
  const dev = new Uint8Array(f.devicePages * PAGE_SIZE);
  const read = fixtureReader(f);
  for (const r of f.records) {
    const page = read(r.pageIndex);
    if (page !== undefined) dev.set(page, r.pageIndex * PAGE_SIZE);
  }
  return dev;
}

export function loadFixtureFile(path: string): Fixture {
  const r = decodeFixture(new Uint8Array(gunzipSync(readFileSync(path))));
  if (!r.ok) throw new Error(`${path}: ${r.message}`);
  return r.fixture;
}

export function gzipFixture(f: Fixture): Uint8Array {
  return new Uint8Array(gzipSync(encodeFixture(f), { level: 9 }));
}

// Page tags written by the guest agent (vm/guest/agent.c fill_page/check_page): generator and matcher for image scans.
import type { AgentTag, TagMatcher } from './check.ts';
import { PAGE_SIZE, viewOf } from './format.ts';

/** TAG_MAGIC in w[0] ("ZZZZZZZZ"). */
export const AGENT_TAG_MAGIC_WORD = 0x5a5a5a5a;
// keep-sorted start
export const AGENT_KIND_ANON = 1;
export const AGENT_KIND_PAGE_CACHE = 2;
// keep-sorted end

export interface AgentPageTag extends AgentTag {
  /** w[2] >> 32: KIND_ANON or KIND_PAGE_CACHE */
  readonly kind: number;
}

export interface AgentPageKey {
  /** hibfuzz.id (scenario id hash) */
  readonly id: number;
  /** hibfuzz.seed */
  readonly seed: number;
  readonly kind: number;
  readonly index: number;
  readonly generation: number;
}

/** Whether a Uint32Array over page bytes reads them as little-endian words (every platform Node runs on but s390x). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const WORDS = PAGE_SIZE / 4;

// 64-bit arithmetic on u32 halves: the result of mul64 / mix is left in (rHi, rLo).
let rHi = 0;
let rLo = 0;

/** (aHi:aLo × bHi:bLo) mod 2^64, with the high word of aLo × bLo from 16-bit partial products. */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const a0 = aLo & 0xffff;
  const a1 = aLo >>> 16;
  const b0 = bLo & 0xffff;
  const b1 = bLo >>> 16;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const carryHi = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16);
  rLo = Math.imul(aLo, bLo) >>> 0;
  rHi = (carryHi + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) >>> 0;
}

/** splitmix64 finaliser (agent.c mix()) of hi:lo. */
function mix(hi: number, lo: number): void {
  // z = x + 0x9e3779b97f4a7c15
  let zLo = (lo >>> 0) + 0x7f4a7c15;
  let zHi = ((hi >>> 0) + 0x9e3779b9 + (zLo > 0xffffffff ? 1 : 0)) >>> 0;
  zLo >>>= 0;
  // z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
  mul64(zHi ^ (zHi >>> 30), zLo ^ ((zLo >>> 30) | (zHi << 2)), 0xbf58476d, 0x1ce4e5b9);
  zHi = rHi;
  zLo = rLo;
  // z = (z ^ (z >> 27)) * 0x94d049bb133111eb
  mul64(zHi ^ (zHi >>> 27), zLo ^ ((zLo >>> 27) | (zHi << 5)), 0x94d049bb, 0x133111eb);
  zHi = rHi;
  zLo = rLo;
  // z ^ (z >> 31)
  rHi = (zHi ^ (zHi >>> 31)) >>> 0;
  rLo = (zLo ^ ((zLo >>> 31) | (zHi << 1))) >>> 0;
}

/**
 * The page's 1024 little-endian u32 words (two per u64 word w[i]: low, high) into `w`.
 * page_seed = mix((id << 32 | seed) ^ mix(kind << 56 ^ index << 20 ^ generation)), never 0; the key's fields are
 * u32 (as the tag header stores them).
 */
function fillAgentWords(k: AgentPageKey, w: Uint32Array): void {
  const id = k.id >>> 0;
  const kind = k.kind >>> 0;
  const index = k.index >>> 0;
  const generation = k.generation >>> 0;
  w[0] = AGENT_TAG_MAGIC_WORD;
  w[1] = AGENT_TAG_MAGIC_WORD;
  w[2] = generation;
  w[3] = id;
  w[4] = index;
  w[5] = kind;
  mix((((kind & 0xff) << 24) ^ (index >>> 12)) >>> 0, ((index << 20) ^ generation) >>> 0);
  mix(id ^ rHi, (k.seed >>> 0) ^ rLo);
  let hi = rHi;
  let lo = rLo;
  if (hi === 0 && lo === 0) lo = 1;
  for (let i = 6; i < WORDS; i += 2) {
    // x ^= x << 13
    hi = (hi ^ ((hi << 13) | (lo >>> 19))) >>> 0;
    lo = (lo ^ (lo << 13)) >>> 0;
    // x ^= x >> 7
    lo = (lo ^ ((lo >>> 7) | (hi << 25))) >>> 0;
    hi = (hi ^ (hi >>> 7)) >>> 0;
    // x ^= x << 17
    hi = (hi ^ ((hi << 17) | (lo >>> 15))) >>> 0;
    lo = (lo ^ (lo << 17)) >>> 0;
    w[i] = lo;
    w[i + 1] = hi;
  }
}

/** Little-endian u32 at byte `o` of a page (any alignment, any platform). */
const u32le = (p: Uint8Array, o: number): number =>
  ((p[o] ?? 0) | ((p[o + 1] ?? 0) << 8) | ((p[o + 2] ?? 0) << 16) | ((p[o + 3] ?? 0) << 24)) >>> 0;

/**
 * The 4 KiB page the agent writes for a key: 512 little-endian u64 words, w[0] = TAG_MAGIC,
 * w[1] = id << 32 | generation, w[2] = kind << 32 | index, w[3..511] = xorshift64 (13, 7, 17) from page_seed.
 * @remarks Mirrors vm/guest/agent.c: fill_page().
 */
export function agentPage(k: AgentPageKey): Uint8Array {
  const page = new Uint8Array(PAGE_SIZE);
  if (LITTLE_ENDIAN) {
    fillAgentWords(k, new Uint32Array(page.buffer));
    return page;
  }
  const w = new Uint32Array(WORDS);
  fillAgentWords(k, w);
  const v = viewOf(page);
  for (let i = 0; i < WORDS; i++) v.setUint32(i * 4, w[i] ?? 0, true);
  return page;
}

/** Whether the first PAGE_SIZE bytes of `page` are the little-endian words `w`; stops at the first difference. */
function sameWords(page: Uint8Array, w: Uint32Array): boolean {
  if (LITTLE_ENDIAN && page.byteOffset % 4 === 0) {
    const p = new Uint32Array(page.buffer, page.byteOffset, WORDS);
    for (let i = 0; i < WORDS; i++) if (p[i] !== w[i]) return false;
    return true;
  }
  for (let i = 0; i < WORDS; i++) if (u32le(page, i * 4) !== w[i]) return false;
  return true;
}

export interface AgentMatcherOptions {
  /** the agent's hibfuzz.seed; needed to verify page bodies */
  readonly seed: number;
  /** only accept tags with this id (default: any id) */
  readonly id?: number;
  /** compare the whole page with the generator and set `intact` (default true) */
  readonly verifyBody?: boolean;
}

/**
 * A TagMatcher for agent pages: recognises the 24-byte tag header; with verifyBody, also regenerates the page
 * and sets `intact` to whether every word matches (agent.c check_page()).
 */
export function agentTagMatcher(opts: AgentMatcherOptions): TagMatcher<AgentPageTag> {
  const verify = opts.verifyBody ?? true;
  const expected = new Uint32Array(WORDS);
  return (page) => {
    if (page.length < PAGE_SIZE) return undefined;
    if (u32le(page, 0) !== AGENT_TAG_MAGIC_WORD || u32le(page, 4) !== AGENT_TAG_MAGIC_WORD) return undefined;
    const generation = u32le(page, 8);
    const id = u32le(page, 12);
    const index = u32le(page, 16);
    const kind = u32le(page, 20);
    if (opts.id !== undefined && id !== opts.id >>> 0) return undefined;
    if (!verify) return { id, index, generation, kind };
    fillAgentWords({ id, seed: opts.seed, kind, index, generation }, expected);
    return { id, index, generation, kind, intact: sameWords(page, expected) };
  };
}

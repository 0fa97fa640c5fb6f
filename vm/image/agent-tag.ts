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

const M64 = (1n << 64n) - 1n;

/** splitmix64 finaliser (agent.c mix()). */
function mix(x: bigint): bigint {
  let z = (x + 0x9e3779b97f4a7c15n) & M64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}

/** page_seed = mix((id << 32 | seed) ^ mix(kind << 56 ^ index << 20 ^ generation)), never 0. */
function pageSeed(k: AgentPageKey): bigint {
  const inner = mix(((BigInt(k.kind) << 56n) ^ (BigInt(k.index) << 20n) ^ BigInt(k.generation)) & M64);
  const s = mix(((BigInt(k.id >>> 0) << 32n) | BigInt(k.seed >>> 0)) ^ inner);
  return s === 0n ? 1n : s;
}

/**
 * The 4 KiB page the agent writes for a key: 512 little-endian u64 words, w[0] = TAG_MAGIC,
 * w[1] = id << 32 | generation, w[2] = kind << 32 | index, w[3..511] = xorshift64 (13, 7, 17) from page_seed.
 * @remarks Mirrors vm/guest/agent.c: fill_page().
 */
export function agentPage(k: AgentPageKey): Uint8Array {
  const page = new Uint8Array(PAGE_SIZE);
  const v = viewOf(page);
  v.setUint32(0, AGENT_TAG_MAGIC_WORD, true);
  v.setUint32(4, AGENT_TAG_MAGIC_WORD, true);
  v.setUint32(8, k.generation >>> 0, true);
  v.setUint32(12, k.id >>> 0, true);
  v.setUint32(16, k.index >>> 0, true);
  v.setUint32(20, k.kind >>> 0, true);
  const s = pageSeed(k);
  let hi = Number(s >> 32n) >>> 0;
  let lo = Number(s & 0xffffffffn) >>> 0;
  for (let i = 3; i < PAGE_SIZE / 8; i++) {
    // x ^= x << 13
    let nhi = ((hi << 13) | (lo >>> 19)) >>> 0;
    let nlo = (lo << 13) >>> 0;
    hi = (hi ^ nhi) >>> 0;
    lo = (lo ^ nlo) >>> 0;
    // x ^= x >> 7
    nlo = ((lo >>> 7) | (hi << 25)) >>> 0;
    nhi = hi >>> 7;
    hi = (hi ^ nhi) >>> 0;
    lo = (lo ^ nlo) >>> 0;
    // x ^= x << 17
    nhi = ((hi << 17) | (lo >>> 15)) >>> 0;
    nlo = (lo << 17) >>> 0;
    hi = (hi ^ nhi) >>> 0;
    lo = (lo ^ nlo) >>> 0;
    v.setUint32(i * 8, lo, true);
    v.setUint32(i * 8 + 4, hi, true);
  }
  return page;
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
  return (page) => {
    if (page.length < PAGE_SIZE) return undefined;
    const v = viewOf(page);
    if (v.getUint32(0, true) !== AGENT_TAG_MAGIC_WORD || v.getUint32(4, true) !== AGENT_TAG_MAGIC_WORD)
      return undefined;
    const generation = v.getUint32(8, true);
    const id = v.getUint32(12, true);
    const index = v.getUint32(16, true);
    const kind = v.getUint32(20, true);
    if (opts.id !== undefined && id !== opts.id >>> 0) return undefined;
    if (!verify) return { id, index, generation, kind };
    const expected = agentPage({ id, seed: opts.seed, kind, index, generation });
    let intact = true;
    for (let i = 0; i < PAGE_SIZE; i++) {
      if (page[i] !== expected[i]) {
        intact = false;
        break;
      }
    }
    return { id, index, generation, kind, intact };
  };
}

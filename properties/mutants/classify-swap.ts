// Sort a Stryker report's not-detected mutants of impl/power/swap.ts by the code they change (docs/mutation.md):
//   npx tsx properties/mutants/classify-swap.ts <mutation.json> [ids killed by hand] [Timeout ids that survive by hand]
// (ids comma-separated; a Timeout that survived by hand only timed out because the machine was loaded)
// Each rule is one argument of docs/mutation.md, matched on the mutated line, the mutated span and its replacement.
// Classes: hang (a loop that never ends, detected), by hand (killed by properties/mutants/by-hand.ts), equivalent,
// open (the oracle leaves that outcome open: not equivalent, not detected) and gap (not shown either way).
import { readFileSync } from 'node:fs';

interface Mutant {
  id: string;
  mutatorName: string;
  replacement?: string;
  status: string;
  location: { start: { line: number; column: number }; end: { line: number; column: number } };
}

export const CLASSES = ['hang', 'byHand', 'equivalent', 'open', 'gap'] as const;
export type MutantClass = (typeof CLASSES)[number];

type Rule = readonly [MutantClass, (line: string, span: string, repl: string) => boolean, string];

const RULES: readonly Rule[] = [
  [
    'equivalent',
    (l, _s, r) => /for \(let i = h\.cursor; i < d\.nr/.test(l) && r === 'i <= d.nr',
    'allocated[nr] is undefined, never 0',
  ],
  [
    'equivalent',
    (_l, s, r) => s === 'd.slot[i] !== SLOT.SWAP_HEADER' && r === 'true',
    'the header slot lies before the cursor',
  ],
  ['equivalent', (l) => /h\.cursor = i \+ 1/.test(l), 'slot i - 1 is taken or not swap: the scan passes it'],
  [
    'equivalent',
    (_l, s, r) => /^(hdr|h|cur) === undefined$/.test(s) && r === 'false',
    'the device always holds a header page at the offset',
  ],
  [
    'equivalent',
    (l) => /cursor: offset \+ 1/.test(l),
    'offset - 1 is never a free slot; curSlot and firstMap are overwritten',
  ],
  [
    'equivalent',
    (l, _s, r) => /if \(first < 0\) return fail\('ENOSPC'\)/.test(l) && r !== '""',
    'the first slot is never 0',
  ],
  [
    'equivalent',
    (l) => /entries: page\.entries\.slice\(\)|d\.metas\.set\(at, words\.slice\(\)\)/.test(l),
    'a written page is never changed again',
  ],
  ['equivalent', (l, _s, r) => /if \((at|next) < 0\)/.test(l) && /<= 0/.test(r), 'slot 0 is never handed out'],
  [
    'equivalent',
    (l) => /if \(cur === undefined \|\| cur\.sig !== SIG\.SWAPSPACE2\) return fail\('ENODEV'\)/.test(l),
    "mark_swapfiles' test cannot fail after get_swap_writer's",
  ],
  ['equivalent', (l) => /if \(n === 0\) return fail\('EFAULT'\)/.test(l), 'no chain of 0 entries is ever written'],
  [
    'equivalent',
    (l, _s, r) => /h\.sig !== sig\) return fail\('ENODATA'\)/.test(l) && r === '""',
    'a failed check becomes noImage, which has no errno',
  ],
  ['equivalent', (l) => /h\.origSig \|\| SIG\.SWAPSPACE2/.test(l), 'origSig is always SWAPSPACE2'],
  [
    'equivalent',
    (l) => /geometry !== undefined|const mapPages = Math\.floor|const need = nocompress|geometry = \{ entries/.test(l),
    'the geometry feeds events (coverage) only',
  ],
  [
    'equivalent',
    (l, _s, r) => /for \(let i = ctx\.s\.storage\.offset \+ 1; i < bio\.dev\.nr/.test(l) && r !== 'i--',
    "the free count's bounds: the header slot and index nr are never free",
  ],
  [
    'equivalent',
    (l) => /nextWriteFault\(bio\) === 'none' && h\.cur\.count \+ 1 < MAP_PAGE_ENTRIES/.test(l),
    'the fast path is the slow path unrolled',
  ],
  ['equivalent', (l) => /const withCrc =/.test(l), 'the loader reads the CRC only in CRC mode'],
  [
    'equivalent',
    (l) => /if \(!bio\.powerLost\) ctx\.parts\.freeAllSwapPages/.test(l),
    'the next kernel starts with no slots (swapMapAtStart)',
  ],
  [
    'equivalent',
    (l) => /st\.written\[f\] = Math\.min\(255/.test(l),
    'the per-frame write counter is read by the story only',
  ],
  [
    'open',
    (l, s) =>
      /reason: '(truncatedImage|badHeader|crcMismatch|decompressFailed)'/.test(l) &&
      /^'(truncatedImage|badHeader|crcMismatch|decompressFailed)'$/.test(s),
    "a refusal's reason the oracle leaves open for that flip",
  ],
  [
    'open',
    (l) => /info === undefined \|\| dev\.slot\[stream\[0\]/.test(l) || /errno: 'EINVAL', reason: 'badHeader'/.test(l),
    'the first stream page not an info page: only a map entry 0 flipped, allowed in any refusal form',
  ],
  ['open', (l) => /if \(nrMeta < 0\)/.test(l), "nrMeta < 0 comes only from a flipped header 'pages' field, left open"],
  [
    'open',
    (l) => /if \(k >= info\.imagePages\) break/.test(l),
    'the extra-PFN stop: more unflagged entries than image_pages, left open',
  ],
  [
    'open',
    (l) => /if \(mp === undefined\) return fail\('EFAULT'\)/.test(l),
    'a link to a slot that is no map page: the kernel reads garbage there',
  ],
];

/** The class of one not-detected mutant, and why. */
export function classify(
  m: Mutant,
  line: string,
  byHand: ReadonlySet<string>,
  slow: ReadonlySet<string> = new Set(),
): { cls: MutantClass; why: string } {
  const end = m.location.end.line === m.location.start.line ? m.location.end.column - 1 : undefined;
  const span = line.slice(m.location.start.column - 1, end);
  if (byHand.has(m.id)) return { cls: 'byHand', why: 'killed by hand' };
  if (m.status === 'Timeout' && !slow.has(m.id)) return { cls: 'hang', why: 'it never ends' };
  for (const [cls, test, why] of RULES) if (test(line, span, m.replacement ?? '')) return { cls, why };
  return { cls: 'gap', why: 'not shown equivalent: a gap until shown otherwise' };
}

function main(argv: string[]): number {
  const [file, hand, slowIds] = argv;
  if (file === undefined) {
    console.error('usage: classify-swap.ts <mutation.json> [ids killed by hand] [Timeout ids that survive by hand]');
    return 2;
  }
  const report = JSON.parse(readFileSync(file, 'utf8')) as {
    files: Record<string, { source: string; mutants: Mutant[] }>;
  };
  const f = report.files['impl/power/swap.ts'];
  if (f === undefined) {
    console.error(`${file}: no impl/power/swap.ts in the report`);
    return 2;
  }
  const src = f.source.split('\n');
  const ids = (list: string | undefined) => new Set((list ?? '').split(',').filter((x) => x !== ''));
  const byHand = ids(hand);
  const slow = ids(slowIds);
  const count = Object.fromEntries(CLASSES.map((c) => [c, 0])) as Record<MutantClass, number>;
  let killed = 0;
  for (const m of f.mutants) {
    if (m.status === 'Killed') {
      killed++;
      continue;
    }
    const { cls, why } = classify(m, src[m.location.start.line - 1] ?? '', byHand, slow);
    count[cls]++;
    console.log(`${cls}\t${m.id}\t${m.status}\tline ${m.location.start.line}\t${m.mutatorName}\t${why}`);
  }
  const detected = killed + count.hang + count.byHand;
  const nonEquivalent = f.mutants.length - count.equivalent;
  console.log(
    `${f.mutants.length} mutants: ${killed} killed, ${count.hang} hangs, ${count.byHand} by hand, ${count.equivalent} equivalent, ${count.open} open, ${count.gap} gaps`,
  );
  console.log(
    `detected / non-equivalent = ${detected} / ${nonEquivalent} = ${((100 * detected) / nonEquivalent).toFixed(1)} %`,
  );
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));

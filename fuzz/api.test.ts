// The researcher's surface (issue 13): the root index module (`import ... from 'hibfuzz'`) runs a scenario, swaps
// parts, reads the invariant registry and validates a scenario, with no I/O at import; `--parts FILE` loads a
// variant and judges it like a planted bug; the shipped variants in examples/variants/ say what they claim.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as api from '../index.ts';
import { scenarioArb } from '../properties/arbitraries/scenario.ts';
import { ORACLE_NAMES, type Scenario } from '../spec/index.ts';
import { runCli } from './test-io.ts';
import { loadVariant, toVariant } from './variant.ts';

const ROOT = join(import.meta.dirname ?? '.', '..');
const REGION = join(ROOT, 'examples/variants/region-page-cache.ts');
const SIZE_ONLY = join(ROOT, 'examples/variants/size-only-header-check.ts');

describe("the library surface (import from 'hibfuzz')", () => {
  it('validates a scenario, runs it with swapped parts, reads the registry', () => {
    const plant = api.PLANTS.find((p) => p.name === 'crc-ignored');
    const s = api.parseScenario(plant?.witness);
    expect(s.ok).toBe(true);
    if (!s.ok) return;
    expect(api.ScenarioSchema.safeParse(plant?.witness).success).toBe(true);
    const stock = api.runAndJudge(s.scenario, api.defaultParts);
    const crcOff = api.runAndJudge(s.scenario, { ...api.defaultParts, crcMatches: () => true });
    expect(stock.ok && stock.judgement.unexpected).toEqual([]);
    expect(crcOff.ok && crcOff.judgement.unexpected.map((v) => v.invariant)).toContain('CorruptImageNeverResumed');
    for (const n of api.INVARIANT_NAMES) {
      const info = api.invariants[n];
      expect(info.summary.length, n).toBeGreaterThan(0);
      expect(typeof info.check).toBe('function');
    }
    expect(api.parseScenario({ version: 2 }).ok).toBe(false);
  });

  it('imports only spec/, impl/ and the planted bugs at run time (no node:* module, no I/O at import)', () => {
    const text = readFileSync(join(ROOT, 'index.ts'), 'utf8');
    const runtime = [...text.matchAll(/^export \{[^}]*\} from '([^']+)'/gm)].map((m) => m[1] as string);
    expect(
      runtime.every((p) => /^\.\/(spec|impl|properties\/__fixtures__)\//.test(p)),
      runtime.join(' '),
    ).toBe(true);
    const typeOnly = [...text.matchAll(/^export type \{[^}]*\} from '([^']+)'/gm)].map((m) => m[1]);
    expect(typeOnly).toEqual(['./fuzz/variant.ts']);
  });

  it("index.mjs (plain node's entry) exports exactly index.ts's values", () => {
    const mjs = readFileSync(join(ROOT, 'index.mjs'), 'utf8');
    const block = /export const \{([^}]*)\} = api;/.exec(mjs)?.[1] ?? '';
    const names = block
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x.length > 0);
    expect(names.sort()).toEqual(Object.keys(api).sort());
  });
});

describe('variants (--parts FILE[#NAME])', () => {
  it('loads a default export and a named one; refuses a typo, a wrong type, an empty variant', async () => {
    const r = await loadVariant(REGION);
    expect(r.ok && r.variant.name).toBe('region-page-cache');
    expect(r.ok && r.variant.replaced).toEqual(['saveKernelWorkingSet']);
    const s = await loadVariant(`${SIZE_ONLY}#sizeOnlyHeaderCheck`);
    expect(s.ok && s.variant.replaced).toEqual(['checkHeader']);
    expect((await loadVariant(SIZE_ONLY)).ok).toBe(true); // the only variant it exports
    const typo = toVariant('f.ts', 'v', { parts: { crcMatch: () => true } });
    expect(!typo.ok && typo.error).toMatch(/'crcMatch' is not a part \(parts: saveableFrames, /);
    const wrong = toVariant('f.ts', 'v', { returnOnWriteError: () => false });
    expect(!wrong.ok && wrong.error).toMatch(/part 'returnOnWriteError' must be a boolean/);
    expect(toVariant('f.ts', 'v', {}).ok).toBe(false);
    expect((await loadVariant(`${SIZE_ONLY}#nope`)).ok).toBe(false);
    const both = await runCli(['replay', SIZE_ONLY, '--plant', 'crc-ignored', '--parts', SIZE_ONLY]);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/--plant and --parts: give one/);
  });

  it('size-only-header-check: the campaign finds MismatchedImageRefused; the saved finding replays with --parts', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'hibfuzz-variant-')), 'corpus');
    const r = await runCli([
      'fuzz',
      '--parts',
      SIZE_ONLY,
      '--runs',
      '600',
      '--seed',
      '1',
      '--corpus',
      dir,
      '--no-replay',
    ]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/variant size-only-header-check \(.*#sizeOnlyHeaderCheck: checkHeader\)/);
    const saved = /NEW MismatchedImageRefused \(\S+\): .* -> (\S+\.json)/.exec(r.out)?.[1];
    expect(saved).toBeDefined();
    const file = saved?.startsWith('/') ? saved : join(process.cwd(), saved ?? '');
    expect(r.out).toContain(`--parts ${SIZE_ONLY}#sizeOnlyHeaderCheck`);
    const again = await runCli(['replay', file, '--parts', `${SIZE_ONLY}#sizeOnlyHeaderCheck`]);
    expect(again.code).toBe(1);
    expect(again.out).toMatch(/MismatchedImageRefused/);
    const stock = await runCli(['replay', file]);
    expect(stock.out).not.toMatch(/violated: .*MismatchedImageRefused|MismatchedImageRefused at step/);
  });

  it('region-page-cache costs no invariant the stock reclaimPageCache design keeps (same verdicts, generated kexec)', async () => {
    const r = await loadVariant(REGION);
    if (!r.ok) throw new Error(r.error);
    const v = r.variant;
    const unexpected = (s: Scenario, parts: typeof v.parts) => {
      const x = api.runAndJudge(s, parts);
      return x.ok
        ? x.judgement.unexpected
            .map((u) => u.invariant)
            .filter((n) => !(ORACLE_NAMES as readonly string[]).includes(n))
            .sort()
        : ['not run'];
    };
    const samples = fc.sample(scenarioArb({ maxMemPages: 2048, protocol: 'kexec' }), { seed: 7, numRuns: 300 });
    let reclaimed = 0;
    for (const g of samples) {
      const parsed = api.parseScenario(g);
      if (!parsed.ok) throw new Error(parsed.error);
      const s = v.scenario(parsed.scenario);
      if (s.protocol.kind === 'kexec' && s.protocol.reservation === 'reclaimPageCache') reclaimed++;
      expect(unexpected(s, v.parts), s.id).toEqual(unexpected(s, api.defaultParts));
    }
    expect(reclaimed).toBe(samples.length);
  });
});

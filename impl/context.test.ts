// save_image()'s formulas at their limits (n-1, n, n+1), written here from the kernel, not taken from context.ts:
// enough_swap() in nocompress mode, and swsusp_info.pages = image_pages + nr_meta_pages + 1.
import { describe, expect, it } from 'vitest';
import { initialMemory, OWNER, parseScenario, type Scenario } from '../spec/index.ts';
import { runScenario } from './run.ts';

const IO = 8;

function scenario(storagePages: number, anon: number, compression: 'none' | 'lzo' = 'none'): Scenario {
  const r = parseScenario({
    version: 1,
    id: 't',
    machine: { memPages: 2048 },
    workload: { anon },
    protocol: { kind: 'swsusp', kernel: '6.1', compression, pagesForIo: IO, imageSizePages: 2048 },
    storage: { pages: storagePages },
    steps: [{ op: 'hibernate' }],
  });
  if (!r.ok) throw new Error(r.error);
  return r.scenario;
}

/** Saveable pages at the request: the original kernel's frames (no reclaim: image_size is above them). */
function saveable(s: Scenario): number {
  const m = initialMemory(s);
  if (!m.ok) throw new Error(m.error);
  let n = 0;
  for (let p = 0; p < m.memory.nr; p++) if (m.memory.owner[p] === OWNER.ORIG) n++;
  return n;
}

const outcome = (s: Scenario) => {
  const r = runScenario(s);
  if (!r.ok) throw new Error(r.error);
  return r.observation.steps[0];
};

describe('enough_swap(): free swap > PAGES_FOR_IO + image pages (nocompress only)', () => {
  // 509 and 510 saved pages: a stream of 511 and 512 pages, at the first swap map page boundary
  for (const anon of [300, 509, 510]) {
    const n = saveable(scenario(4096, anon));
    const stream = 1 + Math.ceil(n / 512) + n; // info page, PFN pages, data pages (6.1 stores zero pages)
    // free slots when it is checked: all but the swap header and the first map page get_swap_writer() took
    const limit = IO + stream + 2;
    it(`${n} saved pages: ${limit - 1} and ${limit} storage pages are ENOSPC before any write, ${limit + 1} fits`, () => {
      for (const pages of [limit - 1, limit]) {
        const o = outcome(scenario(pages, anon));
        expect(o?.op === 'hibernate' && o.result === 'failed' && o.errno, `${pages} pages`).toBe('ENOSPC');
      }
      const o = outcome(scenario(limit + 1, anon));
      expect(o?.op === 'hibernate' && o.result).toBe('poweredOff');
      if (o?.op === 'hibernate' && o.result === 'poweredOff') {
        expect(o.image.streamPages).toBe(stream);
        expect(o.image.metaPages).toBe(Math.ceil(n / 512));
      }
    });
  }
  it('compressed mode checks no capacity first: it fails ENOSPC mid-write only when the slots run out', () => {
    const anon = 300;
    const n = saveable(scenario(4096, anon, 'lzo'));
    const stream = 1 + Math.ceil(n / 512) + n;
    const slots = 1 + stream + Math.floor(stream / 511) + 1; // header + stream + map pages
    const at = (pages: number) => outcome(scenario(pages, anon, 'lzo'));
    const r0 = at(slots - 1);
    expect(r0?.op === 'hibernate' && r0.result === 'failed' && r0.errno).toBe('ENOSPC');
    expect(at(slots)?.op === 'hibernate' && (at(slots) as { result: string }).result).toBe('poweredOff');
    expect((at(slots + 1) as { result: string }).result).toBe('poweredOff');
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario, type ScenarioInput } from '../../spec/scenario/schema.ts';
import { aCmdline, cCmdline, KJUMP_SAVE_KERNEL_NEED_PAGES, planScenario } from './plan.ts';

const base: ScenarioInput = {
  version: 1,
  id: 't',
  seed: 5,
  machine: { memPages: 131072, cpus: 2 },
  workload: { anon: 100 },
  protocol: { kind: 'kexec', saveKernelPages: 20480 },
  storage: { pages: 147456 },
  steps: [{ op: 'hibernate', abortAt: 'afterImageWritten' }],
};

const scenario = (over: Partial<ScenarioInput>) => {
  const r = parseScenario({ ...base, ...over });
  if (!r.ok) throw new Error(r.error);
  return r.scenario;
};

const planOf = (over: Partial<ScenarioInput>) => {
  const r = planScenario(scenario(over));
  if (!r.ok) throw new Error(r.error);
  return r.plan;
};

const refusal = (over: Partial<ScenarioInput>): string => {
  const r = planScenario(scenario(over));
  return r.ok ? '(accepted)' : r.error;
};

describe('planScenario', () => {
  it('maps an abort scenario: 512 MiB, the scenario region as written, list mode, disk = storage + A record', () => {
    expect(planOf({})).toMatchObject({
      memMiB: 512,
      cpus: 2,
      taggedPages: 100,
      memMax: 20480 * 4096 - 1,
      diskPages: 147456 + 1024,
      full: false,
      hibernate: { kind: 'hibernate', index: 0, mode: 'abort' },
    });
  });

  it('runs a region too small for B as written (kexec-tools refuses it: a failed load, as on any kernel)', () => {
    expect(planOf({ protocol: { kind: 'kexec', saveKernelPages: 16 } }).memMax).toBe(16 * 4096 - 1);
  });

  it('uses the full image when a resume follows', () => {
    expect(planOf({ steps: [{ op: 'hibernate' }, { op: 'resume' }] })).toMatchObject({
      full: true,
      hibernate: { mode: 'poweroff' },
    });
  });

  it('adds anon writes to the tagged pages and zero writes to the zero pages', () => {
    const p = planOf({
      workload: { anon: 100, zero: 7 },
      steps: [{ op: 'write', pages: 50 }, { op: 'write', kind: 'zero', pages: 3 }, { op: 'hibernate' }],
    });
    expect([p.taggedPages, p.zeroPages, p.zeroElision]).toEqual([150, 10, true]);
  });

  it('carries the faults of the hibernate step', () => {
    const p = planOf({ steps: [{ op: 'hibernate', ioErrorAtWrite: 3, powerLossAfterWrite: 9 }] });
    expect(p.hibernate).toMatchObject({ eioAt: 3, powerLossAt: 9 });
  });

  it('states what the save kernel measurably needs (36 MiB)', () => {
    expect(KJUMP_SAVE_KERNEL_NEED_PAGES).toBe(9216);
  });
});

describe('planScenario refuses what it cannot run as written, with a reason', () => {
  const kexec = (over: object) => ({ protocol: { kind: 'kexec' as const, saveKernelPages: 20480, ...over } });
  const cases: readonly [string, Partial<ScenarioInput>, RegExp][] = [
    ['swsusp', { protocol: { kind: 'swsusp' }, steps: [{ op: 'hibernate' }] }, /^protocol\.kind:/],
    ['storage offset', { storage: { pages: 147456, offset: 8 } }, /^storage\.offset:/],
    ['e820 holes', { machine: { memPages: 131072, e820: [{ start: 100, pages: 4, type: 'acpi' }] } }, /e820/],
    ['not whole MiB', { machine: { memPages: 131073 } }, /whole MiB/],
    ['too small', { machine: { memPages: 1024 } }, /at least 256 MiB/],
    ['page cache', { workload: { anon: 1, pageCacheClean: 5 } }, /^workload\.pageCacheClean:/],
    ['dirty page cache', { workload: { anon: 1, pageCacheDirty: 5 } }, /^workload\.pageCacheDirty:/],
    ['slab', { workload: { anon: 1, slab: 5 } }, /^workload\.slab:/],
    ['kernel text', { workload: { anon: 1, kernelText: 5 } }, /^workload\.kernelText:/],
    ['dma buffers', { workload: { anon: 1, dma: 5 } }, /^workload\.dma:/],
    ['no tagged page', { workload: { zero: 5 } }, /^workload\.anon:/],
    ['bootReserved', kexec({ reservation: 'bootReserved' }), /^protocol\.reservation:/],
    ['reclaimPageCache', kexec({ reservation: 'reclaimPageCache' }), /^protocol\.reservation:/],
    ['bitmapPointers', kexec({ handoff: 'bitmapPointers' }), /^protocol\.handoff:/],
    ['abort afterLoad', { steps: [{ op: 'hibernate', abortAt: 'afterLoad' }] }, /^steps\[0\]: abortAt:/],
    ['dma after stop', { steps: [{ op: 'hibernate', dmaAfterStopPages: 3 }] }, /dmaAfterStopPages/],
    ['EIO after signature', { steps: [{ op: 'hibernate', ioErrorAfterSignature: true }] }, /ioErrorAfterSignature/],
    ['corrupt map', { steps: [{ op: 'hibernate' }, { op: 'corrupt', region: 'map', index: 0 }] }, /'map'/],
    ['corrupt first', { steps: [{ op: 'corrupt', region: 'data', index: 0 }, { op: 'hibernate' }] }, /corrupt/],
    ['write kind', { steps: [{ op: 'write', kind: 'slab', pages: 1 }, { op: 'hibernate' }] }, /write kind 'slab'/],
    ['write after', { steps: [{ op: 'hibernate' }, { op: 'write', pages: 1 }] }, /after hibernate/],
    ['two hibernates', { steps: [{ op: 'hibernate' }, { op: 'hibernate' }] }, /one hibernate/],
    ['bootNoresume', { steps: [{ op: 'hibernate' }, { op: 'bootNoresume' }] }, /bootNoresume/],
    ['resume first', { steps: [{ op: 'resume' }] }, /^steps\[0\]: one resume/],
    ['two resumes', { steps: [{ op: 'hibernate' }, { op: 'resume' }, { op: 'resume' }] }, /^steps\[2\]/],
    ['resume elsewhere', { steps: [{ op: 'hibernate' }, { op: 'resume', memPages: 65536 }] }, /same machine/],
    ['resume e820', { steps: [{ op: 'hibernate' }, { op: 'resume', e820Changed: true }] }, /same machine/],
    ['resume kernel', { steps: [{ op: 'hibernate' }, { op: 'resume', kernel: '6.1' }] }, /same machine/],
  ];
  it.each(cases)('%s', (_name, over, reason) => {
    expect(refusal(over)).toMatch(reason);
  });
});

describe('shipped kjump scenarios', () => {
  const dir = new URL('./scenarios/', import.meta.url).pathname;
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  it.each(files)('%s is accepted', (f) => {
    const r = parseScenario(JSON.parse(readFileSync(join(dir, f), 'utf8')));
    if (!r.ok) throw new Error(r.error);
    const p = planScenario(r.scenario);
    expect(p.ok ? 'accepted' : p.error).toBe('accepted');
  });
});

describe('command lines', () => {
  it('A carries the plan and the fault knobs', () => {
    const c = aCmdline(
      planOf({ steps: [{ op: 'hibernate', abortAt: 'afterImageWritten', ioErrorAtWrite: 3 }] }),
      'stock',
    );
    expect(c).toContain('hibkj.memmax=0x4ffffff');
    expect(c).toContain('hibkj.helper=stock');
    expect(c).toContain('hibkj.mode=abort');
    expect(c).toContain('hibkj.eioat=3');
    expect(c.some((w) => w.startsWith('hibkj.plat'))).toBe(false);
    expect(c).toContain('hibkj.zero=1');
  });

  it('C keeps only B memmap and acpi_rsdp words', () => {
    const b =
      'console=ttyS0 hibkj.role=b acpi_rsdp=0xf59c0 elfcorehdr=81904K memmap=exactmap memmap=635K@4K memmap=80944K@960K kexec_jump_back_entry=0x50010f2';
    expect(cCmdline(b, planOf({})).join(' ')).toBe(
      'console=ttyS0 panic=-1 hibkj.role=c acpi_rsdp=0xf59c0 memmap=exactmap memmap=635K@4K memmap=80944K@960K',
    );
    expect(cCmdline('', planOf({}))).toEqual(['console=ttyS0', 'panic=-1', 'hibkj.role=c']);
  });

  it('a swap file: A and C name the target and its size, the disk holds the filesystem around it', () => {
    const p = planOf({ storage: { kind: 'swapFile', pages: 147456 } });
    expect(p.target.kind).toBe('file');
    expect(p.target.physicalPages).toBeGreaterThan(p.diskPages);
    expect(aCmdline(p, 'own')).toEqual(expect.arrayContaining(['hibkj.target=file', `hibkj.tpages=${p.diskPages}`]));
    expect(cCmdline('', p)).toEqual(expect.arrayContaining(['hibkj.target=file', `hibkj.tpages=${p.diskPages}`]));
  });

  it('a FUSE file: the disk is the backing range, A and C name the target', () => {
    const p = planOf({ storage: { kind: 'fuseFile', pages: 147456 } });
    expect(p.target).toEqual({ kind: 'fuse', physicalPages: p.diskPages });
    expect(aCmdline(p, 'own')).toEqual(expect.arrayContaining(['hibkj.target=fuse', `hibkj.tpages=${p.diskPages}`]));
    expect(cCmdline('', p)).toEqual(expect.arrayContaining(['hibkj.target=fuse']));
  });

  it('dm-crypt: A has the key, C the key keyAtResume says (the same, another, none)', () => {
    const key = (k: 'same' | 'wrong' | 'missing') => {
      const p = planOf({ storage: { kind: 'dmCrypt', pages: 147456, keyAtResume: k } });
      const a = aCmdline(p, 'own').find((w) => w.startsWith('hibkj.key='));
      const c = cCmdline('', p).find((w) => w.startsWith('hibkj.key='));
      expect(a).toMatch(/^hibkj\.key=[0-9a-f]{128}$/);
      expect(p.target.physicalPages).toBe(p.diskPages);
      return { a, c };
    };
    const same = key('same');
    expect(same.c).toBe(same.a);
    const wrong = key('wrong');
    expect(wrong.c).toMatch(/^hibkj\.key=[0-9a-f]{128}$/);
    expect(wrong.c).not.toBe(wrong.a);
    expect(key('missing').c).toBeUndefined();
  });
});

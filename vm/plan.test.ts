import { describe, expect, it } from 'vitest';
import { parseScenario, type Scenario, type ScenarioInput } from '../spec/scenario/schema.ts';
import {
  agentProgram,
  agentWords,
  hibernateOp,
  kernelCmdline,
  MIN_VM_MEM_PAGES,
  memMiB,
  scenarioIdHash,
  vmSupports,
} from './plan.ts';

const input = (over: Partial<ScenarioInput> = {}): ScenarioInput => ({
  version: 1,
  id: 'plan-test',
  machine: { memPages: 131072 },
  workload: { anon: 1000, zero: 10 },
  protocol: { kind: 'swsusp', kernel: '6.1', compression: 'lzo' },
  storage: { kind: 'swapPartition', pages: 65536 },
  steps: [{ op: 'write', pages: 5 }, { op: 'hibernate' }, { op: 'resume' }],
  ...over,
});

function scenario(over: Partial<ScenarioInput> = {}): Scenario {
  const r = parseScenario(input(over));
  if (!r.ok) throw new Error(r.error);
  return r.scenario;
}

describe('vmSupports', () => {
  it('accepts a swsusp cycle on a swap partition', () => {
    expect(vmSupports(scenario())).toEqual({ ok: true });
    // next_swap of a map page on a swap partition: the same 64-bit word, the same chain layout on both
    const link = { op: 'corrupt', region: 'map', index: 0, bit: 32713 } as const;
    expect(vmSupports(scenario({ steps: [{ op: 'hibernate' }, link, { op: 'resume' }] }))).toEqual({ ok: true });
  });

  it('accepts lz4 and asks init to select the compressor', () => {
    const s = scenario({ protocol: { kind: 'swsusp', compression: 'lz4' } });
    expect(vmSupports(s)).toEqual({ ok: true });
    expect(kernelCmdline(s, 'first')).toContain('hibfuzz.compressor=lz4');
    expect(kernelCmdline(scenario(), 'first')).not.toContain('hibfuzz.compressor=lz4');
  });

  it.each<[string, Partial<ScenarioInput>, RegExp]>([
    ['kexec', { protocol: { kind: 'kexec' } }, /kexec/],
    ['tiny memory', { machine: { memPages: MIN_VM_MEM_PAGES - 256 }, workload: {} }, /too small/],
    ['memory not in whole MiB', { machine: { memPages: 131072 + 1 } }, /whole MiB/],
    ['memory split around the PCI hole', { machine: { memPages: 0xe0000 }, storage: { pages: 65536 } }, /PCI hole/],
    [
      'resume memory not in whole MiB',
      { steps: [{ op: 'hibernate' }, { op: 'resume', memPages: 98304 + 100 }] },
      /whole MiB/,
    ],
    ['swap file at page 0', { storage: { kind: 'swapFile', pages: 100 } }, /swap file's header at page 10/],
    ['dma', { workload: { dma: 5 } }, /dma/],
    ['workload too big', { workload: { anon: 131072 - 1000 } }, /exceed/],
    ['page-cache write', { steps: [{ op: 'write', kind: 'pageCacheDirty', pages: 1 }] }, /anon pages only/],
    ['e820 change', { steps: [{ op: 'hibernate' }, { op: 'resume', e820Changed: true }] }, /memory map/],
    [
      'a corrupt step the disk would not flip as the model does',
      { steps: [{ op: 'hibernate' }, { op: 'corrupt', region: 'header', index: 1, bit: 9 }, { op: 'resume' }] },
      /region header: the model flips a bit of one swsusp_info field, the disk bit 9 of a 4 KiB page/,
    ],
    [
      'a swap map entry flip (the model picks the entry by index, the disk by bit)',
      { steps: [{ op: 'hibernate' }, { op: 'corrupt', region: 'map', index: 0, bit: 3 }, { op: 'resume' }] },
      /region map: the model flips a bit of one swap map entry/,
    ],
    [
      "a map link flip in a swap file (its links are the file's device blocks, not the model's slots)",
      {
        storage: { kind: 'swapFile', pages: 70000, offset: 10 },
        steps: [{ op: 'hibernate' }, { op: 'corrupt', region: 'map', index: 0, bit: 32713 }, { op: 'resume' }],
      },
      /region map, next_swap on a swapFile: the links there are not laid out as the model's slots/,
    ],
    [
      'a metadata flip without a CRC',
      {
        protocol: { kind: 'swsusp', compression: 'none' },
        steps: [{ op: 'hibernate' }, { op: 'corrupt', region: 'meta', index: 3 }, { op: 'resume' }],
      },
      /region meta: the model flips a bit of one PFN list entry/,
    ],
    [
      'uswsusp with a compressor',
      { protocol: { kind: 'swsusp', interface: 'uswsusp', compression: 'lzo' } },
      /uswsusp image uncompressed/,
    ],
    [
      'a PAGES_FOR_IO the kernel does not have',
      { protocol: { kind: 'swsusp', pagesForIo: 512 } },
      /PAGES_FOR_IO is 1024/,
    ],
    [
      'two faults',
      { steps: [{ op: 'hibernate', ioErrorAtWrite: 1, powerLossAfterWrite: 3 }] },
      /powerLossAfterWrite and ioErrorAtWrite/,
    ],
  ])('refuses %s', (_name, over, reason) => {
    const r = vmSupports(scenario(over));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
});

describe('image_size', () => {
  it('asks the agent to set /sys/power/image_size in bytes when the scenario sets imageSizePages', () => {
    expect(agentWords(scenario({ protocol: { kind: 'swsusp', imageSizePages: 3000 } }))).toContain(
      'hibfuzz.imagesize=12288000',
    );
    expect(agentWords(scenario()).some((w) => w.startsWith('hibfuzz.imagesize='))).toBe(false);
  });
});

describe('agentProgram / hibernateOp', () => {
  it('runs writes and hibernations in order, verifying after each hibernation', () => {
    const s = scenario({
      steps: [
        { op: 'write', pages: 7 },
        { op: 'hibernate' },
        { op: 'corrupt', region: 'data', index: 1 },
        { op: 'resume' },
        { op: 'write', pages: 2 },
        { op: 'hibernate', abortAt: 'freezer' },
        { op: 'hibernate', abortAt: 'testResume' },
      ],
    });
    expect(agentProgram(s)).toBe('w7,h,v,w2,hpfreezer,v,ht,v');
  });

  it('uses the /dev/snapshot path for uswsusp', () => {
    expect(hibernateOp({ op: 'hibernate' }, 'uswsusp')).toBe('hu');
    expect(hibernateOp({ op: 'hibernate', abortAt: 'core' }, 'sysfs')).toBe('hpcore');
    expect(() => hibernateOp({ op: 'hibernate', abortAt: 'afterJump' }, 'sysfs')).toThrow(/not a swsusp abort point/);
  });
});

describe('kernelCmdline', () => {
  it('passes the workload and program to the first boot, nocompress when asked', () => {
    const s = scenario({ protocol: { kind: 'swsusp', compression: 'none' }, workload: { anon: 3, pageCacheClean: 2 } });
    const words = kernelCmdline(s, 'first');
    expect(words).toContain('hibernate=nocompress');
    expect(words).toContain('hibfuzz.boot=first');
    expect(words).toContain('hibfuzz.anon=3');
    expect(words).toContain('hibfuzz.pc=2');
    expect(words).toContain(`hibfuzz.id=0x${scenarioIdHash('plan-test').toString(16)}`);
    expect(words).toContain('hibfuzz.prog=w5,h,v');
  });

  it('keeps resume boots free of workload parameters and adds noresume for bootNoresume', () => {
    const s = scenario();
    expect(kernelCmdline(s, 'resume').filter((w) => w.startsWith('hibfuzz.'))).toEqual(['hibfuzz.boot=resume']);
    expect(kernelCmdline(s, 'noresume', { noresumeWritePages: 4 })).toEqual(
      expect.arrayContaining(['noresume', 'hibfuzz.boot=noresume', 'hibfuzz.wpages=4']),
    );
    expect(kernelCmdline(s, 'first')).not.toContain('hibernate=nocompress');
  });
});

describe('small pure helpers', () => {
  it('hashes ids with FNV-1a', () => {
    expect(scenarioIdHash('')).toBe(0x811c9dc5);
    expect(scenarioIdHash('a')).toBe(0xe40c292c);
  });

  it('rounds memory up to whole MiB', () => {
    expect(memMiB(131072)).toBe(512);
    expect(memMiB(131073)).toBe(513);
  });
});

describe('kernelCmdline with wait (snapshot point)', () => {
  it('leaves the agent words out of the command line so one snapshot serves every scenario', () => {
    const s = scenario();
    const first = kernelCmdline(s, 'first', { wait: true });
    expect(first).toContain('hibfuzz.wait=1');
    expect(first.some((w) => w.startsWith('hibfuzz.prog='))).toBe(false);
    expect(kernelCmdline(scenario({ id: 'other', workload: { anon: 5 } }), 'first', { wait: true })).toEqual(first);
    expect(agentWords(s)).toContain('hibfuzz.prog=w5,h,v');
    expect(kernelCmdline(s, 'resume', { wait: true })).toContain('hibfuzz.wait=1');
  });
});

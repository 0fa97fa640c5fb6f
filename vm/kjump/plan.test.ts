import { describe, expect, it } from 'vitest';
import { parseScenario, type ScenarioInput } from '../../spec/scenario/schema.ts';
import {
  aCmdline,
  type ConsoleLine,
  cCmdline,
  classifyFailure,
  DEFAULT_REGION_BYTES,
  parseEvents,
  phaseTimings,
  planScenario,
} from './plan.ts';

const base: ScenarioInput = {
  version: 1,
  id: 't',
  seed: 5,
  machine: { memPages: 131072, cpus: 2 },
  workload: { anon: 100 },
  protocol: { kind: 'kexec' },
  storage: { pages: 147456 },
  steps: [{ op: 'hibernate', abortAt: 'afterImageWritten' }],
};

const scenario = (over: Partial<ScenarioInput>) => {
  const r = parseScenario({ ...base, ...over });
  if (!r.ok) throw new Error(r.error);
  return r.scenario;
};

describe('planScenario', () => {
  it('maps an abort scenario: 512 MiB, default 80 MiB region, list mode, disk = storage + A record', () => {
    const r = planScenario(scenario({}));
    expect(r.ok && r.plan).toMatchObject({
      memMiB: 512,
      cpus: 2,
      taggedPages: 100,
      memMax: DEFAULT_REGION_BYTES - 1,
      diskPages: 147456 + 1024,
      full: false,
    });
  });

  it('uses the full image when a resume follows, and the scenario region when it is kernel-sized', () => {
    const r = planScenario(
      scenario({ protocol: { kind: 'kexec', saveKernelPages: 12288 }, steps: [{ op: 'hibernate' }, { op: 'resume' }] }),
    );
    expect(r.ok && r.plan.full).toBe(true);
    expect(r.ok && r.plan.memMax).toBe(12288 * 4096 - 1);
  });

  it('adds anon writes to the tagged pages and zero writes to the zero pages', () => {
    const r = planScenario(
      scenario({
        workload: { anon: 100, zero: 7 },
        steps: [{ op: 'write', pages: 50 }, { op: 'write', kind: 'zero', pages: 3 }, { op: 'hibernate' }],
      }),
    );
    expect(r.ok && [r.plan.taggedPages, r.plan.zeroPages, r.plan.zeroElision]).toEqual([150, 10, true]);
  });

  it('refuses shapes the real run cannot do', () => {
    expect(planScenario(scenario({ steps: [{ op: 'hibernate', abortAt: 'afterLoad' }] })).ok).toBe(false);
    expect(planScenario(scenario({ steps: [{ op: 'resume' }] })).ok).toBe(false);
    expect(planScenario(scenario({ machine: { memPages: 1024 } })).ok).toBe(false);
  });
});

describe('command lines', () => {
  it('A carries the plan and the fault knobs', () => {
    const r = planScenario(scenario({}));
    if (!r.ok) throw new Error(r.error);
    const c = aCmdline(r.plan, 'stock', 'abort', { eioAt: 3 });
    expect(c).toContain('hibkj.memmax=0x4ffffff');
    expect(c).toContain('hibkj.helper=stock');
    expect(c).toContain('hibkj.eioat=3');
    expect(c).not.toContain('hibkj.plat');
    expect(c).toContain('hibkj.zero=1');
  });

  it('C keeps only B memmap and acpi_rsdp words', () => {
    const b =
      'console=ttyS0 hibkj.role=b acpi_rsdp=0xf59c0 elfcorehdr=81904K memmap=exactmap memmap=635K@4K memmap=80944K@960K kexec_jump_back_entry=0x50010f2';
    expect(cCmdline(b)).toBe(
      'console=ttyS0 panic=-1 hibkj.role=c acpi_rsdp=0xf59c0 memmap=exactmap memmap=635K@4K memmap=80944K@960K',
    );
  });
});

const line = (t: number, text: string): ConsoleLine => ({ t, text });

describe('parseEvents and phaseTimings', () => {
  const lines = [
    line(1000, 'HIBFUZZ {"ev":"a-init","up":1.0}'),
    line(1200, 'HIBFUZZ {"ev":"a-load","up":1.1}'),
    line(1500, 'HIBFUZZ {"ev":"a-loaded","rc":0}'),
    line(1600, 'HIBFUZZ {"ev":"a-jump"}'),
    line(2200, '[    0.000000] Linux version 6.12'),
    line(3200, 'HIBFUZZ {"ev":"b-init"}'),
    line(3700, 'HIBFUZZ {"ev":"b-save-rc","rc":0}'),
    line(3750, 'HIBFUZZ {"ev":"jump"}'),
    line(4400, 'HIBFUZZ {"ev":"a-back","rc":255}'),
    line(4500, 'HIBFUZZ {"ev":"a-back","rc":255}'),
  ];

  it('keeps the first occurrence of a replayed event', () => {
    const evs = parseEvents(lines);
    expect(evs.filter((e) => e.ev === 'a-back')).toHaveLength(1);
    expect(evs.find((e) => e.ev === 'a-back')?.t).toBe(4400);
  });

  it('measures the phases between markers, abort latency from A kexec -e to A back', () => {
    const t = phaseTimings(lines, parseEvents(lines), 5000);
    expect(t).toMatchObject({
      qemuToAInit: 1,
      aKexecLoad: 0.3,
      aJumpToBKernel: 0.6,
      bKernelToInit: 1,
      bSave: 0.5,
      bJumpToA: 0.65,
      abortLatency: 2.8,
      qemuTotal: 5,
    });
  });
});

describe('classifyFailure', () => {
  const ev = (text: string[]) => parseEvents(text.map((x, i) => line(i, `HIBFUZZ ${x}`)));

  it('stock helper with a page allocation failure is jumpBackHelperOom', () => {
    const evs = ev(['{"ev":"a-jump"}', '{"ev":"b-init"}', '{"ev":"b-helper-loaded","rc":255}']);
    const log = 'kexec: page allocation failure: order:0\nkexec: Could not allocate control_code_buffer';
    expect(classifyFailure(evs, log, false, 'a')?.kind).toBe('jumpBackHelperOom');
  });

  it('a jump with no return is noReturn', () => {
    const evs = ev(['{"ev":"a-jump"}', '{"ev":"b-init"}', '{"ev":"jump"}']);
    expect(classifyFailure(evs, '', false, 'a')?.kind).toBe('noReturn');
  });

  it('B never reaching /init is saveKernelNoBoot', () => {
    expect(classifyFailure(ev(['{"ev":"a-jump"}']), '', false, 'a')?.kind).toBe('saveKernelNoBoot');
  });

  it('a verified return is no failure', () => {
    const evs = ev(['{"ev":"a-jump"}', '{"ev":"b-init"}', '{"ev":"jump"}', '{"ev":"a-back"}', '{"ev":"a-verify"}']);
    expect(classifyFailure(evs, '', false, 'a')).toBeUndefined();
  });
});

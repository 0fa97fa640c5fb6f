// The model's machine against real ones (testdata/qemu-machine.ts: what a real guest printed at 512 MiB).
import { describe, expect, it } from 'vitest';
import { FIRMWARE_TOP_TABLES_MAX_PAGES, judgeMachine, type MachineObservation, saveableRanges } from './machine.ts';
import { parseScenario, type Scenario } from './scenario/schema.ts';
import { QEMU_PC_512M } from './testdata/qemu-machine.ts';

const scenario = (memPages: number, e820?: { start: number; pages: number; type: 'reserved' }[]): Scenario => {
  const p = parseScenario({
    version: 1,
    id: 'machine',
    seed: 1,
    machine: { memPages, ...(e820 === undefined ? {} : { e820 }) },
    protocol: { kind: 'swsusp' },
    storage: { pages: 64 },
    steps: [{ op: 'hibernate' }],
  });
  if (!p.ok) throw new Error(p.error);
  return p.scenario;
};

const QEMU_512M = QEMU_PC_512M;

describe('saveableRanges', () => {
  it("is the guest's RAM minus its registered nosave ranges", () => {
    expect(saveableRanges(QEMU_512M)).toEqual([
      { start: 1, end: 0x9f },
      { start: 0x100, end: 0x1ffdd },
    ]);
    expect(
      saveableRanges({
        ram: [{ start: 0, end: 10 }],
        nosave: [
          { start: 3, end: 5 },
          { start: 9, end: 12 },
        ],
      }),
    ).toEqual([
      { start: 0, end: 3 },
      { start: 5, end: 9 },
    ]);
  });
});

describe('judgeMachine', () => {
  it("agrees with the real 512 MiB guest, tolerating exactly the EBDA's frame and QEMU's 35 top frames", () => {
    const j = judgeMachine(scenario(131072), QEMU_512M);
    expect(j.differences).toEqual([]);
    expect(j.tolerated).toEqual([
      { range: { start: 0x9f, end: 0xa0 }, tolerance: 'firmwareEbda' },
      { range: { start: 0x1ffdd, end: 0x20000 }, tolerance: 'firmwareTopTables' },
    ]);
  });
  it('finds a model that saves the BIOS page (the model before PFN 0 was nosave)', () => {
    // the model's machine with PFN 0 saveable is what the guest shows with PFN 0 not registered: compare the other way
    const guestSavesPfn0: MachineObservation = { ...QEMU_512M, nosave: [{ start: 0x9f, end: 0x100 }] };
    const j = judgeMachine(scenario(131072), guestSavesPfn0);
    expect(j.differences).toEqual([
      'PFNs [0x0, 0x1) (1 frames) are saveable on the guest, not in the model (nosave or beyond its memory)',
    ]);
  });
  it('finds a model reserved range the guest saves, and a guest hole the model saves', () => {
    const j = judgeMachine(scenario(131072, [{ start: 0x1000, pages: 16, type: 'reserved' }]), QEMU_512M);
    expect(j.differences).toEqual([
      'PFNs [0x1000, 0x1010) (16 frames) are saveable on the guest, not in the model (nosave or beyond its memory)',
    ]);
    const holed: MachineObservation = { ...QEMU_512M, nosave: [...QEMU_512M.nosave, { start: 0x2000, end: 0x2001 }] };
    expect(judgeMachine(scenario(131072), holed).differences).toEqual([
      'PFNs [0x2000, 0x2001) (1 frames) are saveable in the model, not on the guest (not RAM or registered nosave)',
    ]);
  });
  it('bounds the top-of-RAM tolerance: 64 frames pass, 65 are a finding; a guest larger than the model is one', () => {
    const top = (n: number): MachineObservation => ({
      ...QEMU_512M,
      ram: [
        { start: 0, end: 0x9f },
        { start: 0x100, end: 0x20000 - n },
      ],
    });
    expect(judgeMachine(scenario(131072), top(FIRMWARE_TOP_TABLES_MAX_PAGES)).differences).toEqual([]);
    expect(judgeMachine(scenario(131072), top(FIRMWARE_TOP_TABLES_MAX_PAGES + 1)).differences).toHaveLength(1);
    // QEMU rounded -m up: the guest has RAM past the model's last frame
    expect(judgeMachine(scenario(131072 - 256), QEMU_512M).differences).toEqual([
      'PFNs [0x1ff00, 0x1ffdd) (221 frames) are saveable on the guest, not in the model (nosave or beyond its memory)',
    ]);
  });
  it('tolerates the EBDA frame only as that one frame, not a wider firmware hole', () => {
    const wide: MachineObservation = {
      ram: [
        { start: 0, end: 0x9e },
        { start: 0x100, end: 0x1ffdd },
      ],
      nosave: [
        { start: 0, end: 1 },
        { start: 0x9e, end: 0x100 },
      ],
    };
    expect(judgeMachine(scenario(131072), wide).differences).toEqual([
      'PFNs [0x9e, 0xa0) (2 frames) are saveable in the model, not on the guest (not RAM or registered nosave)',
    ]);
  });
});

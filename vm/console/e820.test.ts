import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { QEMU_PC_512M } from '../../spec/testdata/qemu-machine.ts';
import { parseE820Ram, parseMachine, parseNosaveRanges, parsePhyspages, parseSaveable } from './e820.ts';

const map = (usable2 = 'usable') =>
  [
    '[    0.000000] BIOS-provided physical RAM map:',
    '[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable',
    '[    0.000000] BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved',
    `[    0.000000] BIOS-e820: [mem 0x0000000000100000-0x000000001ffdcfff] ${usable2}`,
    '[    0.000000] BIOS-e820: [mem 0x000000001ffdd000-0x000000001fffffff] reserved',
    '[    0.000000] NX (Execute Disable) protection: active',
    '[    0.000000] BIOS-e820: [mem 0x0000000000001000-0x000000000009fbff] usable',
  ].join('\n');

describe('parseE820Ram', () => {
  it("takes the first kernel's usable ranges in whole pages", () => {
    expect(parseE820Ram(map())).toEqual([
      { start: 0, end: 159 },
      { start: 256, end: 131037 },
    ]);
  });

  it('refuses a map whose line the serial console tore (a real 6.12 console under load), and an absent one', () => {
    expect(
      parseE820Ram(
        map().replace(
          '] usable\n[    0.000000] BIOS-e820: [mem 0x000000001ffdd000',
          ']sable\n[    0.000000] BIOS-e820: [mem 0x000000001ffdd000',
        ),
      ),
    ).toBeUndefined();
    expect(parseE820Ram(map('usab'))).toBeUndefined();
    expect(parseE820Ram('Linux version 6.1\n')).toBeUndefined();
  });
});

const testdata = (name: string) => readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8');
const kjumpTestdata = (name: string) => readFileSync(new URL(`../kjump/testdata/${name}`, import.meta.url), 'utf8');

describe('parseNosaveRanges, parseMachine', () => {
  it("takes the first kernel's registered nosave ranges of a real 6.1 console (hang-6.1-fuse-writer-server-frozen): the BIOS page and 0x9f..0xff", () => {
    const log = testdata('hang-6.1-fuse-writer-server-frozen.log');
    expect(parseNosaveRanges(log)).toEqual(QEMU_PC_512M.nosave);
    expect(parseMachine(log)).toEqual(QEMU_PC_512M);
  });
  it("kjump: A's machine only, not B's after the jump (B's map has PFN 0 reserved, and its own nosave lines)", () => {
    const log = kjumpTestdata('abort-a.log');
    expect(log.split('Linux version ').length).toBeGreaterThan(2); // two kernels in one console
    expect(parseMachine(log)?.ram[0]).toEqual({ start: 0, end: 159 });
    expect(parseNosaveRanges(log)).toHaveLength(2);
  });
  it('a torn nosave line or none at all is unknown, never an empty set', () => {
    const log = testdata('hang-6.1-fuse-writer-server-frozen.log');
    const torn = log.replace(
      'Registered nosave memory: [mem 0x0009f000-0x000fffff]',
      'Registered nosave memory: [mem 0x0009f000-0x000ff',
    );
    expect(torn).not.toBe(log);
    expect(parseNosaveRanges(torn)).toBeUndefined();
    expect(parseMachine(torn)).toBeUndefined();
    expect(parseNosaveRanges(map())).toBeUndefined();
    expect(parseMachine(map())).toBeUndefined();
  });
  it('parseSaveable: RAM minus the nosave ranges; RAM alone when only a nosave line tore; nothing when the map tore', () => {
    const log = testdata('hang-6.1-fuse-writer-server-frozen.log');
    expect(parseSaveable(log)).toEqual([
      { start: 1, end: 0x9f },
      { start: 0x100, end: 0x1ffdd },
    ]);
    const torn = log.replace(
      'Registered nosave memory: [mem 0x0009f000-0x000fffff]',
      'Registered nosave memory: [mem 0x0009f',
    );
    expect(parseSaveable(torn)).toEqual(QEMU_PC_512M.ram);
    expect(parseSaveable(log.replace('] usable', ']sable'))).toBeUndefined();
  });
});

describe('parsePhyspages', () => {
  const log = testdata('hang-6.12-fuse-writer-server-frozen.log');
  const line = (k: string) =>
    `[    1.201454] Memory: 463804K/${k}K available (16384K kernel code, 2499K rwdata, 11716K rodata, 4264K init, 4904K bss, 56380K reserved, 0K cma-reserved)`;

  it("takes get_num_physpages() from a real 6.12 and 6.1 boot's Memory: line: the e820 RAM less page 0", () => {
    // 523756K / 4; the e820 usable ranges hold 159 + 130781 = 130940 whole pages, and trim_bios_range drops page 0
    expect(parsePhyspages(log)).toBe(130939);
    expect(parsePhyspages(testdata('hang-6.1-fuse-writer-server-frozen.log'))).toBe(130939);
    expect(parsePhyspages(kjumpTestdata('abort-a.log'))).toBe(130939);
  });

  it('is unknown when the line is missing or torn (a dropped digit still parses: the count leaves the RAM window)', () => {
    const real = log.split('\n').find((l) => l.includes('] Memory: ')) ?? '';
    expect(parsePhyspages(log.replace(real, line('52356')))).toBeUndefined();
    expect(parsePhyspages(log.replace(real, line('5237560')))).toBeUndefined();
    expect(parsePhyspages(log.replace(real, real.replace(' available', ' avilable')))).toBeUndefined();
    expect(parsePhyspages(log.replace(real, ''))).toBeUndefined();
    expect(parsePhyspages(line('523756'))).toBeUndefined(); // no e820 map to bound it
  });
});

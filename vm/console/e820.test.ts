import { describe, expect, it } from 'vitest';
import { parseE820Ram } from './e820.ts';

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

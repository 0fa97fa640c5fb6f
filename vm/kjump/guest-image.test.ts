import { describe, expect, it } from 'vitest';
import { parseLdd } from './guest-image.ts';

describe('parseLdd', () => {
  it('keeps resolved libraries and the loader, drops the vdso', () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007f5781c82000)',
      '\tlibxenctrl.so.4.17 => /lib/x86_64-linux-gnu/libxenctrl.so.4.17 (0x00007f5781b3c000)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f578195a000)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f5781c84000)',
    ].join('\n');
    expect(parseLdd(out)).toEqual([
      '/lib/x86_64-linux-gnu/libxenctrl.so.4.17',
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/lib64/ld-linux-x86-64.so.2',
    ]);
  });
});

// hibfused (guest/hibfused.c) on the host's own kernel: built as the guest gets it (buildHibfused), mounted over a
// temporary backing file; every byte read and written through the FUSE file must be the backing file's range.
// Needs root and /dev/fuse (the project's setup runs as root); skipped with the reason otherwise.
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHibfused } from '../initramfs.ts';

const run = promisify(execFile);

const fuseUsable = (): boolean => {
  try {
    accessSync('/dev/fuse', constants.R_OK | constants.W_OK);
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
};

const OFFSET = 3 * 4096;
const SIZE = 64 * 4096;

describe.skipIf(!fuseUsable())('hibfused on the host kernel (root, /dev/fuse)', () => {
  let dir = '';
  let bin = '';
  let back = '';
  let mnt = '';
  let mounted = false;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hibfused-'));
    bin = await buildHibfused(join(dir, 'cache'));
    back = join(dir, 'backing.img');
    mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    const bytes = Buffer.alloc(OFFSET + SIZE + 4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 12)) & 0xff;
    writeFileSync(back, bytes);
    await run(bin, [back, String(OFFSET), String(SIZE), mnt, 'image']);
    mounted = true;
  });

  afterAll(async () => {
    if (mounted) await run('umount', [mnt]).catch(() => run('umount', ['-l', mnt]));
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the backing range as MOUNTPOINT/NAME: size, content, writes land at OFFSET', async () => {
    // Arrange
    const file = join(mnt, 'image');
    const before = readFileSync(back);
    // Act
    const seen = readFileSync(file);
    const page = Buffer.alloc(4096, 0xa5);
    writeFileSync(join(dir, 'page'), page);
    await run('dd', [`if=${join(dir, 'page')}`, `of=${file}`, 'bs=4096', 'seek=5', 'count=1', 'conv=notrunc,fsync']);
    const after = readFileSync(back);
    // Assert
    expect(seen.length).toBe(SIZE);
    expect(seen.equals(before.subarray(OFFSET, OFFSET + SIZE))).toBe(true);
    expect(after.subarray(OFFSET + 5 * 4096, OFFSET + 6 * 4096).equals(page)).toBe(true);
    // nothing else changed: not before OFFSET, not elsewhere in the range
    expect(after.subarray(0, OFFSET + 5 * 4096).equals(before.subarray(0, OFFSET + 5 * 4096))).toBe(true);
    expect(after.subarray(OFFSET + 6 * 4096).equals(before.subarray(OFFSET + 6 * 4096))).toBe(true);
  });

  it('refuses a write past SIZE (ENOSPC) and has no other file', async () => {
    const file = join(mnt, 'image');
    const before = readFileSync(back);
    const past = run('dd', ['if=/dev/zero', `of=${file}`, 'bs=4096', `seek=${SIZE / 4096}`, 'count=1', 'conv=notrunc']);
    await expect(past).rejects.toThrow(/No space left on device/);
    expect(() => readFileSync(join(mnt, 'other'))).toThrow(/ENOENT/);
    expect(readFileSync(back).equals(before)).toBe(true);
  });

  it('bad input is one line on stderr and exit 1: a range beyond the backing store, a usage error', async () => {
    const beyond = run(bin, [back, '0', String(OFFSET + SIZE + 8192), mnt]);
    await expect(beyond).rejects.toMatchObject({
      code: 1,
      stderr: 'hibfused: OFFSET+SIZE beyond BACKING: No space left on device\n',
    });
    await expect(run(bin, [back, '0'])).rejects.toMatchObject({ code: 1 });
    await expect(run(bin, [back, 'x', '4096', mnt])).rejects.toMatchObject({
      code: 1,
      stderr: 'hibfused: OFFSET: Invalid argument\n',
    });
  });
});

import { describe, expect, it } from 'vitest';
import { InfraError } from '../errors.ts';
import { buildQemuArgs, checkQemuConfig, INCOMING_FD, type QemuConfig } from './args.ts';

const base: QemuConfig = {
  accel: 'tcg',
  memMiB: 512,
  cpus: 1,
  kernel: '/k/bzImage',
  initrd: '/k/initrd.gz',
  append: ['console=ttyS0', 'hibfuzz.boot=first'],
  disk: { path: '/w/disk.img' },
};

const valueAfter = (args: readonly string[], flag: string): string | undefined => args[args.indexOf(flag) + 1];

describe('buildQemuArgs', () => {
  it('boots a TCG guest with the swap disk on virtio and the serial console on stdio', () => {
    // Arrange / Act
    const args = buildQemuArgs(base);
    // Assert
    expect(valueAfter(args, '-accel')).toBe('tcg');
    expect(valueAfter(args, '-m')).toBe('512');
    expect(valueAfter(args, '-serial')).toBe('stdio');
    // the agent channel: a second serial port on the socket pair launchQemu passes as fd 4
    expect(args.join(' ')).toContain('-chardev socket,id=agent,fd=4,server=off -serial chardev:agent');
    expect(args).toContain('-no-reboot');
    expect(valueAfter(args, '-append')).toBe('console=ttyS0 hibfuzz.boot=first');
    expect(valueAfter(args, '-drive')).toBe('file=/w/disk.img,if=virtio,format=raw,cache=unsafe');
    expect(args).not.toContain('-cpu');
    expect(args).not.toContain('-qmp');
  });

  it('opens the disk through blkdebug when a rules file is given', () => {
    const args = buildQemuArgs({ ...base, disk: { path: '/w/disk.img', blkdebugConfig: '/w/rules' } });
    expect(valueAfter(args, '-drive')).toBe(
      'if=virtio,format=raw,cache=unsafe,file.driver=blkdebug,file.config=/w/rules,file.image.filename=/w/disk.img',
    );
  });

  it('serves the disk over NBD when a socket is given', () => {
    const args = buildQemuArgs({ ...base, disk: { path: '/w/disk.img', nbdSocket: '/w/nbd.sock' } });
    expect(valueAfter(args, '-drive')).toBe(
      'if=virtio,format=raw,cache=unsafe,file.driver=nbd,file.server.type=unix,file.server.path=/w/nbd.sock',
    );
  });

  it('adds QMP, incoming migration, pause and the host CPU for KVM', () => {
    const args = buildQemuArgs({
      ...base,
      accel: 'kvm',
      qmpSocket: '/w/q.sock',
      incoming: { stateFile: '/w/s' },
      paused: true,
    });
    expect(valueAfter(args, '-qmp')).toBe('unix:/w/q.sock,server=on,wait=off');
    expect(valueAfter(args, '-incoming')).toBe(`fd:${INCOMING_FD}`);
    expect(valueAfter(args, '-cpu')).toBe('host');
    expect(args.at(-1)).toBe('-S');
  });

  it('rejects values QEMU cannot parse', () => {
    expect(checkQemuConfig({ ...base, disk: { path: '/w/a,b.img' } })).toMatch(/cannot contain/);
    expect(checkQemuConfig({ ...base, append: ['two words'] })).toMatch(/one non-empty word/);
    expect(checkQemuConfig({ ...base, memMiB: 8 })).toMatch(/memMiB/);
    expect(() => buildQemuArgs({ ...base, cpus: 0 })).toThrow(/cpus/);
    expect(checkQemuConfig(base)).toBeUndefined();
  });

  it('never puts the incoming state path on the command line: any character is fine in it', () => {
    const stateFile = '/c/x;touch /tmp/p $(id)>o \'q",r/state.bin';
    const args = buildQemuArgs({ ...base, incoming: { stateFile } });
    expect(args.join(' ')).not.toContain('touch');
    expect(args.filter((a) => a.startsWith('exec:'))).toEqual([]);
  });

  it('refuses a comma in any path QEMU parses as an option value with an InfraError naming the path', () => {
    for (const c of [
      { ...base, disk: { path: '/w,a/disk.img' } },
      { ...base, disk: { path: '/w/disk.img', nbdSocket: '/w,a/nbd.sock' } },
      { ...base, disk: { path: '/w/disk.img', blkdebugConfig: '/w,a/rules' } },
      { ...base, qmpSocket: '/w,a/q.sock' },
    ]) {
      expect(() => buildQemuArgs(c)).toThrow(InfraError);
      expect(() => buildQemuArgs(c)).toThrow(/\/w,a\//);
    }
  });
});

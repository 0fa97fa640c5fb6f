import { describe, expect, it } from 'vitest';
import { dirEntry, fileEntry, moduleLoadOrder, moduleName, symlinkEntry, writeNewc } from './initramfs.ts';

// modules.dep of Debian 6.1.0-56 (trimmed)
const DEP_61 = `kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
`;

describe('moduleLoadOrder', () => {
  it('loads every dependency before its user, each module once', () => {
    // Act
    const { order, missing } = moduleLoadOrder(DEP_61, '', ['virtio_pci', 'virtio_blk']);
    // Assert
    expect(order.map(moduleName)).toEqual([
      'virtio_ring',
      'virtio',
      'virtio_pci_modern_dev',
      'virtio_pci_legacy_dev',
      'virtio_pci',
      'virtio_blk',
    ]);
    expect(missing).toEqual([]);
  });

  it('skips built-in modules (6.12: virtio_pci is =y) and reports unknown roots', () => {
    const dep = 'kernel/drivers/block/virtio_blk.ko.xz:\n';
    const builtin = 'kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/virtio/virtio.ko\n';
    expect(moduleLoadOrder(dep, builtin, ['virtio_pci', 'virtio_blk'])).toEqual({
      order: ['kernel/drivers/block/virtio_blk.ko.xz'],
      missing: [],
    });
    expect(moduleLoadOrder(dep, '', ['nvme']).missing).toEqual(['nvme']);
  });

  it('normalises dashes and compression suffixes in names', () => {
    expect(moduleName('kernel/x/virtio-pci.ko.zst')).toBe('virtio_pci');
  });
});

describe('writeNewc', () => {
  it('writes 4-byte aligned newc records ending with the trailer', () => {
    // Arrange
    const data = Buffer.from('hello');
    // Act
    const a = writeNewc([dirEntry('bin'), fileEntry('bin/x', data, 0o755), symlinkEntry('bin/sh', 'busybox')]);
    const text = a.toString('latin1');
    // Assert
    expect(a.length % 4).toBe(0);
    expect(text.startsWith('070701')).toBe(true);
    const x = text.indexOf('bin/x\0');
    const header = text.slice(x - 110, x);
    expect(header.slice(14, 22)).toBe((0o100755).toString(16).padStart(8, '0'));
    expect(Number.parseInt(header.slice(54, 62), 16)).toBe(5); // filesize
    expect(Number.parseInt(header.slice(94, 102), 16)).toBe('bin/x\0'.length); // namesize
    expect(text).toContain('hello');
    expect(text).toContain('TRAILER!!!\0');
  });

  it('is deterministic', () => {
    const e = [fileEntry('a', Buffer.from('1'))];
    expect(writeNewc(e).equals(writeNewc(e))).toBe(true);
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  cacheKey,
  FRAGMENT_PATH,
  fragmentExpectations,
  GATE_FRAGMENT_PATH,
  joinFragments,
  missingSymbols,
  patchSetSha256,
  sha256,
} from './build.ts';

describe('cacheKey', () => {
  it('changes with each of source version, fragment and patch set, and is filesystem-safe', () => {
    const k = cacheKey('6.12.117-1~deb12u1', 'f', 'p');
    expect(k).toMatch(/^6\.12\.117-1_deb12u1-[0-9a-f]{16}$/);
    expect(
      new Set([
        k,
        cacheKey('6.12.118-1', 'f', 'p'),
        cacheKey('6.12.117-1~deb12u1', 'g', 'p'),
        cacheKey('6.12.117-1~deb12u1', 'f', 'q'),
      ]).size,
    ).toBe(4);
  });
});

describe('patchSetSha256', () => {
  it('depends on order', () => {
    const a = Buffer.from('a');
    const b = Buffer.from('b');
    expect(patchSetSha256([a, b])).not.toBe(patchSetSha256([b, a]));
  });
});

describe('fragment checks', () => {
  const frag = '# comment\nCONFIG_KEXEC_JUMP=y\nCONFIG_NR_CPUS=4\n# CONFIG_STRICT_DEVMEM is not set\n';

  it('reads set and unset symbols', () => {
    expect(fragmentExpectations(frag)).toEqual({
      set: ['CONFIG_KEXEC_JUMP=y', 'CONFIG_NR_CPUS=4'],
      unset: ['CONFIG_STRICT_DEVMEM'],
    });
  });

  it('finds what did not land, including a symbol that should be unset', () => {
    const config = 'CONFIG_KEXEC_JUMP=y\nCONFIG_NR_CPUS=8\nCONFIG_STRICT_DEVMEM=y\n';
    expect(missingSymbols(frag, config)).toEqual(['CONFIG_NR_CPUS=4', 'CONFIG_STRICT_DEVMEM (should be unset)']);
  });

  it('accepts a config that has everything', () => {
    expect(missingSymbols(frag, 'CONFIG_KEXEC_JUMP=y\nCONFIG_NR_CPUS=4\n# CONFIG_STRICT_DEVMEM is not set\n')).toEqual(
      [],
    );
  });
});

describe('gate fragment', () => {
  const base = readFileSync(FRAGMENT_PATH, 'utf8');
  const gate = readFileSync(GATE_FRAGMENT_PATH, 'utf8');

  it('leaves the plain kernel keyed by config.fragment alone, and changes the key with the gate', () => {
    expect(sha256(joinFragments(base, undefined))).toBe(sha256(readFileSync(FRAGMENT_PATH)));
    expect(joinFragments('A=y', 'B=y')).toBe('A=y\nB=y');
    expect(cacheKey('v', sha256(joinFragments(base, gate)), 'p')).not.toBe(cacheKey('v', sha256(base), 'p'));
  });

  it('asks for what the swsusp scenarios need and keeps kexec jump', () => {
    const { set } = fragmentExpectations(gate);
    for (const sym of [
      'HIBERNATION',
      'HIBERNATION_SNAPSHOT_DEV',
      'PM_DEBUG',
      'PM_SLEEP_DEBUG',
      'CRYPTO_LZO',
      'CRYPTO_LZ4',
      'SWAP',
      'VIRTIO_BLK',
      'VIRTIO_PCI',
      'VIRTIO_CONSOLE',
      'KEXEC_JUMP',
    ]) {
      expect(set).toContain(`CONFIG_${sym}=y`);
    }
    expect(fragmentExpectations(joinFragments(base, gate)).unset).toContain('CONFIG_MODULES');
  });

  it('builds in what the storage targets need (issue 11): ext4, dm-crypt with aes-xts, FUSE', () => {
    const { set } = fragmentExpectations(gate);
    for (const sym of [
      'EXT4_FS',
      'MD',
      'BLK_DEV_DM',
      'DM_CRYPT',
      'CRYPTO_AES',
      'CRYPTO_XTS',
      'CRYPTO_SHA256',
      'FUSE_FS',
    ]) {
      expect(set).toContain(`CONFIG_${sym}=y`);
      // documented in the header comment
      expect(
        gate
          .split('\n')
          .filter((l) => l.startsWith('#'))
          .join('\n'),
      ).toContain(sym);
    }
  });
});

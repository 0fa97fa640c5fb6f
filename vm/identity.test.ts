import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InfraError } from './errors.ts';
import {
  bootHeaderProblem,
  capabilitiesFromConfig,
  fileSha256,
  findKernelConfig,
  kernelFacts,
  kernelLineOf,
  kernelReleaseFromHeader,
  parseKernelConfig,
  readKernelRelease,
  syntheticBootHeader,
  treeSha256,
} from './identity.ts';
import { cacheRoot } from './kernels.ts';

const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-identity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fakeBzImage = syntheticBootHeader;

const CONFIG_61 = `#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 6.1.192 Kernel Configuration
#
CONFIG_MODULES=y
CONFIG_HIBERNATION=y
CONFIG_HIBERNATION_SNAPSHOT_DEV=y
CONFIG_PM_DEBUG=y
# CONFIG_KEXEC_JUMP is not set
CONFIG_CRYPTO_LZO=y
CONFIG_CRYPTO_LZ4=m
CONFIG_LOCALVERSION=""
`;

describe('the x86 boot header', () => {
  it('reads the release from kernel_version (+0x200)', () => {
    const head = fakeBzImage('6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3');
    expect(bootHeaderProblem(head)).toBeUndefined();
    expect(kernelReleaseFromHeader(head)).toBe('6.1.0-57-amd64');
  });

  it('refuses what is not a bzImage or has no version string', () => {
    expect(bootHeaderProblem(fakeBzImage('6.1.0', { magic: 'XXXX' }))).toMatch(/HdrS/);
    expect(bootHeaderProblem(Buffer.alloc(100))).toMatch(/too short/);
    expect(kernelReleaseFromHeader(fakeBzImage('6.1.0', { ptr: 0 }))).toBeUndefined();
    expect(kernelReleaseFromHeader(fakeBzImage('not a version'))).toBeUndefined();
    // pointer beyond the setup sectors
    expect(kernelReleaseFromHeader(fakeBzImage('6.1.0', { ptr: 0x1000 }))).toBeUndefined();
  });

  it('names the file in the InfraError', () => {
    const p = join(dir, 'random.bin');
    writeFileSync(p, Buffer.alloc(4096, 7));
    expect(() => readKernelRelease(p)).toThrow(InfraError);
    expect(() => readKernelRelease(p)).toThrow(/random\.bin is not an x86 bzImage/);
    const q = join(dir, 'noversion');
    writeFileSync(q, fakeBzImage('x', { ptr: 0 }));
    expect(() => readKernelRelease(q)).toThrow(/carries no kernel version/);
  });

  const debian = join(cacheRoot(), 'kernels');
  const vmlinuz = existsSync(debian)
    ? readdirSync(debian)
        .filter((d) => existsSync(join(debian, d, 'boot')))
        .flatMap((d) =>
          readdirSync(join(debian, d, 'boot'))
            .filter((f) => f.startsWith('vmlinuz-'))
            .map((f) => join(debian, d, 'boot', f)),
        )
    : [];
  it.skipIf(vmlinuz.length === 0)('reads the release of a real Debian kernel', () => {
    for (const v of vmlinuz) expect(readKernelRelease(v)).toBe(v.slice(v.lastIndexOf('vmlinuz-') + 8));
  });
});

describe('kernelLineOf', () => {
  it.each([
    ['6.1.0-57-amd64', '6.1'],
    ['5.15.0', '6.1'],
    ['6.5.13', '6.1'],
    ['6.6.0', '6.12'],
    ['6.12.117+deb12-amd64', '6.12'],
    ['7.0.1', '6.12'],
  ])('%s -> %s', (release, line) => {
    expect(kernelLineOf(release)).toBe(line);
  });
  it('refuses a release it cannot read', () => {
    expect(() => kernelLineOf('bzImage')).toThrow(InfraError);
  });
});

describe('capabilities from a .config', () => {
  it('counts =y, and =m only when modules can be loaded', () => {
    const cfg = parseKernelConfig(CONFIG_61);
    expect(cfg.get('CONFIG_KEXEC_JUMP')).toBe('n');
    expect(capabilitiesFromConfig(cfg, { modulesAvailable: true })).toEqual([
      'hibernation',
      'hibernationSnapshotDev',
      'lz4',
      'lzo',
      'modules',
      'pmDebug',
    ]);
    expect(capabilitiesFromConfig(cfg, { modulesAvailable: false })).toEqual([
      'hibernation',
      'hibernationSnapshotDev',
      'lzo',
      'pmDebug',
    ]);
    const noMods = parseKernelConfig('# CONFIG_MODULES is not set\nCONFIG_KEXEC_JUMP=y\nCONFIG_CRYPTO_LZ4=m\n');
    expect(capabilitiesFromConfig(noMods, { modulesAvailable: true })).toEqual(['kexecJump']);
    const targets = parseKernelConfig('CONFIG_EXT4_FS=y\nCONFIG_DM_CRYPT=y\nCONFIG_FUSE_FS=m\n');
    expect(capabilitiesFromConfig(targets, { modulesAvailable: false })).toEqual(['dmCrypt', 'ext4']);
  });
});

describe('finding the .config', () => {
  it('takes config-<release> next to the bzImage (Debian boot/), a build tree .config, or --config', () => {
    const boot = join(dir, 'deb', 'boot');
    mkdirSync(boot, { recursive: true });
    writeFileSync(join(boot, 'vmlinuz-6.1.0-57-amd64'), fakeBzImage('6.1.0-57-amd64 #1'));
    writeFileSync(join(boot, 'config-6.1.0-57-amd64'), CONFIG_61);
    expect(findKernelConfig(join(boot, 'vmlinuz-6.1.0-57-amd64'), '6.1.0-57-amd64')).toBe(
      join(boot, 'config-6.1.0-57-amd64'),
    );

    const tree = join(dir, 'linux');
    mkdirSync(join(tree, 'arch', 'x86', 'boot'), { recursive: true });
    writeFileSync(join(tree, 'arch', 'x86', 'boot', 'bzImage'), fakeBzImage('6.1.192 #1'));
    writeFileSync(join(tree, '.config'), CONFIG_61);
    expect(findKernelConfig(join(tree, 'arch', 'x86', 'boot', 'bzImage'), '6.1.192')).toBe(
      join(tree, 'arch', 'x86', 'boot', '..', '..', '..', '.config'),
    );

    const lone = join(dir, 'lone');
    mkdirSync(lone);
    writeFileSync(join(lone, 'bzImage'), fakeBzImage('6.12.1 #1'));
    expect(findKernelConfig(join(lone, 'bzImage'), '6.12.1')).toBeUndefined();
    // a .config of another major.minor is not this kernel's
    writeFileSync(join(lone, '.config'), CONFIG_61);
    expect(findKernelConfig(join(lone, 'bzImage'), '6.12.1')).toBeUndefined();
    expect(() => findKernelConfig(join(lone, 'bzImage'), '6.12.1', join(lone, '.config'))).toThrow(/6\.1\.192/);
    expect(() => findKernelConfig(join(lone, 'bzImage'), '6.12.1', join(lone, 'bzImage'))).toThrow(/not a kernel/);
  });

  it('kernelFacts: config capabilities and hashes, or probe with none', async () => {
    const boot = join(dir, 'facts', 'boot');
    const mods = join(dir, 'facts', 'lib', 'modules', '6.1.0-57-amd64');
    mkdirSync(boot, { recursive: true });
    mkdirSync(mods, { recursive: true });
    writeFileSync(join(mods, 'modules.dep'), '');
    writeFileSync(join(boot, 'vmlinuz-6.1.0-57-amd64'), fakeBzImage('6.1.0-57-amd64 #1'));
    writeFileSync(join(boot, 'config-6.1.0-57-amd64'), CONFIG_61);
    const f = await kernelFacts(join(boot, 'vmlinuz-6.1.0-57-amd64'), mods);
    expect(f.release).toBe('6.1.0-57-amd64');
    expect(f.capabilitySource).toBe('config');
    expect(f.capabilities).toContain('lz4');
    expect(f.configSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(f.modulesSha256).toMatch(/^[0-9a-f]{64}$/);

    const lone = join(dir, 'facts-lone');
    mkdirSync(lone);
    writeFileSync(join(lone, 'bzImage'), fakeBzImage('6.12.9 #1'));
    const g = await kernelFacts(join(lone, 'bzImage'), undefined);
    expect(g).toEqual({
      release: '6.12.9',
      bzImageSha256: fileSha256(join(lone, 'bzImage')),
      capabilities: [],
      capabilitySource: 'probe',
    });
  });
});

describe('content hashes', () => {
  it('a file rewritten at the same path hashes differently', () => {
    const p = join(dir, 'rewritten');
    writeFileSync(p, 'kernel A');
    const a = fileSha256(p);
    expect(fileSha256(p)).toBe(a);
    writeFileSync(p, 'kernel B');
    expect(fileSha256(p)).not.toBe(a);
  });

  it('a tree hash covers names, contents and links', () => {
    const t = join(dir, 'tree');
    mkdirSync(join(t, 'kernel'), { recursive: true });
    writeFileSync(join(t, 'modules.dep'), 'a.ko:\n');
    writeFileSync(join(t, 'kernel', 'a.ko'), 'A');
    const h0 = treeSha256(t);
    writeFileSync(join(t, 'kernel', 'a.ko'), 'B');
    const h1 = treeSha256(t);
    symlinkSync('kernel/a.ko', join(t, 'link'));
    const h2 = treeSha256(t);
    expect(new Set([h0, h1, h2]).size).toBe(3);
  });
});

import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InfraError } from './errors.ts';
import { syntheticBootHeader } from './identity.ts';
import {
  compareDebianVersions,
  kernelCacheName,
  linePackageRegex,
  parseAptCachePolicy,
  pickNewestPackage,
  resolveKernel,
} from './kernels.ts';

describe('compareDebianVersions', () => {
  it.each([
    ['6.1.192-2', '6.1.192-1', 1],
    ['6.1.170-3', '6.1.192-1', -1],
    ['6.12.117-1~deb12u1', '6.12.117-1', -1],
    ['6.12.115-2~deb12u1', '6.12.117-1~deb12u1', -1],
    ['1:1.0-1', '2.0-1', 1],
    ['1.0a-1', '1.0-1', 1],
    ['1.0-1', '1.0-1', 0],
  ])('%s vs %s -> %i', (a, b, want) => {
    expect(Math.sign(compareDebianVersions(a, b))).toBe(want);
  });
});

describe('linePackageRegex', () => {
  it('matches the generic unsigned image of its line only', () => {
    const l61 = linePackageRegex('debian-6.1');
    const l612 = linePackageRegex('debian-6.12');
    expect(l61.test('linux-image-6.1.0-56-amd64-unsigned')).toBe(true);
    expect(l61.test('linux-image-6.1.0-50-cloud-amd64-unsigned')).toBe(false);
    expect(l61.test('linux-image-6.12.117+deb12-amd64-unsigned')).toBe(false);
    expect(l612.test('linux-image-6.12.117+deb12-amd64-unsigned')).toBe(true);
    expect(l612.test('linux-image-6.12.101+deb12-rt-amd64-unsigned')).toBe(false);
  });
});

const POLICY = `linux-image-6.1.0-48-amd64-unsigned:
  Installed: (none)
  Candidate: (none)
  Version table:
linux-image-6.1.0-55-amd64-unsigned:
  Installed: (none)
  Candidate: 6.1.192-1
  Version table:
     6.1.192-1 500
linux-image-6.1.0-56-amd64-unsigned:
  Installed: (none)
  Candidate: 6.1.192-2
linux-image-6.12.117+deb12-amd64-unsigned:
  Installed: (none)
  Candidate: 6.12.117-1~deb12u1
`;

describe('parseAptCachePolicy / pickNewestPackage', () => {
  it('reads candidates and picks the newest installable package of the line', () => {
    // Arrange
    const c = parseAptCachePolicy(POLICY);
    // Act
    const p61 = pickNewestPackage('debian-6.1', c);
    const p612 = pickNewestPackage('debian-6.12', c);
    // Assert
    expect(c.get('linux-image-6.1.0-48-amd64-unsigned')).toBeUndefined();
    expect(c.size).toBe(4);
    expect(p61).toEqual({ pkg: 'linux-image-6.1.0-56-amd64-unsigned', version: '6.1.192-2' });
    expect(p612).toEqual({ pkg: 'linux-image-6.12.117+deb12-amd64-unsigned', version: '6.12.117-1~deb12u1' });
  });

  it('returns undefined when nothing of the line is installable', () => {
    expect(
      pickNewestPackage(
        'debian-6.12',
        parseAptCachePolicy('linux-image-6.1.0-56-amd64-unsigned:\n  Candidate: 6.1.192-2\n'),
      ),
    ).toBeUndefined();
  });

  it('keeps cache names path-safe', () => {
    expect(kernelCacheName('linux-image-6.12.117+deb12-amd64-unsigned', '6.12.117-1~deb12u1')).toBe(
      'linux-image-6.12.117_deb12-amd64-unsigned_6.12.117-1_deb12u1',
    );
  });
});

describe('a kernel given as a path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-kernels-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const bz = (version: string): Buffer => syntheticBootHeader(`${version} (me@host) #1 SMP`);

  it('is checked before anything is created: not a bzImage -> InfraError, no cache or work dir', async () => {
    const junk = join(dir, 'junk');
    writeFileSync(junk, Buffer.alloc(8192, 1));
    const cache = join(dir, 'cache-untouched');
    await expect(resolveKernel(junk, { cacheDir: cache })).rejects.toThrow(/junk is not an x86 bzImage/);
    await expect(resolveKernel(join(dir, 'missing'), { cacheDir: cache })).rejects.toThrow(InfraError);
    expect(existsSync(cache)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['junk']);
  });

  it('reads the release from the bzImage, finds modules and a build tree .config', async () => {
    const tree = join(dir, 'linux');
    mkdirSync(join(tree, 'arch', 'x86', 'boot'), { recursive: true });
    writeFileSync(join(tree, 'arch', 'x86', 'boot', 'bzImage'), bz('6.12.9-gate'));
    writeFileSync(join(tree, '.config'), '# Linux/x86 6.12.9 Kernel Configuration\nCONFIG_HIBERNATION=y\n');
    const k = await resolveKernel(join(tree, 'arch', 'x86', 'boot', 'bzImage'));
    expect(k).toMatchObject({ release: '6.12.9-gate', version: '6.12.9-gate', modulesDir: undefined });
    expect(k.config).toBe(join(tree, '.config'));

    const mods = join(dir, 'mods', 'lib', 'modules', '6.12.9-gate');
    mkdirSync(mods, { recursive: true });
    writeFileSync(join(mods, 'modules.dep'), '');
    const withMods = await resolveKernel(join(tree, 'arch', 'x86', 'boot', 'bzImage'), { modules: join(dir, 'mods') });
    expect(withMods.modulesDir).toBe(mods);
  });

  it('refuses modules of another release', async () => {
    const d = join(dir, 'pkg');
    mkdirSync(join(d, 'lib', 'modules', '6.1.0-1-amd64'), { recursive: true });
    writeFileSync(join(d, 'lib', 'modules', '6.1.0-1-amd64', 'modules.dep'), '');
    writeFileSync(join(d, 'bzImage'), bz('6.1.0-2-amd64'));
    await expect(resolveKernel(d)).rejects.toThrow(/not the kernel's release 6\.1\.0-2-amd64/);
    await expect(
      resolveKernel(join(d, 'bzImage'), { modules: join(d, 'lib', 'modules', '6.1.0-1-amd64') }),
    ).rejects.toThrow(/not for the kernel's release/);
    await expect(resolveKernel('debian-6.1', { modules: d })).rejects.toThrow(/apply to a kernel given as a path/);
  });
});

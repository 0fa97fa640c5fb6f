import { describe, expect, it } from 'vitest';
import {
  compareDebianVersions,
  kernelCacheName,
  linePackageRegex,
  parseAptCachePolicy,
  pickNewestPackage,
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

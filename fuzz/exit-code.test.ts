// Unit tests of exitCodeFor: 0 held, 1 violation, 2 usage or infrastructure error.
import { describe, expect, it } from 'vitest';
import { EXIT, exitCodeFor } from './exit-code.ts';

describe('exitCodeFor', () => {
  it('is 0 when every run held', () => {
    // Arrange / Act / Assert
    expect(exitCodeFor({ findings: 0 })).toBe(EXIT.HELD);
  });

  it('is 1 when a violation was found', () => {
    expect(exitCodeFor({ findings: 3 })).toBe(1);
  });

  it('is 2 on a usage error, even with findings', () => {
    expect(exitCodeFor({ usageError: 'unknown flag', findings: 2 })).toBe(2);
  });

  it('is 2 on an infrastructure error without findings', () => {
    expect(exitCodeFor({ infraError: 'qemu missing', findings: 0 })).toBe(2);
  });

  it('never hides a finding behind a later infrastructure error', () => {
    expect(exitCodeFor({ infraError: 'disk full', findings: 1 })).toBe(1);
  });

  it('is 2 when an input was not run (never "all held"), unless a violation was found', () => {
    expect(exitCodeFor({ findings: 0, notRun: 1 })).toBe(2);
    expect(exitCodeFor({ findings: 1, notRun: 3 })).toBe(1);
  });
});

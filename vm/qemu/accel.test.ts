import { describe, expect, it } from 'vitest';
import { accelSetting, kvmProbeOk } from './accel.ts';

describe('accelSetting', () => {
  it('defaults to TCG and accepts the three settings', () => {
    expect(accelSetting(undefined)).toBe('tcg');
    expect(accelSetting('bogus')).toBe('tcg');
    expect(accelSetting('kvm')).toBe('kvm');
    expect(accelSetting('auto')).toBe('auto');
  });
});

describe('kvmProbeOk', () => {
  it('trusts KVM only when the probe guest powered off in time', () => {
    expect(kvmProbeOk('[    0.5] reboot: Power down\n', false)).toBe(true);
    expect(kvmProbeOk('[    0.5] reboot: Power down\n', true)).toBe(false);
    expect(kvmProbeOk('Linux version 6.1\n', false)).toBe(false);
  });
});

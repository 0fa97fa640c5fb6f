// Accelerator choice: HIBFUZZ_ACCEL=tcg (default) | kvm | auto. `auto` probes KVM with a real boot under a timeout
// (on some hosts KVM hangs instead of failing) and falls back to TCG; the answer is cached for a day.
import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot } from '../kernels.ts';
import type { Accel } from './args.ts';
import { launchQemu } from './launch.ts';

export const ACCEL_SETTINGS = ['auto', 'kvm', 'tcg'] as const;
export type AccelSetting = (typeof ACCEL_SETTINGS)[number];

const PROBE_TTL_MS = 24 * 3600 * 1000;
const PROBE_TIMEOUT_MS = 20_000;

/** Pure: the setting named by the environment value (unknown values mean the default, tcg). */
export function accelSetting(env: string | undefined): AccelSetting {
  return (ACCEL_SETTINGS as readonly string[]).includes(env ?? '') ? (env as AccelSetting) : 'tcg';
}

/** Pure: what a probe boot's console says about KVM. */
export const kvmProbeOk = (log: string, timedOut: boolean): boolean => !timedOut && /reboot: Power down/.test(log);

/**
 * The accelerator to use. For `auto`: TCG unless /dev/kvm is usable and a KVM boot of `kernel` that powers off at
 * once (`rdinit=/bin/busybox -- poweroff -f`) finishes within PROBE_TIMEOUT_MS.
 */
export async function chooseAccel(
  probe: { kernel: string; initrd: string; disk: string },
  setting: AccelSetting = accelSetting(process.env.HIBFUZZ_ACCEL),
): Promise<Accel> {
  if (setting !== 'auto') return setting;
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return 'tcg';
  }
  const dir = join(cacheRoot(), 'accel');
  const memo = join(dir, 'probe.json');
  if (existsSync(memo)) {
    const m = JSON.parse(readFileSync(memo, 'utf8')) as { accel: Accel; at: number };
    if (Date.now() - m.at < PROBE_TTL_MS) return m.accel;
  }
  mkdirSync(dir, { recursive: true });
  const r = await launchQemu(
    {
      accel: 'kvm',
      memMiB: 256,
      cpus: 1,
      kernel: probe.kernel,
      initrd: probe.initrd,
      append: ['console=ttyS0', 'panic=-1', 'rdinit=/bin/busybox', '--', 'poweroff', '-f'],
      disk: { path: probe.disk },
    },
    { logPath: join(dir, 'probe.log'), timeoutMs: PROBE_TIMEOUT_MS },
  ).done;
  const accel: Accel = kvmProbeOk(r.log, r.exit.kind === 'timeout') ? 'kvm' : 'tcg';
  writeFileSync(memo, `${JSON.stringify({ accel, at: Date.now() })}\n`);
  return accel;
}

// The guest's own memory on a kernel: what a real guest saves besides the agent's pages, which the model must know
// to predict the half-of-RAM limit and the image's counts. Debian lines use the measured GUEST_BASELINE; any other
// kernel (a gate build, a user's tree) is measured once by a calibration run and cached by its content hashes.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type KernelLine, parseScenario, type Scenario } from '../spec/index.ts';
import type { GuestBaseline, KernelIdentity } from './backend.ts';
import { cacheRoot } from './kernels.ts';
import { runScenarioInVm } from './run.ts';

/** Agent pages of the calibration run: few, so the image is mostly the guest's own memory. */
export const CALIBRATION_ANON = 1024;

/** 512 MiB like the shipped scenarios (the baseline is measured at the size it is used at), one power-off. */
export function calibrationScenario(line: KernelLine): Scenario {
  const p = parseScenario({
    version: 1,
    id: 'hibfuzz-calibrate',
    description: 'the guest baseline: hibernate a 512 MiB guest holding 1024 agent pages, read the image counts',
    machine: { memPages: 131072 },
    workload: { anon: CALIBRATION_ANON },
    protocol: { kind: 'swsusp', kernel: line, compression: 'lzo', interface: 'sysfs' },
    storage: { pages: 65536 },
    steps: [{ op: 'hibernate' }],
  });
  if (!p.ok) throw new Error(`calibration scenario: ${p.error}`);
  return p.scenario;
}

const cacheFile = (id: KernelIdentity) =>
  join(cacheRoot(), 'baselines', `${id.bzImageSha256.slice(0, 16)}-${(id.modulesSha256 ?? 'none').slice(0, 16)}.json`);

/**
 * Measure (or read back) the baseline of a kernel. undefined when the calibration run did not power off with an
 * image: the kernel cannot hibernate at all, which the scenarios then show as findings; the model is not told a
 * baseline it does not have.
 */
export async function measureBaseline(
  spec: string,
  id: KernelIdentity,
  opts: { readonly files?: { modules?: string; config?: string }; readonly log?: (l: string) => void } = {},
): Promise<GuestBaseline | undefined> {
  const file = cacheFile(id);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as GuestBaseline;
  const workDir = join(cacheRoot(), 'baselines', `run-${process.pid}-${Date.now()}`);
  mkdirSync(workDir, { recursive: true });
  opts.log?.(`calibrating the guest baseline of ${id.version} (one hibernation, cached in ${file})`);
  const r = await runScenarioInVm(calibrationScenario(id.line), {
    kernel: spec,
    workDir,
    ...(opts.files === undefined ? {} : { kernelFiles: opts.files }),
    ...(opts.log === undefined ? {} : { log: opts.log }),
  });
  const h = r.observation.steps[0];
  if (h?.op !== 'hibernate' || h.result !== 'poweredOff') return undefined;
  const b: GuestBaseline = {
    slab: Math.max(0, h.image.dataPages - CALIBRATION_ANON),
    zero: h.image.zeroPages,
    source: `calibration run of ${id.release} (${r.observation.kernel}), ${new Date().toISOString().slice(0, 10)}`,
  };
  writeFileSync(`${file}.tmp`, `${JSON.stringify(b)}\n`);
  renameSync(`${file}.tmp`, file);
  return b;
}

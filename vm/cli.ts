// CLI of the real-kernel runner: run scenario files in QEMU, print observations (JSON lines) and timings.
//
//   tsx vm/cli.ts run <scenario.json>... [--kernel debian-6.1|debian-6.12|PATH] [--fast] [--work DIR] [--verbose]
//
// Exit codes (vmExitCode): 0 every run passed, 1 a finding (violation, panic, hang, unexpected reboot, failed boot),
// 2 infrastructure or usage problem (never a finding).
import { mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseScenario } from '../spec/scenario/schema.ts';
import { isInfraError } from './errors.ts';
import type { VmRunResult } from './run.ts';
import { runScenarioInVm } from './run.ts';

export const EXIT_PASS = 0;
export const EXIT_FINDING = 1;
export const EXIT_INFRA = 2;

/** Pure: the process exit code for a batch of results (undefined entries: runs that hit an InfraError). */
export function vmExitCode(results: readonly (VmRunResult | undefined)[]): number {
  if (results.some((r) => r === undefined)) return EXIT_INFRA;
  const finding = results.some((r) => r?.verdict.kind !== 'pass' || r.observation.violations.length > 0);
  return finding ? EXIT_FINDING : EXIT_PASS;
}

export interface CliArgs {
  readonly files: readonly string[];
  readonly kernel: string;
  readonly fast: boolean;
  readonly work: string;
  readonly verbose: boolean;
}

/** Pure: parse argv (after the `run` command). Returns one line of usage error on failure. */
export function parseCliArgs(argv: readonly string[]): CliArgs | string {
  const files: string[] = [];
  let kernel = 'debian-6.1';
  let fast = false;
  let verbose = false;
  let work = join(tmpdir(), 'hibfuzz-vm');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--fast') fast = true;
    else if (a === '--verbose') verbose = true;
    else if (a === '--kernel' || a === '--work') {
      const v = argv[++i];
      if (v === undefined) return `${a} needs a value`;
      if (a === '--kernel') kernel = v;
      else work = v;
    } else if (a.startsWith('--')) return `unknown option ${a}`;
    else files.push(a);
  }
  if (files.length === 0) return 'no scenario files';
  return { files, kernel, fast, work, verbose };
}

async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const args =
    cmd === 'run' ? parseCliArgs(rest) : 'usage: vm/cli.ts run <scenario.json>... [--kernel K] [--fast] [--work DIR]';
  if (typeof args === 'string') {
    console.error(`hibfuzz vm: ${args}`);
    return EXIT_INFRA;
  }
  const results: (VmRunResult | undefined)[] = [];
  for (const file of args.files) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      console.error(`hibfuzz vm: ${file}: ${e instanceof Error ? e.message : String(e)}`);
      return EXIT_INFRA;
    }
    const p = parseScenario(json);
    if (!p.ok) {
      console.error(`hibfuzz vm: ${file}: ${p.error}`);
      return EXIT_INFRA;
    }
    const workDir = join(args.work, p.scenario.id);
    mkdirSync(workDir, { recursive: true });
    const t0 = Date.now();
    try {
      const r = await runScenarioInVm(p.scenario, {
        kernel: args.kernel,
        workDir,
        fast: args.fast,
        ...(args.verbose ? { log: (l: string) => console.error(l) } : {}),
      });
      results.push(r);
      const seconds = (Date.now() - t0) / 1000;
      console.log(
        JSON.stringify({
          scenario: p.scenario.id,
          seconds,
          verdict: r.verdict,
          observation: r.observation,
          timings: r.timings,
        }),
      );
    } catch (e) {
      if (!isInfraError(e)) throw e;
      console.error(`hibfuzz vm: ${p.scenario.id}: ${e.message}`);
      results.push(undefined);
    }
  }
  return vmExitCode(results);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e);
      process.exit(EXIT_INFRA);
    },
  );
}

// kjump CLI: run kexec scenarios on the real kexec-jump kernel and print {observation | failure, timings} as JSON.
// tsx vm/kjump/cli.ts SCENARIO.json [--patched] [--patch FILE]... [--helper own|stock] [--mem-mib N]
//                     [--artifacts DIR] [--full] [--jumpback-segment ADDR] [--debug] [--verbose]
// Exit: 0 ran (observation printed, violations included), 1 kernel finding (BootError), 2 host problem / bad input.
import { readFileSync } from 'node:fs';
import { parseScenario } from '../../spec/scenario/schema.ts';
import { InfraError } from '../errors.ts';
import { JUMP_BACK_PATCH } from './build.ts';
import { runKjumpScenario } from './run.ts';

async function main(argv: readonly string[]): Promise<number> {
  const patches: string[] = [];
  let file: string | undefined;
  let helper: 'own' | 'stock' = 'own';
  let artifactsDir: string | undefined;
  let memMiB: number | undefined;
  let debug = false;
  let verbose = false;
  let fullImage = false;
  let jumpBackSegment: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--patched') patches.push(JUMP_BACK_PATCH);
    else if (a === '--patch' && v !== undefined) patches.push(argv[++i] ?? v);
    else if (a === '--helper' && (v === 'own' || v === 'stock')) helper = argv[++i] === 'stock' ? 'stock' : 'own';
    else if (a === '--artifacts' && v !== undefined) artifactsDir = argv[++i];
    else if (a === '--mem-mib' && v !== undefined) memMiB = Number(argv[++i]);
    else if (a === '--debug') debug = true;
    else if (a === '--verbose') verbose = true;
    else if (a === '--full') fullImage = true;
    else if (a === '--jumpback-segment' && v !== undefined) jumpBackSegment = Number(argv[++i]);
    else if (a !== undefined && !a.startsWith('--') && file === undefined) file = a;
    else {
      console.error(`kjump: bad argument ${String(a)}`);
      return 2;
    }
  }
  if (file === undefined) {
    console.error(
      'usage: tsx vm/kjump/cli.ts SCENARIO.json [--patched] [--helper own|stock] [--mem-mib N] [--artifacts DIR]',
    );
    return 2;
  }
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (memMiB !== undefined) raw.machine = { ...(raw.machine as object), memPages: memMiB * 256 };
  if (memMiB !== undefined && raw.storage !== undefined) {
    raw.storage = { ...(raw.storage as object), pages: memMiB * 256 + 16384 };
  }
  const parsed = parseScenario(raw);
  if (!parsed.ok) {
    console.error(`kjump: ${file}: ${parsed.error}`);
    return 2;
  }
  try {
    const r = await runKjumpScenario(parsed.scenario, {
      patches,
      helper,
      qemuDebug: debug,
      fullImage,
      ...(jumpBackSegment !== undefined ? { jumpBackSegment } : {}),
      ...(artifactsDir !== undefined ? { artifactsDir } : {}),
      ...(verbose
        ? {
            onLine: (role: string, l: { t: number; text: string }) =>
              console.error(`${role} ${(l.t / 1000).toFixed(2)} ${l.text}`),
          }
        : {}),
    });
    if (r.ok) {
      console.log(JSON.stringify({ observation: r.observation, timings: r.timings, artifacts: r.artifacts }, null, 2));
      return 0;
    }
    console.log(
      JSON.stringify(
        {
          failure: { kind: r.kind, name: r.error.name, message: r.error.message },
          timings: r.timings,
          artifacts: r.artifacts,
        },
        null,
        2,
      ),
    );
    return r.error instanceof InfraError ? 2 : 1;
  } catch (e) {
    if (e instanceof InfraError) {
      console.error(`kjump: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv.slice(2));

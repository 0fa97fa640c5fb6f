// kjump measurement harness (not a second CLI: scenarios are run and judged by `hibfuzz vm run FILE --kernel
// kjump-6.12`): abort latency and phase timings of one kexec scenario on the kexec-jump kernel, with the knobs the
// measurements in RESULTS.md need (guest size, a full dump, the stock helper, a misdirected jump-back segment).
// tsx vm/kjump/bench.ts SCENARIO.json [--patched] [--patch FILE]... [--helper own|stock] [--mem-mib N]
//                       [--artifacts DIR] [--full] [--jumpback-segment ADDR] [--verbose]
// Prints {observation, boots, timings, artifacts} as JSON. It judges nothing: exit 0 when it ran, 2 host problem /
// bad input / unsupported scenario.
import { readFileSync } from 'node:fs';
import { parseScenario } from '../../spec/scenario/schema.ts';
import { InfraError } from '../errors.ts';
import { JUMP_BACK_PATCH } from './build.ts';
import { type KjumpRunOptions, runKjumpScenario } from './run.ts';

interface Args {
  readonly file: string;
  readonly memMiB: number | undefined;
  readonly opts: KjumpRunOptions;
}

function parseArgs(argv: readonly string[]): Args | string {
  const patches: string[] = [];
  let file: string | undefined;
  let memMiB: number | undefined;
  let opts: KjumpRunOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--patched') patches.push(JUMP_BACK_PATCH);
    else if (a === '--patch' && v !== undefined) patches.push(argv[++i] ?? v);
    else if (a === '--helper' && (v === 'own' || v === 'stock')) opts = { ...opts, helper: v, ...(i++ >= 0 ? {} : {}) };
    else if (a === '--artifacts' && v !== undefined) opts = { ...opts, artifactsDir: argv[++i] ?? v };
    else if (a === '--mem-mib' && v !== undefined) memMiB = Number(argv[++i]);
    else if (a === '--verbose') {
      opts = { ...opts, onLine: (role, l) => console.error(`${role} ${(l.t / 1000).toFixed(2)} ${l.text}`) };
    } else if (a === '--full') opts = { ...opts, fullImage: true };
    else if (a === '--jumpback-segment' && v !== undefined) opts = { ...opts, jumpBackSegment: Number(argv[++i]) };
    else if (a !== undefined && !a.startsWith('--') && file === undefined) file = a;
    else return `bad argument ${String(a)}`;
  }
  if (file === undefined)
    return 'usage: tsx vm/kjump/bench.ts SCENARIO.json [--patched] [--helper own|stock] [--mem-mib N]';
  return { file, memMiB, opts: { ...opts, patches } };
}

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    console.error(`kjump: ${args}`);
    return 2;
  }
  const raw = JSON.parse(readFileSync(args.file, 'utf8')) as Record<string, unknown>;
  if (args.memMiB !== undefined) {
    raw.machine = { ...(raw.machine as object), memPages: args.memMiB * 256 };
    raw.storage = { ...(raw.storage as object), pages: args.memMiB * 256 + 16384 };
  }
  const parsed = parseScenario(raw);
  if (!parsed.ok) {
    console.error(`kjump: ${args.file}: ${parsed.error}`);
    return 2;
  }
  try {
    const { observation, boots, timings, artifacts } = await runKjumpScenario(parsed.scenario, args.opts);
    console.log(JSON.stringify({ observation, boots, timings, artifacts }, null, 2));
    return 0;
  } catch (e) {
    if (e instanceof InfraError) {
      console.error(`kjump: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv.slice(2));

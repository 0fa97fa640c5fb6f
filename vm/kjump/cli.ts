// kjump CLI (thin; `hibfuzz vm run FILE --kernel kjump-6.12` is the one CLI): run a kexec scenario on the real
// kexec-jump kernel and print {observation, boots, invariants, timings, artifacts} as JSON, without the model.
// tsx vm/kjump/cli.ts SCENARIO.json [--patched] [--patch FILE]... [--helper own|stock] [--mem-mib N]
//                     [--artifacts DIR] [--full] [--jumpback-segment ADDR] [--verbose]
// Exit: 0 every boot ended as planned and no invariant judged on the facts is violated (known limits applied),
// 1 otherwise (a finding), 2 host problem / bad input / unsupported scenario.
import { readFileSync } from 'node:fs';
import { judgeObservation, observedViolations } from '../../spec/invariants/observed.ts';
import { parseScenario } from '../../spec/scenario/schema.ts';
import { judge } from '../../spec/verdict.ts';
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
    return 'usage: tsx vm/kjump/cli.ts SCENARIO.json [--patched] [--helper own|stock] [--mem-mib N]';
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
    const r = await runKjumpScenario(parsed.scenario, args.opts);
    const invariants = judgeObservation(parsed.scenario, r.observation);
    const j = judge(parsed.scenario, observedViolations(invariants));
    const held = invariants.filter((x) => x.result === 'held').map((x) => x.invariant);
    const { observation, boots, timings, artifacts } = r;
    console.log(JSON.stringify({ observation, boots, held, judgement: j, timings, artifacts }, null, 2));
    return boots.some((b) => b.kind !== 'pass') || j.unexpected.length > 0 ? 1 : 0;
  } catch (e) {
    if (e instanceof InfraError) {
      console.error(`kjump: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv.slice(2));

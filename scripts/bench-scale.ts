// Issue 14's scale runs: N kexec hibernate+resume cycles on a machine of G GiB, with every invariant checked; one
// JSON line (seconds, verdict, RSS after the run). Peak memory and CPU come from the caller:
//   /usr/bin/time -f '%U+%S s %M KiB' node --import tsx scripts/bench-scale.ts 4 8
//   ... scripts/bench-scale.ts 16 1 --warm-up      (as `hibfuzz bench` times a cycle: a JIT warm-up cycle first)
import { benchCycle, cycleScenario } from '../fuzz/bench.ts';
import { runAndJudge } from '../impl/index.ts';

const [gib, cycles] = [Number(process.argv[2] ?? 4), Number(process.argv[3] ?? 1)];
if (!(gib > 0) || !Number.isInteger(cycles) || cycles < 1 || cycles > 32) {
  console.error('usage: bench-scale.ts GIB CYCLES(1..32) [--warm-up]');
  process.exit(2);
}
if (process.argv.includes('--warm-up')) {
  benchCycle(16384);
  console.log(JSON.stringify(benchCycle(gib * 262144, cycles)));
} else {
  const t0 = performance.now();
  const r = runAndJudge(cycleScenario(gib * 262144, cycles));
  if (!r.ok) throw new Error(r.error);
  const seconds = Number(((performance.now() - t0) / 1000).toFixed(2));
  const rssMiB = Math.round(process.memoryUsage().rss / 2 ** 20);
  console.log(JSON.stringify({ gib, cycles, seconds, verdict: r.judgement.verdict, rssMiB }));
}

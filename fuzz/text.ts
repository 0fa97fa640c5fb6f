// The readable text form of a scenario (one fact per line, `#` comments): what the corpus stores next to the JSON
// and what the CLI prints for a finding. Print only; the JSON file is the source of truth.
import type { Scenario, Step } from '../spec/index.ts';

const mib = (pages: number): string => {
  const m = (pages * 4) / 1024;
  return m >= 1024
    ? `${(m / 1024).toFixed(m % 1024 === 0 ? 0 : 1)} GiB`
    : `${Number.isInteger(m) ? m : m.toFixed(2)} MiB`;
};

function fields(o: object, skip: readonly string[] = []): string {
  return Object.entries(o)
    .filter(([k, v]) => !skip.includes(k) && v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

export function stepText(st: Step): string {
  const rest = fields(st, ['op']);
  return rest === '' ? st.op : `${st.op} ${rest}`;
}

/** Lines of the text form; `printScenarioText` joins them. */
export function scenarioLines(s: Scenario): string[] {
  const out: string[] = [];
  out.push(`# scenario ${s.id} (version ${s.version}, seed ${s.seed})`);
  if (s.description !== undefined) out.push(`# ${s.description}`);
  out.push(`machine   memPages=${s.machine.memPages} (${mib(s.machine.memPages)}) cpus=${s.machine.cpus}`);
  for (const e of s.machine.e820 ?? []) out.push(`e820      ${e.type} pfn ${e.start}..${e.start + e.pages - 1}`);
  const w = Object.entries(s.workload).filter(([, v]) => v > 0);
  out.push(`workload  ${w.length === 0 ? '(empty)' : w.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  out.push(`protocol  ${s.protocol.kind} ${fields(s.protocol, ['kind'])}`);
  out.push(`storage   ${s.storage.kind} ${fields(s.storage, ['kind'])}`);
  for (const [i, st] of s.steps.entries()) out.push(`step ${String(i).padEnd(4)} ${stepText(st)}`);
  return out;
}

export function printScenarioText(s: Scenario): string {
  return `${scenarioLines(s).join('\n')}\n`;
}

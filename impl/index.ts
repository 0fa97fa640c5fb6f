// Public surface of impl/: run a scenario on the reference implementation; the replaceable parts for planted bugs.
export type { Ctx } from './context.ts';
export { type BootMachine, defaultParts, type ExchangeMap, type Parts, swapPages } from './parts.ts';
export * from './power/power.ts';
export { flushSwapWriter, markSwapfiles } from './power/swap.ts';
export { type ModelRun, type RunOptions, type RunResult, runAndJudge, runScenario } from './run.ts';

// Public surface of spec/: the scenario language, the state vocabulary, invariants and verdicts. Pure (zod only).
export * from './brand.ts';
export * from './invariants/names.ts';
export * from './invariants/observed.ts';
export * from './invariants/registry.ts';
export * from './limits.ts';
export * from './model/image.ts';
export * from './model/init.ts';
export * from './model/state.ts';
export * from './model/tokens.ts';
export type * from './model/trace.ts';
export * from './outcome.ts';
export * from './scenario/schema.ts';
export * from './verdict.ts';

// Public surface of vm/: the backend registry (one contract for every real kernel), consoles, swsusp images.

export type {
  Backend,
  BackendRunOptions,
  BootRecord,
  Capability,
  KernelIdentity,
  RealRun,
  Support,
} from './backend.ts';
export { CAPABILITIES } from './backend.ts';
export { GUEST_BASELINE, guestModelScenario, KJUMP_KERNELS, openBackend, swsuspSupport } from './backends.ts';
export type { BootReport, ExitInfo, ResumeRefusal, Verdict, VerdictKind } from './console/classify.ts';
export { classifyConsole, findRefusal, VERDICT_KINDS } from './console/classify.ts';
export type { AgentEvent, TimedEvent } from './console/events.ts';
export { AgentEvents, parseAgentEvents } from './console/events.ts';
export { BootError, InfraError, isBootError, isInfraError } from './errors.ts';
export * as image from './image/index.ts';
export { buildInitramfs } from './initramfs.ts';
export type { DebianLine, Kernel } from './kernels.ts';
export { cacheRoot, DEBIAN_LINES, isDebianLine, resolveKernel } from './kernels.ts';
export { agentProgram, kernelCmdline, MIN_VM_MEM_PAGES, vmSupports } from './plan.ts';
export type { Accel, QemuConfig } from './qemu/args.ts';
export { buildQemuArgs } from './qemu/args.ts';
export type { BootArtifact, VmRunOptions, VmRunResult } from './run.ts';
export { runScenarioInVm } from './run.ts';
export type { BootFacts, SystemState } from './steps.ts';
export { hibernateOutcome, resumeOutcome, writeOutcome } from './steps.ts';

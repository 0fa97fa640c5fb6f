// The two failure kinds of the real-kernel runner: findings about the kernel vs problems of the host.

/**
 * The kernel under test misbehaved while booting or running the scenario (panic, hang, no agent output):
 * a finding, reported as an outcome.
 */
export class BootError extends Error {
  override readonly name = 'BootError';
  /** console log of the boot that failed, when one was captured */
  readonly consoleLog: string | undefined;
  constructor(message: string, consoleLog?: string) {
    super(message);
    this.consoleLog = consoleLog;
  }
}

/**
 * The host could not run the scenario (QEMU missing, download failed, disk full, bad kernel path): never a finding.
 * The message is one line; the CLI prints it and exits 2.
 */
export class InfraError extends Error {
  override readonly name = 'InfraError';
}

export const isInfraError = (e: unknown): e is InfraError => e instanceof InfraError;
export const isBootError = (e: unknown): e is BootError => e instanceof BootError;

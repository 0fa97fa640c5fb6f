// The CLI's exit status as a pure function of what a command found (attw's getExitCode).

/** What a command ended with. `usageError`/`infraError` hold the one line printed on stderr. */
export interface CommandSummary {
  /** bad flags, bad input files, unknown subcommand: nothing was run */
  readonly usageError?: string;
  /** the host failed (QEMU missing, disk full, unreadable corpus): never a finding */
  readonly infraError?: string;
  /** findings: runs whose model verdict was `violated` (or a model/kernel divergence) */
  readonly findings: number;
  /** inputs asked for and not run (unreadable, invalid, a machine the model cannot set up, too big): never a pass */
  readonly notRun?: number;
}

export const EXIT = { HELD: 0, VIOLATED: 1, ERROR: 2 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * 0 when every run held, 1 when a violation was found, 2 on a usage or infrastructure error or when an input
 * was not run. A usage error wins (nothing ran); a finding wins over a later infrastructure error and over inputs
 * that could not run, so a bug is never hidden behind a host problem that happened after it was found.
 */
export function exitCodeFor(s: CommandSummary): ExitCode {
  if (s.usageError !== undefined) return EXIT.ERROR;
  if (s.findings > 0) return EXIT.VIOLATED;
  if (s.infraError !== undefined || (s.notRun ?? 0) > 0) return EXIT.ERROR;
  return EXIT.HELD;
}

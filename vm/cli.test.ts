import { describe, expect, it } from 'vitest';
import { EXIT_FINDING, EXIT_INFRA, EXIT_PASS, parseCliArgs, vmExitCode } from './cli.ts';
import type { VmRunResult } from './run.ts';

const result = (kind: VmRunResult['verdict']['kind'], violations = 0): VmRunResult => ({
  observation: {
    target: 'vm',
    kernel: '6.1.192-2',
    steps: [],
    violations: Array.from(
      { length: violations },
      () => ({ invariant: 'StaleImageNeverResumed', message: 'x' }) as const,
    ),
  },
  timings: {},
  verdict: { kind, title: '' },
  stepsRun: 0,
  artifacts: { disk: '', boots: [], images: [] },
});

describe('vmExitCode', () => {
  it('passes only when every run passed without violations', () => {
    expect(vmExitCode([result('pass'), result('pass')])).toBe(EXIT_PASS);
    expect(vmExitCode([result('pass'), result('kernelPanic')])).toBe(EXIT_FINDING);
    expect(vmExitCode([result('pass', 1)])).toBe(EXIT_FINDING);
    expect(vmExitCode([result('hang'), undefined])).toBe(EXIT_INFRA);
  });
});

describe('parseCliArgs', () => {
  it('reads files and options', () => {
    expect(parseCliArgs(['a.json', '--kernel', 'debian-6.12', '--fast', 'b.json', '--work', '/w'])).toEqual({
      files: ['a.json', 'b.json'],
      kernel: 'debian-6.12',
      fast: true,
      work: '/w',
      verbose: false,
    });
  });

  it('rejects bad usage with one line', () => {
    expect(parseCliArgs([])).toBe('no scenario files');
    expect(parseCliArgs(['a.json', '--kernel'])).toBe('--kernel needs a value');
    expect(parseCliArgs(['--bogus', 'a.json'])).toBe('unknown option --bogus');
  });
});

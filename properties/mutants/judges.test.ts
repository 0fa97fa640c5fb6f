// The selection of tests that may kill a mutant (vitest.mutation.config.ts) and the by-hand splice that checks
// Stryker's report: both must be right, or the mutation score is not a judgement of the properties.
import { describe, expect, it } from 'vitest';
import { CLAIM_NAMES } from '../../spec/index.ts';
import { applyMutant, reanchorMutant } from './by-hand.ts';
import { isJudge } from './judges.ts';

describe('isJudge', () => {
  it('selects every claim and the refinement, per protocol', () => {
    for (const name of [...CLAIM_NAMES, 'ImplRefinesSpec']) {
      expect(isJudge(`${name} holds (swsusp)`), name).toBe(true);
      expect(isJudge(`${name} holds (kexec)`), name).toBe(true);
    }
  });
  it('leaves out planted-bug checks and anything not named after a claim', () => {
    expect(isJudge('RestoreNeverClobbers catches planted bug safe-page-ignores-unsafe')).toBe(false);
    expect(isJudge('catches a planted bug (check-keeps-signature: a second resume finds the image again)')).toBe(false);
    expect(isJudge('ProtocolsAgreeOnMemory holds')).toBe(false);
    expect(isJudge('ImplRefinesSpecX holds (kexec)')).toBe(false);
    expect(isJudge('OutcomeAllowed holdsnot')).toBe(false);
  });
});

describe('applyMutant', () => {
  const mutant = (start: [number, number], end: [number, number], replacement: string) => ({
    id: '1',
    mutatorName: 'ConditionalExpression',
    status: 'Survived',
    replacement,
    location: { start: { line: start[0], column: start[1] }, end: { line: end[0], column: end[1] } },
  });
  it('splices the replacement at 1-based line and column', () => {
    const src = 'a\nif (x === 1 && y) return p;\nb\n';
    expect(applyMutant(src, mutant([2, 5], [2, 17], 'true'))).toBe('a\nif (true) return p;\nb\n');
  });
  it('spans lines', () => {
    expect(applyMutant('f() {\n  g();\n}\n', mutant([1, 5], [3, 2], '{}'))).toBe('f() {}\n');
  });
});

describe('reanchorMutant', () => {
  const m = {
    id: '7',
    mutatorName: 'ConditionalExpression',
    status: 'Survived',
    replacement: 'false',
    location: { start: { line: 2, column: 5 }, end: { line: 2, column: 10 } },
  };
  const source = 'const a = 1;\nif (n < 0) return fail();\nreturn ok();\n';
  it('finds the mutated span again in a later version of the file', () => {
    const later = `// a new first line\n${source}`;
    expect(reanchorMutant(source, later, m)).toBe(
      '// a new first line\nconst a = 1;\nif (false) return fail();\nreturn ok();\n',
    );
  });
  it('refuses a mutant whose code changed', () => {
    expect(() => reanchorMutant(source, source.replace('n < 0', 'n <= 0'), m)).toThrow(/code changed/);
    expect(() => reanchorMutant(source, source + source, m)).toThrow(/found twice/);
  });
});

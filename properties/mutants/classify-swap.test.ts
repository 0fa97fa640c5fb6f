// The classification of swap.ts's not-detected mutants (docs/mutation.md): a rule names only the code it argues.
import { describe, expect, it } from 'vitest';
import { classify } from './classify-swap.ts';

const at = (line: string, span: string, replacement: string, status = 'Survived') => {
  const column = line.indexOf(span) + 1;
  const m = {
    id: '1',
    mutatorName: 'X',
    replacement,
    status,
    location: { start: { line: 1, column }, end: { line: 1, column: column + span.length } },
  };
  return classify(m, line, new Set()).cls;
};

describe('classify-swap', () => {
  const hdr = "  if (hdr === undefined || hdr.sig !== SIG.SWAPSPACE2) return fail('ENODEV');";
  it('calls the missing-header half equivalent, never the whole test', () => {
    expect(at(hdr, 'hdr === undefined', 'false')).toBe('equivalent');
    expect(at(hdr, 'hdr === undefined || hdr.sig !== SIG.SWAPSPACE2', 'false')).toBe('gap');
  });

  it('keeps a hang and an unknown change apart from the rules', () => {
    expect(at('  for (let i = 0; i < mp.count; i++) {', 'i++', 'i--', 'Timeout')).toBe('hang');
    expect(at("    if (e === 0 || e >= dev.nr) return fail('EFAULT');", 'e === 0', 'false')).toBe('gap');
  });
});

import { describe, expect, it } from 'vitest';
import { parseScenario } from '../spec/index.ts';
import { gateCase, pool } from './gate-run.ts';
import { shippedScenarios } from './suite.ts';

const root = new URL('..', import.meta.url).pathname;

describe('gate cases', () => {
  it('resumes a scenario on the kernel under test when it names another resume kernel, and says so', () => {
    // Arrange
    const other = shippedScenarios(root).find((c) => c.file.endsWith('resume-other-kernel.json'));
    if (other === undefined) throw new Error('resume-other-kernel.json not shipped');
    // Act
    const c = gateCase(other.file, other.scenario);
    // Assert
    expect(c.note).toContain('replaced by the kernel under test');
    expect(c.scenario.steps.some((st) => st.op === 'resume' && st.kernel !== undefined)).toBe(false);
    expect(parseScenario(c.scenario).ok).toBe(true);
    const plain = shippedScenarios(root).find((x) => x.file.endsWith('/clean-cycle.json'));
    expect(plain && gateCase(plain.file, plain.scenario).note).toBeUndefined();
  });

  it('runs at most jobs tasks at once and keeps the order of the results', async () => {
    let running = 0;
    let most = 0;
    const task = (v: number) => async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5 + (v % 3)));
      running--;
      return v;
    };
    expect(await pool(2, [1, 2, 3, 4, 5].map(task))).toEqual([1, 2, 3, 4, 5]);
    expect(most).toBe(2);
  });
});

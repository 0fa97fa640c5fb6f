import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../spec/scenario/schema.ts';
import { vmSupports } from './plan.ts';

const DIR = new URL('./scenarios/', import.meta.url).pathname;
const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

describe('shipped VM scenarios', () => {
  it('exist', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
  });

  it.each(files)('%s is schema-valid and runnable in a VM', (f) => {
    // Arrange
    const json: unknown = JSON.parse(readFileSync(`${DIR}${f}`, 'utf8'));
    // Act
    const parsed = parseScenario(json);
    // Assert
    expect(parsed).toMatchObject({ ok: true });
    if (parsed.ok) {
      expect(vmSupports(parsed.scenario)).toEqual({ ok: true });
      expect(`${parsed.scenario.id}.json`).toBe(`vm-${f}`);
    }
  });
});

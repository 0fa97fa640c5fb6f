// Every shipped seed (fuzz/seeds: replayed first by every campaign) holds on the reference model: no violation the
// known limits do not explain. Two of them are default-campaign false alarms of 2026-12-02, kept as regressions.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAndJudge } from '../impl/run.ts';
import { parseScenario } from '../spec/index.ts';

const dir = new URL('../fuzz/seeds/', import.meta.url).pathname;

describe('shipped seeds', () => {
  it.each(readdirSync(dir).filter((f) => f.endsWith('.json')))(
    '%s runs on the model with no unexplained violation',
    (f) => {
      const p = parseScenario(JSON.parse(readFileSync(join(dir, f), 'utf8')));
      if (!p.ok) throw new Error(p.error);
      const r = runAndJudge(p.scenario);
      if (!r.ok) throw new Error(r.error);
      expect(r.judgement.unexpected.map((v) => `${v.invariant}: ${v.message}`)).toEqual([]);
    },
  );
});

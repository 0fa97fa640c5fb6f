// Writes spec/scenario/scenario.schema.json from the zod schema; with --check, fails (exit 1) if it differs.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SCENARIO_SCHEMA_URL, scenarioJsonSchema } from '../spec/scenario/json-schema.ts';

const path = fileURLToPath(SCENARIO_SCHEMA_URL);
const text = scenarioJsonSchema();
if (process.argv.includes('--check')) {
  let old = '';
  try {
    old = readFileSync(path, 'utf8');
  } catch {}
  if (old !== text) {
    console.error('spec/scenario/scenario.schema.json is stale: run `npm run schema`');
    process.exit(1);
  }
} else writeFileSync(path, text);

// Writes the README's CLI section from `hibfuzz --help` (fuzz/main.ts USAGE); with --check, exit 1 if it is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { USAGE } from '../fuzz/main.ts';
import { readmeWithUsage } from '../fuzz/readme-help.ts';

const path = new URL('../README.md', import.meta.url);
const old = readFileSync(path, 'utf8');
const text = readmeWithUsage(old, USAGE);
if (text === undefined) {
  console.error('README.md: the hibfuzz --help markers are missing');
  process.exit(1);
}
if (process.argv.includes('--check')) {
  if (old !== text) {
    console.error('README.md: the CLI section is stale: run `npx tsx scripts/readme-cli.ts`');
    process.exit(1);
  }
} else writeFileSync(path, text);

// Help and behaviour in step (issue 13): each subcommand's parser and help come from one option table, so
// `hibfuzz CMD --help` exits 0 with that command's usage, lists every flag the parser accepts, and the parser refuses
// every flag the table does not have. The texts are snapshots (a changed flag shows in review), and the README's
// CLI section is `hibfuzz --help` itself.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandHelp, parse, UsageError } from './cli-kit.ts';
import { COMMANDS, USAGE, VERSION } from './main.ts';
import { readmeWithUsage } from './readme-help.ts';
import { runCli } from './test-io.ts';

const ROOT = join(import.meta.dirname ?? '.', '..');

describe('hibfuzz CMD --help', () => {
  for (const c of COMMANDS) {
    it(`${c.name} --help and -h exit 0 with its usage and every flag of its table`, async () => {
      const args = c.name.split(' ');
      const long = await runCli([...args, '--help']);
      expect(long.code).toBe(0);
      expect(long.err).toBe('');
      expect(long.out).toBe(commandHelp(c));
      expect(long.out.startsWith(`usage: hibfuzz ${c.name}`)).toBe(true);
      expect((await runCli([...args, '-h'])).out).toBe(long.out);
      // help wins over the rest of the line: nothing runs, nothing is validated
      expect((await runCli([...args, 'x', '--help'])).code).toBe(0);
      // the synopsis lines in the usage: up to the summary line (indented six columns)
      const from = USAGE.slice(USAGE.indexOf(`hibfuzz ${c.name}`));
      const synopsis = from.slice(0, from.search(/\n {6}\S/));
      for (const flag of Object.keys(c.options)) {
        expect(long.out).toContain(`  --${flag}`);
        expect(synopsis).toContain(`--${flag}`);
      }
    });
  }

  it('the parser accepts exactly the flags of the table', () => {
    for (const c of COMMANDS) {
      for (const [flag, o] of Object.entries(c.options)) {
        const args = o.type === 'string' ? [`--${flag}`, 'v'] : [`--${flag}`];
        expect(() => parse(args, c), `${c.name} --${flag}`).not.toThrow();
      }
      expect(() => parse(['--no-such-flag'], c)).toThrow(UsageError);
    }
  });

  it('an unknown flag is refused with one line, exit 2, for every command', async () => {
    for (const c of COMMANDS) {
      const r = await runCli([...c.name.split(' '), '--no-such-flag']);
      expect(r.code, c.name).toBe(2);
      expect(r.err).toMatch(/^hibfuzz: Unknown option '--no-such-flag'/);
    }
  });

  it('vm --help prints the three vm commands; help CMD is CMD --help', async () => {
    const vm = await runCli(['vm', '--help']);
    expect(vm.code).toBe(0);
    for (const n of ['vm run', 'vm suite', 'vm build']) expect(vm.out).toContain(`usage: hibfuzz ${n}`);
    const viaHelp = await runCli(['help', 'vm', 'run']);
    expect(viaHelp.out).toBe((await runCli(['vm', 'run', '--help'])).out);
    expect((await runCli(['help', 'nope'])).code).toBe(2);
  });

  it('--version and -V print the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
    for (const a of ['--version', '-V']) {
      const r = await runCli([a]);
      expect(r.code).toBe(0);
      expect(r.out).toBe(`hibfuzz ${pkg.version}\n`);
    }
  });

  it('no line of the usage or of a command help is wider than 120 columns', () => {
    const texts = [USAGE, ...COMMANDS.map(commandHelp)];
    const wide = texts.flatMap((t) => t.split('\n')).filter((l) => l.length > 120);
    expect(wide).toEqual([]);
  });

  it('the usage and every command help (snapshot)', () => {
    expect(USAGE).toMatchSnapshot('usage');
    for (const c of COMMANDS) expect(commandHelp(c)).toMatchSnapshot(c.name);
  });

  it("the README's CLI section is hibfuzz --help (npx tsx scripts/readme-cli.ts writes it)", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const regenerated = readmeWithUsage(readme, USAGE);
    expect(regenerated, 'README.md has no hibfuzz --help markers').toBeDefined();
    expect(regenerated === readme, 'README.md CLI section is stale: run npx tsx scripts/readme-cli.ts').toBe(true);
  });
});

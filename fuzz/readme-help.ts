// The README's CLI section is `hibfuzz --help` itself, between two marker lines: `readmeWithUsage` puts the current
// usage there, `npx tsx scripts/readme-cli.ts` writes it (--check: exit 1 when stale; fuzz/cli-help.test.ts checks it).
export const BEGIN = '<!-- hibfuzz --help (generated: npx tsx scripts/readme-cli.ts) -->';
export const END = '<!-- end of hibfuzz --help -->';

/** The README with the usage block replaced; undefined when the markers are missing. */
export function readmeWithUsage(readme: string, usage: string): string | undefined {
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) return undefined;
  return `${readme.slice(0, a)}${BEGIN}\n\`\`\`\n${usage}\`\`\`\n${readme.slice(b)}`;
}

// The real consumers tests check hibfuzz's XML against (Debian packages installed by vm/setup.sh): libxml2's xmllint
// for well-formedness and the Jenkins JUnit schema, and python3-junitparser reading a JUnit file as CI tools do.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const JENKINS_JUNIT_XSD = new URL('./junit-jenkins.xsd', import.meta.url).pathname;

/** xmllint's complaints (one per line) about `text`, against `xsd` when given; [] means accepted. */
export function xmllint(text: string, xsd?: string): string[] {
  const args = ['--noout', '--nonet', ...(xsd !== undefined ? ['--schema', xsd] : []), '-'];
  const r = spawnSync('xmllint', args, { input: text, encoding: 'utf8' });
  if (r.error !== undefined) throw new Error(`xmllint: ${r.error.message} (install libxml2-utils: vm/setup.sh)`);
  if (r.status === 0) return [];
  return r.stderr.split('\n').filter((l) => l !== '' && !/^- (validates|fails to validate)$/.test(l));
}

export interface ReadCase {
  readonly name: string;
  readonly classname: string | null;
  readonly time: number;
  readonly results: readonly { tag: string; message: string | null; type: string | null; text: string | null }[];
  readonly systemOut: string | null;
}
export interface ReadSuite {
  readonly name: string;
  readonly tests: number;
  readonly failures: number;
  readonly errors: number;
  readonly skipped: number;
  readonly time: number;
  readonly timestamp: string | null;
  readonly hostname: string | null;
  readonly properties: Readonly<Record<string, string>>;
  readonly cases: readonly ReadCase[];
}

const READ = `
import json, sys
from junitparser import JUnitXml, TestSuite
xml = JUnitXml.fromfile(sys.argv[1])
suites = [xml] if isinstance(xml, TestSuite) else list(xml)
def case(c):
    return {"name": c.name, "classname": c.classname, "time": c.time, "systemOut": c.system_out,
            "results": [{"tag": r._tag, "message": r.message, "type": r.type, "text": r.text} for r in c.result]}
print(json.dumps([{"name": s.name, "tests": s.tests, "failures": s.failures, "errors": s.errors,
    "skipped": s.skipped, "time": s.time, "timestamp": s.timestamp, "hostname": s.hostname,
    "properties": {p.name: p.value for p in s.properties()}, "cases": [case(c) for c in s]} for s in suites]))
`;

/** The suites of a JUnit file as python3-junitparser reads them. */
export function junitparser(text: string): ReadSuite[] {
  const f = join(mkdtempSync(join(tmpdir(), 'hibfuzz-junit-')), 'report.xml');
  writeFileSync(f, text);
  const r = spawnSync('/usr/bin/python3', ['-c', READ, f], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`junitparser: ${r.stderr.trim()} (install python3-junitparser: vm/setup.sh)`);
  return JSON.parse(r.stdout) as ReadSuite[];
}

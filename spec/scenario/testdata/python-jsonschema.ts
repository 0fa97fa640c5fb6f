// A real JSON Schema validator for tests: Debian's python3-jsonschema (installed by vm/setup.sh), draft 2020-12.
import { execFileSync } from 'node:child_process';

/** Validate documents with python3-jsonschema (draft 2020-12); returns one error line per invalid document. */
export function pythonValidate(schemaPath: string, docs: readonly string[]): string[] {
  const script = [
    'import json, sys',
    'from jsonschema import Draft202012Validator',
    'schema = json.load(open(sys.argv[1]))',
    'Draft202012Validator.check_schema(schema)',
    'v = Draft202012Validator(schema)',
    'for p in sys.argv[2:]:',
    '    for e in v.iter_errors(json.load(open(p))):',
    '        print(p + ": " + "/".join(map(str, e.absolute_path)) + ": " + e.message.splitlines()[0])',
  ].join('\n');
  const out = execFileSync('/usr/bin/python3', ['-c', script, schemaPath, ...docs], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l !== '');
}

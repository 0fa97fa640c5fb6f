// The kernel's own KTAP parser for tests: tools/testing/kunit/kunit.py from Debian's linux-source-6.12 (vm/setup.sh
// installs it). Taken from a tree the kjump or gate build unpacked, else extracted once from the tarball into the
// cache (only tools/testing/kunit: seconds), so the consumer check runs on a fresh machine too, before any build.
// undefined only when neither exists (the package is not installed).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const TARBALL = '/usr/src/linux-source-6.12.tar.xz';
const KUNIT = 'tools/testing/kunit/kunit.py';

export function kunitPy(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const cache = env.HIBFUZZ_CACHE ?? join(homedir(), '.cache', 'hibfuzz');
  const kjump = join(cache, 'kjump');
  const built = existsSync(kjump)
    ? readdirSync(kjump)
        .filter((d) => d.startsWith('src-'))
        .map((d) => join(kjump, d, 'linux-source-6.12', KUNIT))
        .find((p) => existsSync(p))
    : undefined;
  if (built !== undefined) return built;
  const dir = join(cache, 'kunit');
  const tool = join(dir, 'linux-source-6.12', KUNIT);
  if (existsSync(tool)) return tool;
  if (!existsSync(TARBALL)) return undefined;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  execFileSync('tar', ['-C', tmp, '-xJf', TARBALL, 'linux-source-6.12/tools/testing/kunit']);
  if (!existsSync(tool)) {
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } else rmSync(tmp, { recursive: true, force: true });
  return tool;
}

// Gate builds: base and candidate kernels with the same configuration (vm/kjump config.fragment + gate.fragment),
// in a private work tree, cached by content in the kjump cache (<cache>/kjump/<key>/: the key build.ts computes, so
// `vm/kjump/build.ts --gate [--patch F]` and the gate share entries).
//
// A work tree is a slot: <cache>/gate/slots/<source>-<n>/{src,obj,state.json}, locked while a gate uses it (two gates
// take two slots: no race, no shared tree ever patched). For a Debian source package, src is a hard-link copy of the
// pristine tree (GNU patch writes a new file, so patching breaks the link and the pristine tree stays as it is);
// state.json lists the files the last patches touched, which are copied back from the pristine tree (new mtime:
// make rebuilds them) before the next patch set. For a git tree, src is a `git worktree` checked out at each commit.
// The object directory stays between builds: a patch rebuilds what it touches. The configuration is regenerated only
// when a Kconfig input (or the fragment) changed.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { InfraError } from '../vm/errors.ts';
import { cacheRoot } from '../vm/kernels.ts';
import {
  cacheKey,
  FRAGMENT_PATH,
  GATE_FRAGMENT_PATH,
  joinFragments,
  missingSymbols,
  patchSetSha256,
  runLogged,
  sha256,
} from '../vm/kjump/build.ts';
import { isKconfigInput, patchFiles } from './gate-classify.ts';
import {
  applyPatches,
  checkPatches,
  debianTree,
  findDonor,
  GateBuildError,
  readState,
  revertTouched,
  seedObjects,
  sh,
  withSlot,
  writeState,
} from './gate-tree.ts';

export { GateBuildError };

export interface GateKernel {
  readonly bzImage: string;
  readonly config: string;
  readonly key: string;
  /** human label: source version, fragment and patch set (or commit) */
  readonly label: string;
  readonly cached: boolean;
  readonly buildSeconds: number;
  /** the configuration was not regenerated (no Kconfig input changed) */
  readonly configSkipped: boolean;
}

/** Where the kernels come from. */
export type GateSource =
  | { readonly kind: 'debian'; readonly line: '6.1' | '6.12' }
  | { readonly kind: 'tree'; readonly repo: string };

/** One kernel of a source: a patch set on a Debian tree, or a commit of a git tree. */
export type GateRevision =
  | { readonly kind: 'patches'; readonly patches: readonly string[] }
  | { readonly kind: 'commit'; readonly rev: string };

export interface GateBuildOptions {
  readonly cacheDir?: string;
  readonly jobs?: number;
  readonly onLog?: (line: string) => void;
}

const gateFragment = (): string =>
  joinFragments(readFileSync(FRAGMENT_PATH, 'utf8'), readFileSync(GATE_FRAGMENT_PATH, 'utf8'));

////////    the build    ////////

const tailOf = (log: string, n: number): string[] =>
  existsSync(log) ? readFileSync(log, 'utf8').trimEnd().split('\n').slice(-n) : [];

async function hasCcache(): Promise<boolean> {
  return sh('sh', ['-c', 'command -v ccache']).then(
    (o) => o.trim() !== '',
    () => false,
  );
}

interface TreeBuild {
  readonly src: string;
  readonly obj: string;
  readonly slot: string;
  readonly configKey: string;
  readonly previousConfigKey: string | undefined;
}

/** Configure (unless nothing Kconfig changed) and build bzImage in the slot; copy it into the cache entry `out`. */
async function buildInSlot(b: TreeBuild, out: string, meta: Record<string, unknown>, o: GateBuildOptions) {
  const fragment = gateFragment();
  const log = join(b.slot, 'build.log');
  const env = { ...process.env, ...((await hasCcache()) ? { CCACHE_BASEDIR: dirname(b.slot) } : {}) };
  const cc = (await hasCcache()) ? ['CC=ccache gcc'] : [];
  const make = (...t: string[]) => ['-s', '-C', b.src, `O=${b.obj}`, 'ARCH=x86_64', ...cc, ...t];
  const t0 = performance.now();
  mkdirSync(b.obj, { recursive: true });
  const skip = b.previousConfigKey === b.configKey && existsSync(join(b.obj, '.config'));
  if (!skip) {
    const frag = join(b.slot, 'fragment');
    writeFileSync(frag, fragment);
    const steps: [string, string[]][] = [
      ['make', make('tinyconfig')],
      [join(b.src, 'scripts/kconfig/merge_config.sh'), ['-O', b.obj, '-m', join(b.obj, '.config'), frag]],
      ['make', make('olddefconfig')],
    ];
    for (const [cmd, args] of steps) {
      const code = await runLogged(cmd, args, log, o.onLog, env);
      if (code !== 0) throw new GateBuildError(`configuration failed (exit ${code}), log ${log}`, tailOf(log, 20), log);
    }
    const bad = missingSymbols(fragment, readFileSync(join(b.obj, '.config'), 'utf8'));
    if (bad.length > 0) throw new GateBuildError(`the gate configuration did not land: ${bad.join(', ')}`);
  }
  const jobs = String(o.jobs ?? 2);
  const code = await runLogged('make', make(`-j${jobs}`, 'bzImage'), log, o.onLog, env);
  if (code !== 0) throw new GateBuildError(`kernel build failed (exit ${code}), log ${log}`, tailOf(log, 20), log);
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  copyFileSync(join(b.obj, 'arch/x86/boot/bzImage'), join(tmp, 'bzImage'));
  copyFileSync(join(b.obj, '.config'), join(tmp, 'config'));
  copyFileSync(log, join(tmp, 'build.log'));
  const buildSeconds = Math.round((performance.now() - t0) / 100) / 10;
  writeFileSync(
    join(tmp, 'build.json'),
    `${JSON.stringify({ ...meta, bzImage: join(out, 'bzImage'), gate: true, buildSeconds, configSkipped: skip }, null, 2)}\n`,
  );
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
  return { buildSeconds, configSkipped: skip };
}

function cached(out: string, key: string, label: string): GateKernel | undefined {
  if (!existsSync(join(out, 'bzImage')) || !existsSync(join(out, 'config'))) return undefined;
  return {
    bzImage: join(out, 'bzImage'),
    config: join(out, 'config'),
    key,
    label,
    cached: true,
    buildSeconds: 0,
    configSkipped: true,
  };
}

/** Content of the Kconfig inputs among `files` under `src` (what decides whether the configuration is regenerated). */
function kconfigDigest(src: string, files: readonly string[]): string {
  return files
    .filter(isKconfigInput)
    .sort()
    .map((f) => `${f}:${existsSync(join(src, f)) ? sha256(readFileSync(join(src, f))) : '-'}`)
    .join('\n');
}

/** Build (or take from the cache) one kernel of a source. */
export async function buildGateKernel(
  source: GateSource,
  rev: GateRevision,
  o: GateBuildOptions = {},
): Promise<GateKernel> {
  const root = join(o.cacheDir ?? cacheRoot(), 'kjump');
  mkdirSync(root, { recursive: true });
  const fragSha = sha256(gateFragment());
  if (source.kind === 'debian') {
    if (rev.kind !== 'patches') throw new InfraError('a Debian source is gated with --patch');
    const patches = rev.patches.map((p) => resolve(p));
    for (const p of patches) if (!existsSync(p) || !statSync(p).isFile()) throw new InfraError(`patch not found: ${p}`);
    const { tree, version } = await debianTree(root, source.line);
    // a patch that does not apply is refused before anything else, even when a fuzzed build of it is cached
    const files = patches.map((p) => ({ path: p, files: patchFiles(readFileSync(p, 'utf8')) }));
    await checkPatches(tree, files);
    const patchSha = patchSetSha256(patches.map((p) => readFileSync(p)));
    const key = cacheKey(version, fragSha, patchSha);
    const label = `linux-source-${source.line} ${version} gate frag:${fragSha.slice(0, 12)} patches:${patchSha.slice(0, 12)}`;
    const out = join(root, key);
    const hit = cached(out, key, label);
    if (hit !== undefined) return hit;
    const touched = [...new Set(files.flatMap((p) => p.files))];
    const slotBase = join(
      o.cacheDir ?? cacheRoot(),
      'gate',
      'slots',
      `debian-${version.replace(/[^A-Za-z0-9.+-]/g, '_')}`,
    );
    return withSlot(slotBase, async (slot) => {
      const src = join(slot, 'src');
      const st = readState(slot);
      let before = st?.touched ?? [];
      if (st?.source !== tree || !existsSync(join(src, 'Makefile'))) {
        rmSync(slot, { recursive: true, force: true });
        mkdirSync(slot, { recursive: true });
        await sh('cp', ['-al', tree, `${src}.tmp`]);
        renameSync(`${src}.tmp`, src);
        const donor = findDonor(root, dirname(slot), tree, gateFragment());
        before = donor?.touched ?? [];
        if (donor !== undefined) {
          o.onLog?.(`seeding the objects from ${donor.obj}`);
          await seedObjects(donor, join(slot, 'obj'), src);
        }
      }
      // fresh copies (new mtime) of what the previous patches (or the donor's) touched: make rebuilds them
      revertTouched(src, tree, before);
      // record what is about to be touched first: a gate killed half-way is reverted by the next one
      writeState(slot, { source: tree, touched, ...(st?.configKey !== undefined ? { configKey: st.configKey } : {}) });
      await applyPatches(src, patches);
      const configKey = sha256(`${version}\n${fragSha}\n${kconfigDigest(src, [...touched, ...before])}`);
      const r = await buildInSlot(
        { src, obj: join(slot, 'obj'), slot, configKey, previousConfigKey: st?.configKey },
        out,
        { key, sourceVersion: version, fragmentSha256: fragSha, patchSetSha256: patchSha, patches, cached: false },
        o,
      );
      writeState(slot, { source: tree, touched, configKey });
      return { bzImage: join(out, 'bzImage'), config: join(out, 'config'), key, label, cached: false, ...r };
    });
  }
  if (rev.kind !== 'commit') throw new InfraError('a kernel tree is gated by commit (--base REV)');
  const repo = resolve(source.repo);
  const commit = (await sh('git', ['-C', repo, 'rev-parse', '--verify', `${rev.rev}^{commit}`])).trim();
  const treeHash = (await sh('git', ['-C', repo, 'rev-parse', `${commit}^{tree}`])).trim();
  const key = cacheKey(`git:${treeHash}`, fragSha, patchSetSha256([]));
  const label = `${repo}@${commit.slice(0, 12)} gate frag:${fragSha.slice(0, 12)}`;
  const out = join(root, key);
  const hit = cached(out, key, label);
  if (hit !== undefined) return hit;
  const slotBase = join(o.cacheDir ?? cacheRoot(), 'gate', 'slots', `tree-${sha256(repo).slice(0, 12)}`);
  return withSlot(slotBase, async (slot) => {
    const src = join(slot, 'src');
    const st = readState(slot);
    if (st?.source !== repo || !existsSync(join(src, 'Makefile'))) {
      rmSync(slot, { recursive: true, force: true });
      mkdirSync(slot, { recursive: true });
      await sh('git', ['-C', repo, 'worktree', 'prune']);
      await sh('git', ['-C', repo, 'worktree', 'add', '--detach', '-f', src, commit]);
    } else await sh('git', ['-C', src, 'checkout', '-q', '--detach', '--force', commit]);
    const kconfigs = (await sh('git', ['-C', src, 'ls-tree', '-r', commit]))
      .split('\n')
      .filter((l) => isKconfigInput(l.split('\t')[1] ?? ''))
      .join('\n');
    const configKey = sha256(`${fragSha}\n${sha256(kconfigs)}`);
    writeState(slot, {
      source: repo,
      touched: [],
      ...(st?.configKey !== undefined ? { configKey: st.configKey } : {}),
    });
    const r = await buildInSlot(
      { src, obj: join(slot, 'obj'), slot, configKey, previousConfigKey: st?.configKey },
      out,
      { key, sourceVersion: `git:${repo}@${commit}`, fragmentSha256: fragSha, commit, treeHash, cached: false },
      o,
    );
    writeState(slot, { source: repo, touched: [], configKey });
    return { bzImage: join(out, 'bzImage'), config: join(out, 'config'), key, label, cached: false, ...r };
  });
}

/** Files changed between two commits of a tree (for the kexec decision). */
export async function treeChangedFiles(repo: string, base: string, head: string): Promise<string[]> {
  const out = await sh('git', ['-C', resolve(repo), 'diff', '--name-only', base, head]);
  return out.split('\n').filter((l) => l !== '');
}

// The sharded-campaign examples run as their engines would run them: the Kubernetes Indexed Job's pods in parallel
// with JOB_COMPLETION_INDEX set (the merge Job alongside, waiting for them), the GitHub Actions matrix jobs in
// parallel with `${{ matrix.shard }}` substituted and artifacts passed as upload/download-artifact pass them. The
// merged corpus must equal the corpus of one unsharded campaign of the same seed and total runs.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FindingRecord } from './corpus.ts';

const ROOT = join(import.meta.dirname ?? '.', '..');
const CI = join(ROOT, 'examples/ci');
/** A plant the shards find several signatures of in a few hundred runs; little shrinking keeps the test short. */
const PLANT_FLAGS = '--plant crc-ignored --shrink-evals 20';
const RUNS_PER_SHARD = 200;
const CP = { recursive: true } as const;

type Json = Record<string, unknown>;
/** YAML read by a real YAML parser (Debian's python3-yaml), every document. */
function yamlDocs(file: string): Json[] {
  const py = 'import json, sys, yaml\nprint(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))';
  const r = spawnSync('/usr/bin/python3', ['-c', py, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3-yaml: ${r.stderr} (vm/setup.sh installs python3-yaml)`);
  return JSON.parse(r.stdout) as Json[];
}

/** `hibfuzz` on PATH, as the install step puts it there. */
function pathWithHibfuzz(dir: string): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  symlinkSync(join(ROOT, 'bin/hibfuzz.mjs'), join(bin, 'hibfuzz'));
  return `${bin}:${process.env.PATH ?? ''}`;
}

function sh(
  shell: readonly string[],
  script: string,
  env: Record<string, string>,
  cwd: string,
): Promise<{ code: number; err: string }> {
  return new Promise((done) => {
    const p = spawn(shell[0] as string, [...shell.slice(1), script], { cwd, env: { ...process.env, ...env } });
    let err = '';
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.on('close', (code) => done({ code: code ?? -1, err }));
  });
}

/** What a corpus holds: finding name -> hit count (timestamps and shrunk witnesses may differ between runs). */
function corpusOf(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of readdirSync(dir)
    .filter((x) => x.endsWith('.finding.json'))
    .sort()) {
    const rec = JSON.parse(readFileSync(join(dir, f), 'utf8')) as FindingRecord;
    out[rec.name] = rec.count;
  }
  return out;
}

const campaigns = new Map<string, Record<string, number>>();
/** One unsharded campaign of the same seed and the shards' total runs (run once for both engines). */
function unsharded(seed: string, runs: number): Record<string, number> {
  const key = `${seed}/${runs}`;
  const known = campaigns.get(key);
  if (known !== undefined) return known;
  const corpus = join(mkdtempSync(join(tmpdir(), 'hibfuzz-unsharded-')), 'corpus');
  const args = ['fuzz', '--no-replay', '--seed', seed, '--runs', String(runs), '--corpus', corpus];
  const r = spawnSync(join(ROOT, 'bin/hibfuzz.mjs'), [...args, ...PLANT_FLAGS.split(' ')], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(1);
  campaigns.set(key, corpusOf(corpus));
  return corpusOf(corpus);
}

describe('sharded campaigns on CI engines', () => {
  it('Kubernetes Indexed Job: N pods with JOB_COMPLETION_INDEX, the merge Job waiting, equal one campaign', async () => {
    // Arrange: the manifest's Jobs, their containers and environment
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-k8s-'));
    const docs = yamlDocs(join(CI, 'k8s-indexed-job.yaml'));
    const jobs = docs.filter((d) => d.kind === 'Job');
    const fuzz = jobs.find((j) => (j.spec as Json).completionMode === 'Indexed');
    const merge = jobs.find((j) => j !== fuzz);
    if (fuzz === undefined || merge === undefined) throw new Error('an Indexed Job and a merge Job');
    const container = (job: Json) => {
      const c = ((((job.spec as Json).template as Json).spec as Json).containers as Json[])[0] as Json;
      const env = Object.fromEntries((c.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
      return { command: c.command as string[], env };
    };
    const shard = container(fuzz);
    const n = (fuzz.spec as Json).completions as number;
    expect((fuzz.spec as Json).parallelism).toBe(n);
    expect(shard.env.SHARDS).toBe(String(n));
    // what the volume and the image provide here; the test's plant and a short campaign
    const host = { HIBFUZZ_HOME: ROOT, OUT: join(dir, 'run'), PATH: pathWithHibfuzz(dir) };
    const short = { RUNS_PER_SHARD: String(RUNS_PER_SHARD), FUZZ_FLAGS: PLANT_FLAGS };
    // Act: the merge pod starts with the shard pods (it waits for them), all in parallel
    const m = container(merge);
    const merged = join(dir, 'corpus');
    const mergeRun = sh(
      m.command.slice(0, -1),
      m.command.at(-1) as string,
      { ...m.env, ...host, CORPUS: merged, WAIT_SECONDS: '200' },
      dir,
    );
    const pods = Array.from({ length: n }, (_, i) =>
      sh(
        shard.command.slice(0, -1),
        shard.command.at(-1) as string,
        { ...shard.env, ...host, ...short, JOB_COMPLETION_INDEX: String(i) },
        dir,
      ),
    );
    const results = await Promise.all(pods);
    const mergeResult = await mergeRun;
    // Assert: pods complete (a finding is recorded, not retried); the merge ends like the campaign: found (1)
    expect(results.map((r) => r.code)).toEqual(Array(n).fill(0));
    expect(mergeResult.code, mergeResult.err).toBe(1);
    const found = corpusOf(merged);
    expect(Object.keys(found).length).toBeGreaterThan(1);
    expect(found).toEqual(unsharded(shard.env.SEED as string, n * RUNS_PER_SHARD));
  }, 240_000);

  it('GitHub Actions matrix: the shard jobs in parallel, artifacts to the merge job, equal one campaign', async () => {
    // Arrange
    const dir = mkdtempSync(join(tmpdir(), 'hibfuzz-gha-'));
    const [wf] = yamlDocs(join(CI, 'github-actions-sharded.yml'));
    if (wf === undefined) throw new Error('workflow');
    const jobs = wf.jobs as Record<string, Json>;
    const fuzz = jobs.fuzz as Json;
    const merge = jobs.merge as Json;
    expect(merge.needs).toBe('fuzz');
    const shards = ((fuzz.strategy as Json).matrix as Json).shard as number[];
    const wfEnv = wf.env as Record<string, string | number>;
    expect(Number(wfEnv.SHARDS)).toBe(shards.length);
    const shell = ['bash', '--noprofile', '--norc', '-eo', 'pipefail', '-c']; // GitHub's `shell: bash`
    expect((wf.defaults as { run: { shell: string } }).run.shell).toBe('bash');
    const env = {
      ...Object.fromEntries(Object.entries(wfEnv).map(([k, v]) => [k, String(v)])),
      HIBFUZZ_HOME: ROOT,
      PATH: pathWithHibfuzz(dir),
      RUNS_PER_SHARD: String(RUNS_PER_SHARD),
      FUZZ_FLAGS: PLANT_FLAGS,
    };
    const artifacts = join(dir, 'artifacts');
    const expr = (s: string, matrix: Json) =>
      s
        .replace(/\$\{\{\s*matrix\.(\w+)\s*\}\}/g, (_, k: string) => String(matrix[k]))
        .replace(/\$\{\{[^}]*\}\}/g, (e) => {
          throw new Error(`unsupported expression ${e}`);
        });
    /** A job's steps in order: `run` in the job's workspace, upload/download-artifact as v4 does; install skipped. */
    const runJob = async (job: Json, matrix: Json, ws: string) => {
      mkdirSync(ws, { recursive: true });
      const codes: number[] = [];
      for (const step of job.steps as Json[]) {
        if (step.name === 'Install hibfuzz') continue; // the host has it: `hibfuzz` on PATH, HIBFUZZ_HOME
        const failed = codes.some((c) => c !== 0);
        if (failed && step.if !== 'always()') continue;
        const w = (step.with ?? {}) as Record<string, string | boolean>;
        if (typeof step.run === 'string') codes.push((await sh(shell, expr(step.run, matrix), env, ws)).code);
        else if (String(step.uses).startsWith('actions/upload-artifact@')) {
          // one directory: its contents are the artifact's root (the last upload, of several paths, is not needed)
          const paths = String(w.path).trim().split('\n');
          if (paths.length === 1)
            cpSync(join(ws, paths[0] as string), join(artifacts, expr(String(w.name), matrix)), CP);
        } else if (String(step.uses).startsWith('actions/download-artifact@')) {
          expect(w['merge-multiple']).toBe(true); // every matching artifact's contents into one directory
          const re = new RegExp(`^${String(w.pattern).replace(/\*/g, '.*')}$`);
          for (const a of readdirSync(artifacts).filter((x) => re.test(x)))
            cpSync(join(artifacts, a), join(ws, String(w.path)), CP);
        } else throw new Error(`unsupported step ${JSON.stringify(step)}`);
      }
      return codes.find((c) => c !== 0) ?? 0;
    };
    // Act: the matrix jobs in parallel, then the merge job (needs: fuzz, if: always())
    const shardCodes = await Promise.all(shards.map((k) => runJob(fuzz, { shard: k }, join(dir, `shard-job-${k}`))));
    const mergeCode = await runJob(merge, {}, join(dir, 'merge-job'));
    // Assert: a shard that found something fails its job; the merge job fails with 1 and holds the campaign's corpus
    expect(shardCodes.every((c) => c === 0 || c === 1)).toBe(true);
    expect(shardCodes).toContain(1);
    expect(mergeCode).toBe(1);
    const found = corpusOf(join(dir, 'merge-job', 'corpus'));
    expect(Object.keys(found).length).toBeGreaterThan(1);
    expect(found).toEqual(unsharded(String(wfEnv.SEED), shards.length * RUNS_PER_SHARD));
  }, 240_000);
});

// Corpus persistence: atomic writes, dedup by (invariant, signature), and replay of the corpus before generation.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { plantByName } from '../properties/__fixtures__/plants.ts';
import { parseScenario } from '../spec/index.ts';
import { runCampaign } from './campaign.ts';
import {
  atomicWrite,
  FINDING_FORMAT,
  type FindingRecord,
  findingName,
  readCorpus,
  saveFinding,
  signatureOf,
  sweepTemps,
  updateFinding,
} from './corpus.ts';
import { LOCK_FILE } from './corpus-lock.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'hibfuzz-corpus-'));

describe('atomicWrite', () => {
  it('replaces the file whole and leaves no temp file behind', () => {
    // Arrange
    const dir = tmp();
    const f = join(dir, 'a.json');
    writeFileSync(f, '{"old":true}');
    // Act
    atomicWrite(f, '{"new":true}\n');
    // Assert
    expect(readFileSync(f, 'utf8')).toBe('{"new":true}\n');
    expect(readdirSync(dir)).toEqual(['a.json']);
  });

  it('sweepTemps removes what a killed writer left', () => {
    const dir = tmp();
    writeFileSync(join(dir, '.a.json.4194303.0.tmp'), '{"half');
    writeFileSync(join(dir, 'b.json'), '{}');
    expect(sweepTemps(dir)).toBe(1);
    expect(readdirSync(dir)).toEqual(['b.json']);
  });

  it('sweepTemps leaves the temp files of live writers (another campaign mid-save)', () => {
    const dir = tmp();
    writeFileSync(join(dir, `.a.json.${process.ppid}.0.tmp`), '{"half');
    writeFileSync(join(dir, `.b.json.${process.pid}.3.tmp`), '{"half');
    expect(sweepTemps(dir)).toBe(0);
    expect(readdirSync(dir)).toHaveLength(2);
  });
});

describe('sharing a corpus (issue 12 item 1)', () => {
  const plant = plantByName('crc-ignored');
  const scenario = parseScenario(plant?.witness);
  if (!scenario.ok) throw new Error('witness');
  const record = (name: string, count: number): FindingRecord => ({
    format: FINDING_FORMAT,
    name,
    invariant: 'CorruptImageNeverResumed',
    signature: 'CorruptImageNeverResumed|swsusp|x',
    target: 'model',
    verdict: 'violated',
    count,
    original: { id: 'x', memPages: 64, steps: 3 },
    shrink: { evals: 0, accepted: 0 },
    violations: [],
    outcomes: [],
    events: [],
    firstSeen: '2026-12-01T00:00:00.000Z',
    lastSeen: '2026-12-01T00:00:00.000Z',
    replay: 'hibfuzz replay x',
  });
  const onDisk = (dir: string, name: string) =>
    JSON.parse(readFileSync(join(dir, `${name}.finding.json`), 'utf8')) as FindingRecord;

  it('a count update adds what this process counted, keeping what another campaign added meanwhile', () => {
    // Arrange: we save with 3 hits; another campaign then adds 7 to the record on disk
    const dir = tmp();
    const mine = record('F-1', 3);
    saveFinding(dir, mine, scenario.scenario, '# scenario F-1\n');
    writeFileSync(join(dir, 'F-1.finding.json'), JSON.stringify({ ...onDisk(dir, 'F-1'), count: 10 }));
    // Act: we count 2 more hits
    mine.count += 2;
    updateFinding(dir, mine);
    // Assert
    expect(onDisk(dir, 'F-1').count).toBe(12);
    expect(mine.count).toBe(12);
  });

  it('a finding another campaign saved first keeps its files and gets our hits', () => {
    // Arrange
    const dir = tmp();
    saveFinding(dir, record('F-2', 4), scenario.scenario, '# scenario first\n');
    // Act: a second campaign saves the same finding as new
    const second = record('F-2', 5);
    saveFinding(dir, second, { ...scenario.scenario, id: 'other' }, '# scenario second\n');
    // Assert
    expect(onDisk(dir, 'F-2').count).toBe(9);
    expect(second.count).toBe(9);
    expect(readFileSync(join(dir, 'F-2.txt'), 'utf8')).toBe('# scenario first\n');
  });

  it('a lock left by a killed campaign is taken over; the lock is gone after the save', () => {
    // Arrange: a lock whose pid is not running
    const dir = tmp();
    writeFileSync(join(dir, LOCK_FILE), '4194303 1.0\n');
    // Act
    saveFinding(dir, record('F-3', 1), scenario.scenario, '# scenario F-3\n');
    // Assert
    expect(onDisk(dir, 'F-3').count).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(['F-3.finding.json', 'F-3.json', 'F-3.txt']);
  });
});

describe('signatures', () => {
  it('ignore the numbers in a message, so one bug hit at many PFNs is one finding', () => {
    const a = signatureOf('EveryPageSavedOnce', 'swsusp', '1 saveable pages missing from the image, first PFN 49');
    const b = signatureOf('EveryPageSavedOnce', 'swsusp', '3 saveable pages missing from the image, first PFN 0x7f');
    expect(a).toBe(b);
    expect(findingName('EveryPageSavedOnce', a)).toMatch(/^EveryPageSavedOnce-[0-9a-f]{8}$/);
    expect(signatureOf('EveryPageSavedOnce', 'kexec', 'x 1')).not.toBe(signatureOf('NosaveNeverSaved', 'kexec', 'x 1'));
  });
});

describe('campaign corpus', () => {
  const plant = plantByName('pack-pfns-drops-last');
  if (plant === undefined) throw new Error('plant missing');

  it('stores a bug found many times once, with its count, as schema-valid JSON + text + record', async () => {
    // Arrange
    const dir = tmp();
    // Act
    const r = await runCampaign({
      seed: 3,
      shard: { k: 1, n: 1 },
      runs: 400,
      arb: { maxMemPages: 1024 },
      parts: plant.parts,
      plant: plant.name,
      corpusDir: dir,
    });
    // Assert
    const hits = r.findings.reduce((a, f) => a + f.hits, 0);
    expect(r.findings.length).toBeGreaterThan(0);
    expect(hits).toBeGreaterThan(r.findings.length * 5);
    const c = readCorpus(dir);
    expect(c.errors).toEqual([]);
    expect(c.findings.length).toBe(r.findings.length);
    expect(c.scenarios.length).toBe(r.findings.length);
    for (const rec of c.findings) {
      expect(existsSync(join(dir, `${rec.name}.txt`))).toBe(true);
      const f = r.findings.find((x) => x.record.name === rec.name);
      expect(rec.count).toBe(f?.hits);
      expect(rec.plant).toBe('pack-pfns-drops-last');
      expect(rec.events.length).toBeGreaterThan(0);
    }
    const files = readdirSync(dir).filter((f) => f.endsWith('.json') && !f.endsWith('.finding.json'));
    for (const f of files) expect(parseScenario(JSON.parse(readFileSync(join(dir, f), 'utf8'))).ok).toBe(true);
    expect(r.findings.some((f) => f.record.invariant === 'EveryPageSavedOnce')).toBe(true);
  });

  it('replays the corpus first: a stored failure is reported before any generated run, and not recounted', async () => {
    // Arrange: a corpus holding the plant's witness
    const dir = tmp();
    writeFileSync(join(dir, 'witness.json'), JSON.stringify(plant.witness));
    // Act: one generated run only
    const r = await runCampaign({
      seed: 1,
      shard: { k: 1, n: 1 },
      runs: 1,
      arb: { maxMemPages: 512 },
      parts: plant.parts,
      plant: plant.name,
      corpusDir: dir,
      replayDirs: [dir],
    });
    // Assert
    expect(r.replayed).toEqual({ files: 1, failing: 1 });
    expect(r.findings.some((f) => f.record.invariant === 'EveryPageSavedOnce')).toBe(true);
    // Second campaign (replay only): the finding is already known; replaying it must not bump its count.
    const before = readCorpus(dir).findings.map((f) => [f.name, f.count]);
    const again = await runCampaign({
      seed: 99,
      shard: { k: 1, n: 1 },
      runs: 0,
      arb: { maxMemPages: 512 },
      parts: plant.parts,
      corpusDir: dir,
      replayDirs: [dir],
      shrinkEvals: 0,
    });
    expect(again.replayed.files).toBeGreaterThan(1);
    expect(again.findings.filter((f) => f.isNew && f.record.invariant === 'EveryPageSavedOnce')).toEqual([]);
    const after = new Map(readCorpus(dir).findings.map((f: FindingRecord) => [f.name, f.count]));
    for (const [name, count] of before) expect(after.get(name as string)).toBe(count);
  });

  it('is deterministic for a seed: same runs, same findings, same counts', async () => {
    const once = async () => {
      const r = await runCampaign({
        seed: 21,
        shard: { k: 2, n: 3 },
        runs: 300,
        arb: { maxMemPages: 1024 },
        parts: plant.parts,
        shrinkEvals: 200,
      });
      return r.findings.map((f) => [f.record.name, f.hits, JSON.stringify(f.scenario)]);
    };
    const a = await once();
    expect(a.length).toBeGreaterThan(0);
    expect(await once()).toEqual(a);
  });

  it('finds nothing on the correct model', async () => {
    const r = await runCampaign({ seed: 11, shard: { k: 1, n: 1 }, runs: 300, arb: { maxMemPages: 1024 } });
    expect(r.findings).toEqual([]);
    expect(r.invalid).toEqual([]);
    expect(r.coverage.runs).toBeGreaterThan(250);
  });
});

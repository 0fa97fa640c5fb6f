// JUnit XML output of a campaign, one testcase per claim per target, in the format Jenkins and GitLab read. Tests
// check it with the consumers themselves (xmllint against the Jenkins schema, python3-junitparser, junit2json),
// never with a reader of our own.
import { resolve } from 'node:path';
import { type TestResult, testStatus } from './results.ts';

export function xmlEscape(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD]/gu, '?');
}

/** What a JUnit report says besides the results. */
export interface JunitOptions {
  /** the campaign's wall time */
  readonly seconds: number;
  /** when the campaign started: every testsuite's `timestamp` (ISO 8601, UTC, seconds, as Ant and Surefire write it) */
  readonly startedAt: Date;
  /** this report's shard: with n > 1, suite and class names carry it, so merged shard reports hold no duplicates */
  readonly shard?: { readonly k: number; readonly n: number };
  readonly hostname?: string;
  readonly properties?: Readonly<Record<string, string>>;
}

/** `hibfuzz.TARGET`, or `hibfuzz.TARGET.shard-K-of-N` for one shard of a sharded campaign. */
export function junitSuiteName(target: string, shard?: JunitOptions['shard']): string {
  return shard !== undefined && shard.n > 1 ? `hibfuzz.${target}.shard-${shard.k}-of-${shard.n}` : `hibfuzz.${target}`;
}

/** The line the Jenkins JUnit Attachments plugin and GitLab read from a testcase's system-out. */
export const attachmentLine = (path: string): string => `[[ATTACHMENT|${resolve(path)}]]`;

/**
 * Jenkins (xunit-plugin junit-10.xsd) and GitLab JUnit: testsuites > testsuite (one per target) > testcase (one per
 * claim) > failure | skipped, with system-out attachment lines naming each failure's saved scenario and picture.
 * A case's time is its share of the campaign: the wall time times the fraction of runs that exercised the claim
 * (every run is judged by every claim, so cases overlap; the suite's time is the wall time). `skipped` is counted
 * on testsuite only: the Jenkins schema rejects it on testsuites.
 */
export function formatJunit(tests: readonly TestResult[], opts: JunitOptions): string {
  const targets = [...new Set(tests.map((t) => t.target))];
  const count = (ts: readonly TestResult[], st: 'notOk' | 'skip') => ts.filter((t) => testStatus(t) === st).length;
  const secs = (x: number) => x.toFixed(3);
  const stamp = opts.startedAt.toISOString().slice(0, 19);
  const host = opts.hostname !== undefined ? ` hostname="${xmlEscape(opts.hostname)}"` : '';
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(
    `<testsuites name="hibfuzz" tests="${tests.length}" failures="${count(tests, 'notOk')}" errors="0" time="${secs(opts.seconds)}">`,
  );
  for (const target of targets) {
    const ts = tests.filter((t) => t.target === target);
    const name = xmlEscape(junitSuiteName(target, opts.shard));
    out.push(
      `  <testsuite name="${name}" tests="${ts.length}" failures="${count(ts, 'notOk')}" errors="0" skipped="${count(ts, 'skip')}" time="${secs(opts.seconds)}" timestamp="${stamp}"${host}>`,
    );
    const props = Object.entries(opts.properties ?? {});
    if (props.length > 0) {
      out.push('    <properties>');
      for (const [k, v] of props) out.push(`      <property name="${xmlEscape(k)}" value="${xmlEscape(v)}"/>`);
      out.push('    </properties>');
    }
    for (const t of ts) {
      const st = testStatus(t);
      const share = t.runs > 0 ? (opts.seconds * t.exercised) / t.runs : 0;
      const open = `    <testcase classname="${name}" name="${xmlEscape(t.name)}" time="${secs(share)}"`;
      if (st === 'ok') {
        out.push(`${open}/>`);
      } else if (st === 'skip') {
        out.push(`${open}>`, `      <skipped message="not exercised in ${t.runs} runs"/>`, '    </testcase>');
      } else {
        const first = t.failures[0];
        const msg = first?.lines[0] ?? `${t.name} violated`;
        const body = t.failures
          .flatMap((f) => [`scenario: ${f.file ?? '(not saved)'} (hits: ${f.count})`, ...f.lines.map((l) => `  ${l}`)])
          .join('\n');
        const attached = t.failures.flatMap((f) =>
          [f.file, f.picture].filter((p) => p !== undefined).map(attachmentLine),
        );
        out.push(
          `${open}>`,
          `      <failure message="${xmlEscape(msg)}" type="${xmlEscape(t.name)}">${xmlEscape(body)}</failure>`,
          ...(attached.length > 0 ? [`      <system-out>${xmlEscape(attached.join('\n'))}</system-out>`] : []),
          '    </testcase>',
        );
      }
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

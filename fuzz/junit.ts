// JUnit XML output (the Jenkins/GitLab schema: testsuites > testsuite > testcase > failure|skipped), one testcase
// per invariant per target, and a minimal XML reader used to check the output is well-formed.
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

export function formatJunit(
  tests: readonly TestResult[],
  opts: { readonly seconds: number; readonly properties?: Readonly<Record<string, string>> },
): string {
  const targets = [...new Set(tests.map((t) => t.target))];
  const count = (ts: readonly TestResult[], st: 'notOk' | 'skip') => ts.filter((t) => testStatus(t) === st).length;
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(
    `<testsuites name="hibfuzz" tests="${tests.length}" failures="${count(tests, 'notOk')}" errors="0" skipped="${count(tests, 'skip')}" time="${opts.seconds.toFixed(3)}">`,
  );
  for (const target of targets) {
    const ts = tests.filter((t) => t.target === target);
    out.push(
      `  <testsuite name="hibfuzz.${target}" tests="${ts.length}" failures="${count(ts, 'notOk')}" errors="0" skipped="${count(ts, 'skip')}" time="${opts.seconds.toFixed(3)}">`,
    );
    const props = Object.entries(opts.properties ?? {});
    if (props.length > 0) {
      out.push('    <properties>');
      for (const [k, v] of props) out.push(`      <property name="${xmlEscape(k)}" value="${xmlEscape(v)}"/>`);
      out.push('    </properties>');
    }
    for (const t of ts) {
      const st = testStatus(t);
      const open = `    <testcase classname="hibfuzz.${target}" name="${xmlEscape(t.name)}" time="0"`;
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
        out.push(
          `${open}>`,
          `      <failure message="${xmlEscape(msg)}" type="${xmlEscape(t.name)}">${xmlEscape(body)}</failure>`,
          '    </testcase>',
        );
      }
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

export interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  text: string;
}

const xmlUnescape = (s: string) =>
  s.replace(
    /&(lt|gt|amp|quot|apos);/g,
    (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e] ?? '',
  );

/**
 * A strict reader for the XML subset we write (declaration, elements, attributes, text, the five entities): returns
 * the root element, or a one-line error for anything not well-formed (bad nesting, stray `<` or `&`, two roots).
 */
export function parseXml(text: string): { ok: true; root: XmlElement } | { ok: false; error: string } {
  let i = 0;
  const src = text.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const badText = (t: string) => /<|&(?!(lt|gt|amp|quot|apos);)/.test(t);
  while (i < src.length) {
    const lt = src.indexOf('<', i);
    const chunk = lt < 0 ? src.slice(i) : src.slice(i, lt);
    if (chunk.trim() !== '') {
      const top = stack.at(-1);
      if (top === undefined || badText(chunk))
        return { ok: false, error: `text outside an element or bad entity at ${i}` };
      top.text += xmlUnescape(chunk);
    }
    if (lt < 0) break;
    const gt = src.indexOf('>', lt);
    if (gt < 0) return { ok: false, error: `unterminated tag at ${lt}` };
    const tag = src.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith('/')) {
      const top = stack.pop();
      if (top === undefined || top.name !== tag.slice(1).trim())
        return { ok: false, error: `mismatched </${tag.slice(1)}>` };
      continue;
    }
    const self = tag.endsWith('/');
    const m = /^([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<]*")*)\s*\/?$/.exec(tag);
    if (m === null) return { ok: false, error: `malformed tag <${tag}>` };
    const attrs: Record<string, string> = {};
    for (const a of (m[2] ?? '').matchAll(/([A-Za-z_][\w.-]*)="([^"]*)"/g)) {
      const [, k, v] = a as unknown as [string, string, string];
      if (k in attrs) return { ok: false, error: `duplicate attribute ${k}` };
      if (badText(v)) return { ok: false, error: `bad entity in attribute ${k}` };
      attrs[k] = xmlUnescape(v);
    }
    const el: XmlElement = { name: m[1] as string, attrs, children: [], text: '' };
    const parent = stack.at(-1);
    if (parent !== undefined) parent.children.push(el);
    else if (root !== undefined) return { ok: false, error: 'more than one root element' };
    else root = el;
    if (!self) stack.push(el);
  }
  if (stack.length > 0) return { ok: false, error: `unclosed <${stack.at(-1)?.name}>` };
  if (root === undefined) return { ok: false, error: 'no root element' };
  return { ok: true, root };
}

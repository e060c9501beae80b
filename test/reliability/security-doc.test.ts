/**
 * docs/security.md and the suites stay in step: every test it cites (file › "title") exists
 * with that title, every requirement row names a test (or says it is this document), and the
 * README links to it.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/cli.ts';

const DOC = readFileSync(join(ROOT, 'docs/security.md'), 'utf8');

/** Test titles of a file, as patterns: `${…}` in a template title stands for anything. */
function titlesOf(file: string): RegExp[] {
  const src = readFileSync(join(ROOT, file), 'utf8');
  const out: RegExp[] = [];
  for (const m of src.matchAll(/\bit\(\s*(?:'((?:[^'\\]|\\.)*)'|`((?:[^`\\]|\\.)*)`|"((?:[^"\\]|\\.)*)")/g)) {
    const raw = (m[1] ?? m[2] ?? m[3] ?? '').replace(/\\(['"`\\])/g, '$1');
    const pattern = raw
      .split(/\$\{[^}]*\}/)
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*');
    out.push(new RegExp(`^${pattern}$`, 's'));
  }
  return out;
}

/** Every citation of the document: the file and the titles quoted after it. */
function citations(): { file: string; title: string }[] {
  const out: { file: string; title: string }[] = [];
  const text = DOC.replace(/\n(?!\|)/g, ' ');
  for (const m of text.matchAll(/(test\/[\w/.-]+\.test\.ts)((?:\s*›\s*(?:"(?:[^"\\]|\\.)*"(?:,\s*|\s*))+)?)/g)) {
    for (const q of (m[2] ?? '').matchAll(/"((?:[^"\\]|\\.)*)"/g)) out.push({ file: m[1]!, title: q[1]!.replace(/\\"/g, '"') });
  }
  return out;
}

describe('docs/security.md', () => {
  it('cites only tests that exist, under their titles', () => {
    const cited = citations();
    assert.ok(cited.length > 80, `${cited.length} citations`);
    const missing: string[] = [];
    for (const { file, title } of cited) {
      if (!existsSync(join(ROOT, file))) {
        missing.push(`${file} (no such file)`);
        continue;
      }
      const prefix = title.endsWith('…') ? title.slice(0, -1).trimEnd() : undefined;
      const found = titlesOf(file).some((re) => (prefix ? titleStartsWith(re, prefix) : re.test(title)));
      if (!found) missing.push(`${file} › "${title}"`);
    }
    assert.deepEqual(missing, []);
  });

  it('names a test for every requirement row, or says the row is this document', () => {
    const rows = DOC.split('\n').filter((l) => /^\| (\d+\.\d+\.\d+|—|Passwords|≥|No |Rate|One-time|SMS|Email is not|Reauthentication|Authenticator binding|Account recovery)/.test(l));
    assert.ok(rows.length >= 50, `${rows.length} rows`);
    const inNotMet = DOC.slice(DOC.indexOf('## Not met'));
    for (const row of rows) {
      if (inNotMet.includes(row)) continue;
      const last = row.split('|').slice(-2, -1)[0]!.trim();
      assert.ok(/test\/[\w/.-]+\.test\.ts|this document|see 6\.5|^same test$/.test(last), `a row without a test: ${row.slice(0, 120)}`);
    }
  });

  it('is linked from the README', () => {
    assert.match(readFileSync(join(ROOT, 'README.md'), 'utf8'), /\]\(docs\/security\.md\)/);
  });
});

/** Whether the titles `re` matches start with `prefix` (a cited title shortened with …, before any `${…}`). */
function titleStartsWith(re: RegExp, prefix: string): boolean {
  return re.source.slice(1).startsWith(prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}

/** docs/audit-events.md is the contract: every event type the code records is documented, and every documented type is recorded. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/cli.ts';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

describe('audit event contract (docs/audit-events.md)', () => {
  it('documents every event type the code records, and documents no type the code never records', () => {
    const recorded = new Set<string>();
    // Types are written where an event is built: `type: '…'`, `type: cond ? '…' : '…'`, `const type = '…'`.
    const files = [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'interactions'))].filter((f) => !/[/\\](views|i18n)[/\\]/.test(f));
    for (const file of files) {
      for (const line of readFileSync(file, 'utf8').split('\n').filter((l) => /\btype(: | = )/.test(l))) {
        for (const m of line.matchAll(/'([a-z_]+(?:\.[a-z_]+)+)'/g)) if (!/\.(css|js|json|svg|png|ts)$/.test(m[1]!)) recorded.add(m[1]!);
      }
    }
    const doc = readFileSync(join(ROOT, 'docs/audit-events.md'), 'utf8');
    const documented = new Set<string>();
    for (const row of doc.split('\n').filter((l) => l.startsWith('| `'))) {
      const first = row.split('|')[1]!;
      for (const m of first.matchAll(/`([a-z_]+(?:\.[a-z_]+)+)`/g)) documented.add(m[1]!);
    }
    assert.ok(recorded.size > 40, `found ${recorded.size} types in the code`);
    assert.deepEqual([...recorded].filter((t) => !documented.has(t)).sort(), [], 'recorded but not documented');
    assert.deepEqual([...documented].filter((t) => !recorded.has(t)).sort(), [], 'documented but never recorded');
  });
});

/**
 * BREACHED_PASSWORDS_FILE and BREACHED_PASSWORDS_MIN_COUNT as an operator sets them: unset by
 * default, a good file accepted, and a missing, unreadable, empty or malformed file stops
 * start-up with one line naming the variable, the path and what is wrong.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.ts';
import { settings } from '../../src/config/schema.ts';
import { writeCorpus } from '../support/breach-corpus.ts';
import { configError } from '../support/config-error.ts';

describe('BREACHED_PASSWORDS_FILE', function () {
  let dir: string;
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'rekey-breach-config-'));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is unset by default (no breach check), with a minimum count of 1', function () {
    const c = parseConfig({});
    assert.equal(c.BREACHED_PASSWORDS_FILE, undefined);
    assert.equal(c.BREACHED_PASSWORDS_MIN_COUNT, 1);
  });

  it('accepts a Pwned Passwords file and a minimum count', function () {
    const path = join(dir, 'good.txt');
    writeCorpus(path, [], { filler: 50 });
    const c = parseConfig({ BREACHED_PASSWORDS_FILE: path, BREACHED_PASSWORDS_MIN_COUNT: '10' });
    assert.equal(c.BREACHED_PASSWORDS_FILE, path);
    assert.equal(c.BREACHED_PASSWORDS_MIN_COUNT, 10);
  });

  const bad: [string, () => string, RegExp][] = [
    ['a missing file', () => join(dir, 'missing.txt'), /cannot read the file/],
    ['a folder', () => dir, /cannot read the file/],
    ['an empty file', () => write('empty.txt', ''), /the file is empty/],
    ['the NTLM or plain-text list', () => write('plain.txt', 'password\r\n123456\r\n'), /line 1 is not HEX40:COUNT/],
    ['lowercase hashes', () => write('lower.txt', `${'a'.repeat(40)}:3\r\n`), /line 1 is not HEX40:COUNT/],
    ['a file ordered by count, not by hash', () => write('by-count.txt', `${'B'.repeat(40)}:9\r\n${'A'.repeat(40)}:3\r\n`), /line 2 is out of order/],
  ];
  for (const [what, path, reason] of bad) {
    it(`refuses ${what}, naming the variable, the path and what is wrong`, function () {
      const p = path();
      const message = configError(() => parseConfig({ BREACHED_PASSWORDS_FILE: p }));
      assert.ok(message.startsWith(`BREACHED_PASSWORDS_FILE=${JSON.stringify(p)} is invalid`), message);
      assert.match(message, reason);
      assert.ok(message.includes(settings.BREACHED_PASSWORDS_FILE.allowed), message);
    });
  }

  it('refuses a minimum count below 1 or not a number', function () {
    for (const v of ['0', '-1', 'many']) {
      const message = configError(() => parseConfig({ BREACHED_PASSWORDS_MIN_COUNT: v }));
      assert.ok(message.startsWith(`BREACHED_PASSWORDS_MIN_COUNT="${v}" is invalid`), message);
    }
  });
});

/**
 * The on-disk binary search of a Pwned Passwords file (src/domain/breached-passwords.ts):
 * first and last lines, hashes between lines, CRLF and LF, a file without its last newline,
 * the count threshold, a corrupt file, and the start-up check of a file's first lines.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BreachedPasswords, CorruptCorpus, corpusProblem, sha1Hex } from '../../src/domain/breached-passwords.ts';
import { entryFor, writeCorpus, type CorpusEntry } from '../support/breach-corpus.ts';

const h = (prefix: string): string => prefix.padEnd(40, '0');

/** The hash one above (or below) `hash`, as 160-bit numbers. */
function neighbour(hash: string, delta: 1n | -1n): string {
  return (BigInt(`0x${hash}`) + delta).toString(16).toUpperCase().padStart(40, '0');
}

describe('breached-password corpus lookup', function () {
  let dir: string;
  let n = 0;
  const file = (): string => join(dir, `corpus-${(n += 1)}.txt`);

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'rekey-breach-'));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('hashes as the corpus does: uppercase SHA-1 hex of the UTF-8 bytes', function () {
    assert.equal(sha1Hex('password'), '5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8');
    assert.equal(sha1Hex('Passwört'), sha1Hex('Passwört'.normalize('NFC')));
  });

  for (const eol of ['\r\n', '\n'] as const) {
    const name = eol === '\r\n' ? 'CRLF' : 'LF';
    it(`finds the first line, the last line and lines between, with their counts (${name})`, async function () {
      const path = file();
      const entries = writeCorpus(path, [entryFor('password', 9_545_824), { hash: h('0'), count: 7 }, { hash: 'F'.repeat(40), count: 11 }], { filler: 5000, eol });
      const corpus = new BreachedPasswords(path);
      assert.equal(entries[0]!.hash, h('0'));
      assert.equal(await corpus.count(h('0')), 7, 'first line');
      assert.equal(await corpus.count('F'.repeat(40)), 11, 'last line');
      assert.equal(await corpus.count(sha1Hex('password')), 9_545_824);
      for (const e of [entries[1]!, entries[2500]!, entries[entries.length - 2]!]) assert.equal(await corpus.count(e.hash), e.count);
    });

    it(`answers "absent" between two lines, and before the first and after the last line (${name})`, async function () {
      const path = file();
      writeCorpus(path, [{ hash: h('1'), count: 1 }, { hash: h('3'), count: 3 }, { hash: h('5'), count: 5 }], { eol });
      const corpus = new BreachedPasswords(path);
      assert.equal(await corpus.count(h('3')), 3);
      assert.equal(await corpus.count(h('2')), undefined, 'between lines');
      assert.equal(await corpus.count(neighbour(h('3'), 1n)), undefined, 'just above a line');
      assert.equal(await corpus.count(neighbour(h('3'), -1n)), undefined, 'just below a line');
      assert.equal(await corpus.count(h('0')), undefined, 'before the first line');
      assert.equal(await corpus.count(h('9')), undefined, 'after the last line');
    });

    it(`reads a file without a trailing newline, its last line included (${name})`, async function () {
      for (const filler of [0, 3000]) {
        const path = file();
        const entries = writeCorpus(path, [{ hash: 'F'.repeat(40), count: 42 }], { eol, trailingNewline: false, filler });
        const corpus = new BreachedPasswords(path);
        assert.equal(await corpus.count('F'.repeat(40)), 42, `last line, filler ${filler}`);
        assert.equal(await corpus.count(entries[0]!.hash), entries[0]!.count, `first line, filler ${filler}`);
        assert.equal(await corpus.count(neighbour('F'.repeat(40), -1n)), undefined);
      }
    });
  }

  it('a file of one line', async function () {
    const path = file();
    writeCorpus(path, [{ hash: h('8'), count: 2 }]);
    const corpus = new BreachedPasswords(path);
    assert.equal(await corpus.count(h('8')), 2);
    assert.equal(await corpus.count(h('7')), undefined);
    assert.equal(await corpus.count(h('9')), undefined);
  });

  it('finds every sampled line of a larger file, and neither of its neighbours', async function () {
    this.timeout(60_000);
    const path = file();
    const entries = writeCorpus(path, [], { filler: 30_000 });
    const corpus = new BreachedPasswords(path);
    const sample: CorpusEntry[] = [entries[0]!, entries[entries.length - 1]!];
    for (let i = 0; i < 400; i += 1) sample.push(entries[Math.floor(Math.random() * entries.length)]!);
    const present = new Set(entries.map((e) => e.hash));
    for (const e of sample) {
      assert.equal(await corpus.count(e.hash), e.count, e.hash);
      for (const d of [1n, -1n] as const) {
        const other = neighbour(e.hash, d);
        if (!present.has(other)) assert.equal(await corpus.count(other), undefined, other);
      }
    }
  });

  it('counts a password only when it was seen at least the minimum number of times', async function () {
    const path = file();
    writeCorpus(path, [entryFor('hunter2-but-longer', 3)], { filler: 100 });
    assert.equal(await new BreachedPasswords(path, 1).isBreached('hunter2-but-longer'), true);
    assert.equal(await new BreachedPasswords(path, 3).isBreached('hunter2-but-longer'), true);
    assert.equal(await new BreachedPasswords(path, 4).isBreached('hunter2-but-longer'), false);
    assert.equal(await new BreachedPasswords(path, 1).isBreached('never-seen-anywhere-before'), false);
  });

  it('a corrupt line met during a search is an error, never "absent"', async function () {
    const path = file();
    writeFileSync(path, `${h('1')}:1\r\nnot a line at all\r\n${h('3')}:1\r\n`);
    await assert.rejects(new BreachedPasswords(path).count(h('2')), CorruptCorpus);
    await assert.rejects(new BreachedPasswords(join(dir, 'gone.txt')).count(h('2')), /ENOENT/);
  });

  describe('start-up check of the first lines', function () {
    it('accepts the format, CRLF or LF, with or without the last newline', function () {
      for (const [eol, trailingNewline] of [['\r\n', true], ['\n', true], ['\r\n', false]] as const) {
        const path = file();
        writeCorpus(path, [], { filler: 200, eol, trailingNewline });
        assert.equal(corpusProblem(path), undefined);
      }
    });

    it('says what is wrong with a missing, unreadable, empty, malformed or unordered file', function () {
      const write = (text: string): string => {
        const path = file();
        writeFileSync(path, text);
        return path;
      };
      const folder = join(dir, 'a-folder');
      mkdirSync(folder);
      assert.match(corpusProblem(join(dir, 'missing.txt'))!, /cannot read/);
      assert.match(corpusProblem(folder)!, /cannot read/);
      assert.match(corpusProblem(write(''))!, /empty/);
      assert.match(corpusProblem(write(`${h('A').toLowerCase()}:1\r\n`))!, /line 1 is not HEX40:COUNT/);
      assert.match(corpusProblem(write(`${h('1')}:1\r\n${h('2')}\r\n`))!, /line 2 is not HEX40:COUNT/);
      assert.match(corpusProblem(write('password,count\nhunter2,17\n'))!, /line 1/);
      assert.match(corpusProblem(write(`${h('2')}:1\r\n${h('1')}:1\r\n`))!, /line 2 is out of order/);
      assert.match(corpusProblem(write('x'.repeat(10_000)))!, /longer than/);
    });
  });
});

/**
 * An offline breach corpus (ASVS 5.0 6.2.12, NIST 800-63B 3.1.1.2): Have I Been Pwned's
 * downloadable "Pwned Passwords" SHA-1 list, ordered by hash, one `HEX40:COUNT` line per
 * password (CRLF or LF). The real file is some 40 GB, so it is never loaded: each lookup
 * binary-searches it on disk with positioned reads (about 25 of 4 KiB on the full list, plus open, stat and close).
 * rekey makes no outbound call; the operator downloads the file.
 *
 * ```ts
 * const corpus = new BreachedPasswords('/data/pwned-passwords-sha1-ordered-by-hash.txt', 1);
 * await corpus.isBreached('P@ssw0rd'); // true
 * ```
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

const HASH_LENGTH = 40;
/** Bytes read per step; a line is ~50 bytes, so one read holds some 80 lines. */
const BLOCK = 4096;
const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const LINE = /^[0-9A-F]{40}:[0-9]{1,20}$/;

export class CorruptCorpus extends Error {}

/** The uppercase hex SHA-1 of the password's UTF-8 bytes, as the corpus lists it. */
export function sha1Hex(password: string): string {
  return createHash('sha1').update(password, 'utf8').digest('hex').toUpperCase();
}

export class BreachedPasswords {
  constructor(
    readonly path: string,
    /** Hashes seen fewer times than this do not count. */
    readonly minCount = 1,
  ) {}

  async isBreached(password: string): Promise<boolean> {
    const count = await this.count(sha1Hex(password));
    return count !== undefined && count >= this.minCount;
  }

  /**
   * How often the corpus lists the hash (uppercase hex), or undefined when it does not.
   * The file is opened per lookup, so replacing it with a newer download needs no restart.
   */
  async count(hash: string): Promise<number | undefined> {
    const key = Buffer.from(hash, 'latin1');
    const file = await open(this.path, 'r');
    try {
      return await search(file, (await file.stat()).size, key);
    } catch (e) {
      throw e instanceof CorruptCorpus ? new CorruptCorpus(`${this.path}: ${e.message}`) : e;
    } finally {
      await file.close();
    }
  }
}

interface Line {
  start: number;
  /** Offset just past the line's newline (or the file's end). */
  end: number;
  hash: Buffer;
  count: number;
}

/**
 * Invariant: the line holding `key`, if any, starts in [lo, hi), and lo is a line start.
 * Each step reads the block at the middle and compares the key with the complete lines in it:
 * below the first, the line starts before the middle; above the last, after that line; in
 * between, the block itself decides.
 */
async function search(file: FileHandle, size: number, key: Buffer): Promise<number | undefined> {
  let lo = 0;
  let hi = size;
  const buf = Buffer.alloc(BLOCK);
  while (lo < hi) {
    // A narrow window is read whole, starting at its first line.
    const mid = hi - lo <= BLOCK / 2 ? lo : lo + Math.floor((hi - lo) / 2);
    const from = Math.max(0, mid - 1);
    const { bytesRead } = await file.read(buf, 0, BLOCK, from);
    const lines = completeLines(buf.subarray(0, bytesRead), from, mid, from + bytesRead >= size);
    const first = lines[0];
    const last = lines[lines.length - 1];
    if (!first || !last || Buffer.compare(key, first.hash) < 0) {
      hi = mid;
    } else if (Buffer.compare(key, last.hash) > 0) {
      lo = last.end;
    } else {
      return lines.find((l) => l.hash.equals(key))?.count;
    }
  }
  return undefined;
}

/**
 * The complete lines of a block read at `from` that start at or after `mid` (a line starts at
 * 0 or after a newline). The last line of the file may lack its newline.
 */
function completeLines(block: Buffer, from: number, mid: number, atEnd: boolean): Line[] {
  let i = mid === 0 ? 0 : block.indexOf(LF, mid - 1 - from);
  if (i < 0) {
    if (atEnd) return [];
    throw new CorruptCorpus(`no line break within ${BLOCK} bytes after offset ${mid}`);
  }
  if (mid !== 0) i += 1;
  const lines: Line[] = [];
  while (i < block.length) {
    const nl = block.indexOf(LF, i);
    if (nl < 0 && !atEnd) break;
    const end = nl < 0 ? block.length : nl + 1;
    const textEnd = nl < 0 ? block.length : block[nl - 1] === CR ? nl - 1 : nl;
    if (textEnd > i) lines.push(parseLine(block, i, textEnd, from, end));
    i = end;
  }
  if (lines.length === 0 && !atEnd) throw new CorruptCorpus(`no complete line within ${BLOCK} bytes after offset ${mid}`);
  return lines;
}

function parseLine(block: Buffer, start: number, textEnd: number, from: number, end: number): Line {
  if (textEnd - start < HASH_LENGTH + 2 || block[start + HASH_LENGTH] !== COLON) {
    throw new CorruptCorpus(`malformed line at offset ${from + start}`);
  }
  const count = Number(block.toString('latin1', start + HASH_LENGTH + 1, textEnd));
  if (!Number.isSafeInteger(count)) throw new CorruptCorpus(`malformed count at offset ${from + start}`);
  return { start: from + start, end: from + end, hash: block.subarray(start, start + HASH_LENGTH), count };
}

/**
 * Start-up check of a corpus file: readable, not empty, and its first lines are `HEX40:COUNT`
 * in ascending order. Returns what is wrong, or undefined. Synchronous: it runs once, while
 * the configuration is parsed.
 */
export function corpusProblem(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return 'cannot read the file';
  }
  try {
    const head = Buffer.alloc(BLOCK);
    let bytesRead: number;
    try {
      bytesRead = readSync(fd, head, 0, BLOCK, 0);
    } catch {
      return 'cannot read the file (is it a folder?)';
    }
    if (bytesRead === 0) return 'the file is empty';
    const pieces = head.toString('latin1', 0, bytesRead).split('\n');
    // The last piece may be cut off by the read; judge the complete lines (at most 5).
    const complete = bytesRead < BLOCK ? pieces : pieces.slice(0, -1);
    const lines = complete.map((l) => l.replace(/\r$/, '')).filter((l) => l !== '').slice(0, 5);
    if (lines.length === 0) return 'its first line is longer than a HEX40:COUNT line';
    for (const [i, line] of lines.entries()) {
      if (!LINE.test(line)) return `line ${i + 1} is not HEX40:COUNT (40 uppercase hex digits, a colon and a count)`;
      if (i > 0 && line.slice(0, HASH_LENGTH) <= lines[i - 1]!.slice(0, HASH_LENGTH)) return `line ${i + 1} is out of order (the file must be ordered by hash)`;
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

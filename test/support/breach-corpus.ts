/**
 * Small breach corpora in Have I Been Pwned's "Pwned Passwords" format (SHA-1, ordered by
 * hash, `HEX40:COUNT` lines): the hashes of the given passwords plus random filler, sorted.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { sha1Hex } from '../../src/domain/breached-passwords.ts';

export interface CorpusEntry {
  hash: string;
  count: number;
}

export interface CorpusOptions {
  /** Random hashes added around the given ones. */
  filler?: number;
  /** Line ending; HIBP's download uses CRLF. */
  eol?: '\r\n' | '\n';
  /** Whether the last line ends with the line ending too. */
  trailingNewline?: boolean;
}

export const entryFor = (password: string, count: number): CorpusEntry => ({ hash: sha1Hex(password), count });

export function randomHash(): string {
  return randomBytes(20).toString('hex').toUpperCase();
}

/** Writes the corpus to `path` and returns its entries in file order. */
export function writeCorpus(path: string, entries: CorpusEntry[], opts: CorpusOptions = {}): CorpusEntry[] {
  const { filler = 0, eol = '\r\n', trailingNewline = true } = opts;
  const all = [...entries];
  for (let i = 0; i < filler; i += 1) all.push({ hash: randomHash(), count: 1 + (i % 5000) });
  all.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
  const text = all.map((e) => `${e.hash}:${e.count}`).join(eol);
  writeFileSync(path, trailingNewline ? text + eol : text);
  return all;
}

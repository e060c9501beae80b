/** `rekey keys`: make production key material (signing keys with rotation, random secrets). */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { generateSigningKey, parseJwks } from '../../keys.ts';
import { CliError, out } from '../runtime.ts';

export function registerKeys(program: Command): void {
  const keys = program.command('keys').summary('generate signing keys and secrets').description('Generate key material for production (JWKS, COOKIE_KEYS, HMAC_KEYS).');
  keys
    .command('jwks')
    .summary('print a JWK Set with a new RS256 signing key')
    .description(
      'Print a JWK Set (private keys; keep it secret) for JWKS / JWKS_FILE. With --rotate, the new key is put first (it signs from then on) and the keys of the given set follow (they still verify); drop the oldest once its tokens have expired.',
    )
    .option('--rotate <file>', 'existing JWKS file whose keys follow the new one')
    .option('--keep <n>', 'keep at most this many old keys', '2')
    .action((opts: { rotate?: string; keep: string }) => {
      let old: object[] = [];
      if (opts.rotate) {
        let text: string;
        try {
          text = readFileSync(opts.rotate, 'utf8');
        } catch {
          throw new CliError(`cannot read ${opts.rotate}`);
        }
        old = parseJwks(text).keys;
      }
      const keep = Number(opts.keep);
      if (!Number.isInteger(keep) || keep < 0) throw new CliError('--keep must be a whole number');
      out(JSON.stringify({ keys: [generateSigningKey(), ...old.slice(0, keep)] }, null, 2));
    });
  keys
    .command('secret')
    .summary('print a random secret for COOKIE_KEYS or HMAC_KEYS')
    .description('Print a random 256-bit secret (base64url). For rotation put the new one first in the comma-separated list.')
    .action(() => out(randomBytes(32).toString('base64url')));
}

/**
 * Relying parties from CLIENTS_FILE. The file is a JSON array (or `{"clients": [...]}`) of:
 *   client_id, client_secret (omit with "public": true), redirect_uris, name, first_party,
 *   post_logout_redirect_uris, backchannel_logout_uri, grant_types.
 * A malformed file stops start-up with the path of the bad field.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { ClientMetadata } from 'oidc-provider';
import { ConfigError } from '../errors.ts';

const httpUrl = z.string().url().refine((u) => /^https?:/.test(u), 'must be an http(s) URL');

const clientSchema = z
  .object({
    client_id: z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/, 'must be 1–128 characters A–Z a–z 0–9 . _ ~ -'),
    client_secret: z.string().min(32, 'must be at least 32 characters').optional(),
    public: z.boolean().default(false),
    name: z.string().min(1).max(100).optional(),
    redirect_uris: z.array(z.string().url()).min(1, 'needs at least one redirect URI'),
    first_party: z.boolean().default(false),
    post_logout_redirect_uris: z.array(z.string().url()).default([]),
    backchannel_logout_uri: httpUrl.optional(),
    grant_types: z.array(z.enum(['authorization_code', 'refresh_token'])).default(['authorization_code', 'refresh_token']),
  })
  .strict()
  .refine((c) => c.public || c.client_secret, { message: 'needs client_secret, or "public": true', path: ['client_secret'] })
  .refine((c) => !(c.public && c.client_secret), { message: 'a public client has no client_secret', path: ['client_secret'] });

// Picked by the shape of the file rather than a z.union, whose error would hide the path of the bad field.
const listSchema = z.array(clientSchema);
const wrappedSchema = z.object({ clients: listSchema }).strict();

export type ClientEntry = z.infer<typeof clientSchema>;

export interface ClientRegistry {
  metadata: ClientMetadata[];
  firstParty: Set<string>;
}

export function toMetadata(c: ClientEntry): ClientMetadata {
  return {
    client_id: c.client_id,
    ...(c.client_secret ? { client_secret: c.client_secret } : {}),
    ...(c.name ? { client_name: c.name } : {}),
    token_endpoint_auth_method: c.public ? 'none' : 'client_secret_basic',
    redirect_uris: c.redirect_uris,
    post_logout_redirect_uris: c.post_logout_redirect_uris,
    grant_types: c.grant_types,
    response_types: ['code'],
    ...(c.backchannel_logout_uri ? { backchannel_logout_uri: c.backchannel_logout_uri, backchannel_logout_session_required: true } : {}),
  };
}

export function parseClients(json: unknown, source: string): ClientEntry[] {
  const r = Array.isArray(json) ? listSchema.safeParse(json) : wrappedSchema.transform((f) => f.clients).safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    // An unknown field is reported at its own path, not at the client holding it.
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
    const where = path.length ? path.join('.') : '(top level)';
    throw new ConfigError(`CLIENTS_FILE=${source} is invalid at ${where}: ${issue.message}`);
  }
  const list = r.data;
  const ids = new Set<string>();
  for (const c of list) {
    if (ids.has(c.client_id)) throw new ConfigError(`CLIENTS_FILE=${source} is invalid: client_id "${c.client_id}" appears twice`);
    ids.add(c.client_id);
  }
  return list;
}

export function loadClientsFile(path: string | undefined): ClientEntry[] {
  if (!path) return [];
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ConfigError(`CLIENTS_FILE=${path}: cannot read the file`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    // Only the position: the parser's own message may quote part of a client secret.
    const where = /position \d+(?: \(line \d+ column \d+\))?/.exec((e as Error).message)?.[0];
    throw new ConfigError(`CLIENTS_FILE=${path} is not valid JSON${where ? ` (at ${where})` : ''}`);
  }
  return parseClients(json, path);
}

export function registry(entries: ClientEntry[]): ClientRegistry {
  return { metadata: entries.map(toMetadata), firstParty: new Set(entries.filter((c) => c.first_party).map((c) => c.client_id)) };
}

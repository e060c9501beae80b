/**
 * Back-channel logout (OpenID Connect Back-Channel Logout 1.0) when an account is signed out
 * everywhere outside the provider's own end-session endpoint: a password reset, a password
 * change, "sign out everywhere".
 *
 * Call it BEFORE the account's records are revoked: it reads the account's sessions to learn
 * which relying parties it signed in to, and with which `sid`. Each relying party with a
 * `backchannel_logout_uri` gets a logout token from oidc-provider's own
 * `Client#backchannelLogout(sub, sid)` (signed like ID tokens, `events` with the
 * back-channel-logout member, `sid` when the client requires it), all in parallel. It never
 * throws: a relying party that is down, or a store that fails to answer, is logged and the
 * reset or sign-out goes on (the account's `notBefore` already holds everything older).
 */
import type Provider from 'oidc-provider';
import type { Logger } from '../log.ts';
import type { Store } from '../store/types.ts';

/** The oidc-provider Client instance method (lib/models/client.js), not in the type definitions. */
interface LogoutCapableClient {
  clientId: string;
  backchannelLogoutUri?: string;
  backchannelLogoutSessionRequired?: boolean;
  backchannelLogout(sub: string, sid: string | undefined): Promise<void>;
}

export interface BackchannelResult {
  /** Notifications the relying parties accepted (HTTP 200/204). */
  sent: number;
  /** Notifications that failed (unreachable, timeout, other status). */
  failed: number;
}

/** `(clientId, sid)` of every relying party in every session payload, without duplicates. */
export function sessionAuthorizations(sessions: Record<string, unknown>[]): { clientId: string; sid: string | undefined }[] {
  const seen = new Set<string>();
  const out: { clientId: string; sid: string | undefined }[] = [];
  for (const session of sessions) {
    const authorizations = session.authorizations;
    if (!authorizations || typeof authorizations !== 'object') continue;
    for (const [clientId, entry] of Object.entries(authorizations as Record<string, unknown>)) {
      const sid = entry && typeof entry === 'object' && typeof (entry as { sid?: unknown }).sid === 'string' ? (entry as { sid: string }).sid : undefined;
      const key = `${clientId}\u0000${sid ?? ''}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ clientId, sid });
    }
  }
  return out;
}

/**
 * Tells the relying parties of these authorizations (`sessionAuthorizations`) that the
 * account's sessions are ending. Never throws: a relying party that cannot be told does not
 * keep a session alive, it is logged and counted.
 */
export async function backchannelLogout(
  provider: Provider,
  accountId: string,
  authorizations: readonly { clientId: string; sid: string | undefined }[],
  log?: Pick<Logger, 'info' | 'warn'>,
): Promise<BackchannelResult> {
  const result: BackchannelResult = { sent: 0, failed: 0 };
  const clients = new Map<string, LogoutCapableClient | undefined>();
  const calls: Promise<void>[] = [];
  /** Clients told without a sid (they did not ask for one): once each is enough. */
  const withoutSid = new Set<string>();
  for (const { clientId, sid } of authorizations) {
    if (!clients.has(clientId)) {
      // A client removed from CLIENTS_FILE since the sign-in is simply not told.
      const found = (await provider.Client.find(clientId).catch(() => undefined)) as unknown as LogoutCapableClient | undefined;
      clients.set(clientId, found);
    }
    const client = clients.get(clientId);
    if (!client?.backchannelLogoutUri) continue;
    if (!client.backchannelLogoutSessionRequired) {
      if (withoutSid.has(clientId)) continue;
      withoutSid.add(clientId);
    }
    calls.push(
      client.backchannelLogout(accountId, sid).then(
        () => {
          result.sent += 1;
          log?.info({ event: 'backchannel_logout', clientId, accountId });
        },
        (err: unknown) => {
          result.failed += 1;
          log?.warn({ event: 'backchannel_logout_failed', clientId, accountId, err: (err as Error).message });
        },
      ),
    );
  }
  await Promise.all(calls);
  return result;
}

/** Every session of the account: the relying parties of all of them are told. */
export async function backchannelLogoutAll(
  provider: Provider,
  store: Pick<Store, 'oidc'>,
  accountId: string,
  log?: Pick<Logger, 'info' | 'warn'>,
): Promise<BackchannelResult> {
  let sessions: Record<string, unknown>[];
  try {
    sessions = await store.oidc.listByAccount('Session', accountId);
  } catch (err) {
    // Reading the sessions failed: nobody can be told, and the sign-out itself still holds.
    log?.warn({ event: 'backchannel_logout_failed', accountId, err: (err as Error).message });
    return { sent: 0, failed: 0 };
  }
  return backchannelLogout(provider, accountId, sessionAuthorizations(sessions), log);
}

/**
 * oidc-provider's `fetch` for its outgoing requests. Its default agent refuses every private,
 * loopback or link-local address (SSRF protection), which would silently break back-channel
 * logout to relying parties on the organisation's own network — the usual case for a
 * self-hosted provider. The exact `backchannel_logout_uri` values of the configured clients
 * (set by the operator in CLIENTS_FILE; there is no dynamic registration) are allowed to
 * reach such addresses; every other URL keeps the protection.
 */
export function backchannelFetch(allowed: Iterable<string>): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
  const trusted = new Set([...allowed].map((u) => new URL(u).href));
  return (input, init) => {
    const url = input instanceof Request ? input.url : new URL(input).href;
    if (init && trusted.has(url)) {
      const { dispatcher: _ignored, ...rest } = init as RequestInit & { dispatcher?: unknown };
      return globalThis.fetch(input, rest);
    }
    return globalThis.fetch(input, init);
  };
}

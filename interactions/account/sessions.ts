/**
 * The sessions of one account at rekey (oidc-provider's `Session` records in the oidc store),
 * for "My security info": listed ("Where you are signed in") and ended one by one, or all but
 * the current one. Ending a session destroys it and revokes the grants (and with them the
 * refresh tokens) issued through it; the account's `notBefore` stays, so other sessions live on.
 */
import { createHash } from 'node:crypto';
import type { Store } from '../../src/store/types.ts';
import { sessionAuthorizations } from '../../src/provider/backchannel.ts';

/** What the page names a session by: a digest of its uid, so the page carries no session handle of oidc-provider's. */
export const sessionHandle = (uid: string): string => createHash('sha256').update(`rekey-session:${uid}`).digest('base64url').slice(0, 22);

export interface AccountSession {
  /** The session's id (oidc-provider's `jti`, what its cookie holds): never shown or sent to the browser. */
  id: string;
  /** oidc-provider's session uid: the handle the page uses, and what tells "this browser". */
  uid: string;
  /** Sign-in time (ms). */
  signedInAt: number;
  /** Ends at (ms), the session's absolute lifetime. */
  expiresAt?: number;
  grantIds: string[];
  /** The relying parties signed in through it (with their `sid`): told by back-channel logout when it ends. */
  authorizations: { clientId: string; sid: string | undefined }[];
}

function grantIdsOf(payload: Record<string, unknown>): string[] {
  const authorizations = payload.authorizations;
  if (!authorizations || typeof authorizations !== 'object') return [];
  const out = new Set<string>();
  for (const entry of Object.values(authorizations as Record<string, unknown>)) {
    const grantId = entry && typeof entry === 'object' ? (entry as { grantId?: unknown }).grantId : undefined;
    if (typeof grantId === 'string' && grantId) out.add(grantId);
  }
  return [...out];
}

/** The account's live, signed-in sessions, newest first; ones from before `notBefore` are left out (they are gone already). */
export async function listSessions(store: Pick<Store, 'oidc'>, accountId: string, notBefore: number): Promise<AccountSession[]> {
  const payloads = await store.oidc.listByAccount('Session', accountId);
  const out: AccountSession[] = [];
  for (const p of payloads) {
    if (typeof p.jti !== 'string' || typeof p.uid !== 'string' || p.accountId !== accountId) continue;
    const seconds = typeof p.loginTs === 'number' ? p.loginTs : typeof p.iat === 'number' ? p.iat : undefined;
    if (seconds === undefined || (seconds + 1) * 1000 <= notBefore) continue;
    out.push({
      id: p.jti,
      uid: p.uid,
      signedInAt: seconds * 1000,
      ...(typeof p.exp === 'number' ? { expiresAt: p.exp * 1000 } : {}),
      grantIds: grantIdsOf(p),
      authorizations: sessionAuthorizations([p]),
    });
  }
  return out.sort((a, b) => b.signedInAt - a.signedInAt);
}

/**
 * Ends one session: its relying parties are told (back-channel logout, `tell`) while the
 * session still exists, then its grants (and every token and code carrying them) go, then the
 * session.
 */
export async function endSession(store: Pick<Store, 'oidc'>, session: AccountSession, tell: (session: AccountSession) => Promise<unknown>): Promise<void> {
  await tell(session);
  for (const grantId of session.grantIds) await store.oidc.revokeByGrantId(grantId);
  await store.oidc.destroy('Session', session.id);
}

/**
 * Server-side state of "My security info" for one session of one account: the CSRF token of
 * its forms, the password step, the pending challenge of the method being proven, a method
 * being added, and freshly regenerated recovery codes. Keyed by the account (hash tag) and
 * oidc-provider's session uid; the browser holds nothing but the session cookie. What a page
 * shows between two steps (a TOTP key, recovery codes, questions) is kept sealed.
 */
import type { EphemeralStore } from '../../src/store/types.ts';
import type { MethodKind, PendingData, SealedSecret } from '../../src/domain/methods/types.ts';
import { randomId } from '../../src/domain/secrets.ts';

export interface SecurityInfoState {
  /** CSRF token of every form of this session's security-info pages. */
  csrf: string;
  /** Step 1 (password) passed at (ms). */
  passwordAt?: number;
  /** Step 2: the challenge of the registered method being proven. */
  challenge?: { methodId: string; kind: MethodKind; pending: PendingData; display: SealedSecret; failures: number; values?: Record<string, string> };
  /** A method being added: chosen kind, then its pending registration step. */
  add?: { kind?: MethodKind; pending?: PendingData; display?: SealedSecret; values?: Record<string, string> };
  /** Regenerated recovery codes (already in force), shown until the user confirms saving them. */
  newCodes?: SealedSecret;
  /** A message for the next page, shown once: catalog id and variables. */
  notice?: { id: string; vars?: Record<string, string | number> };
  expiresAt: number;
}

/** Lifetime of the state (CSRF token, pending steps); the proof has its own, shorter one. */
const STATE_TTL_MS = 60 * 60 * 1000;

const key = (accountId: string, sessionUid: string): string => `{a:${accountId}}:security-info:${sessionUid}`;

export class SecurityInfoStates {
  constructor(
    private readonly store: EphemeralStore,
    private readonly clock: () => number,
  ) {}

  async load(accountId: string, sessionUid: string): Promise<SecurityInfoState> {
    return (await this.store.get<SecurityInfoState>(key(accountId, sessionUid))) ?? { csrf: randomId(18), expiresAt: this.clock() + STATE_TTL_MS };
  }

  /** Saves and slides the expiry. */
  async save(accountId: string, sessionUid: string, state: SecurityInfoState): Promise<void> {
    state.expiresAt = this.clock() + STATE_TTL_MS;
    await this.store.put(key(accountId, sessionUid), state, state.expiresAt);
  }
}

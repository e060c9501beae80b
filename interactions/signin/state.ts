/**
 * Server-side state of one sign-in interaction (which stages passed, who signed in), keyed by
 * the interaction uid. The browser only holds oidc-provider's interaction cookie.
 */
import type { EphemeralStore } from '../../src/store/types.ts';
import type { MethodKind, PendingData, SealedSecret } from '../../src/domain/methods/types.ts';
import { constantTimeEqual, type Hmac } from '../../src/domain/secrets.ts';

export interface SigninState {
  /** CSRF token of every form of this interaction. */
  csrf: string;
  accountId?: string;
  /** What the user typed as identifier, to prefill the form after an error. */
  identifier?: string;
  /** Stage names finished in this interaction. */
  passed: string[];
  /** RFC 8176 authentication method references collected so far. */
  amr: string[];
  /** Bootstrap proof of a first registration: the code sent to the primary address. */
  bootstrap?: { pending?: PendingData; sentTo?: string };
  /**
   * The method being registered and its server-side pending step. What the page shows between
   * the steps (a TOTP key, recovery codes) is kept sealed: nothing secret rests in clear.
   */
  registration?: { kind: MethodKind; pending?: PendingData; display?: SealedSecret; values?: Record<string, string> };
  /** The user chose "not now" for registration in this sign-in. */
  postponed?: boolean;
  /** The second factor being proven (sealed display as for registration). */
  secondFactor?: { ref: string; pending?: PendingData; display?: SealedSecret };
  /** The password just verified is in the breach corpus: a new one is due before the sign-in finishes. */
  breachedPassword?: boolean;
  /** This login re-opened an existing session only for a second factor (step-up). */
  stepUp?: boolean;
  expiresAt: number;
}

const key = (uid: string): string => `interaction-state:{${uid}}`;
/** Where the state of interaction `uid` is kept (in the `{uid}` group of the interaction's lock). */
export const signinStateKey = key;

/** A write that goes out later (with the release of the interaction's lock: LeaseHold.putOnRelease). */
export type DeferredPut = (key: string, value: unknown, expiresAt: number) => void;

const CSRF_PURPOSE = 'interaction-csrf';

export class SigninStates {
  /**
   * What each state looked like when last read or written: a save that changes nothing writes
   * nothing. A new state counts as written: it is what a later load would rebuild.
   */
  private readonly asLoaded = new WeakMap<SigninState, string>();

  constructor(
    private readonly store: EphemeralStore,
    private readonly hmac: Hmac,
  ) {}

  async load(uid: string, expiresAt: number): Promise<SigninState> {
    return this.loaded(uid, await this.store.get<SigninState>(key(uid)), expiresAt);
  }

  /** `load`, from the state as just read at `signinStateKey(uid)` (with the interaction's lock). */
  loaded(uid: string, stored: SigninState | undefined, expiresAt: number): SigninState {
    // The CSRF token is a keyed hash of the uid (OWASP's HMAC-based token), not a random value:
    // an interaction nobody has advanced yet then needs no stored state, so showing its first
    // page writes nothing and needs no lock (see the GET route).
    const state = stored ?? { csrf: this.hmac.digest(CSRF_PURPOSE, uid), passed: [], amr: [], expiresAt };
    this.asLoaded.set(state, JSON.stringify(state));
    return state;
  }

  /** Nothing changed since load or save: a request that leaves it so has nothing to write. */
  unchanged(state: SigninState): boolean {
    return this.asLoaded.get(state) === JSON.stringify(state);
  }

  /** The form's token belongs to this interaction (any HMAC key, so a key rotation spares sign-ins in flight). */
  csrfMatches(uid: string, state: SigninState, sent: string): boolean {
    return constantTimeEqual(sent, state.csrf) || this.hmac.matches(CSRF_PURPOSE, uid, sent);
  }

  /**
   * Writes the state, unless it is exactly what was loaded (a page shown again, a stage that
   * changed nothing). With `later`, the state as it is now is handed to it instead of written here.
   */
  async save(uid: string, state: SigninState, later?: DeferredPut): Promise<void> {
    const now = JSON.stringify(state);
    if (this.asLoaded.get(state) === now) return;
    if (later) later(key(uid), JSON.parse(now) as SigninState, state.expiresAt);
    else await this.store.put(key(uid), state, state.expiresAt);
    this.asLoaded.set(state, now);
  }

  async drop(uid: string): Promise<void> {
    await this.store.delete(key(uid));
  }
}

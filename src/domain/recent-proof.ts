/**
 * Recent proof for editing security info ("My security info"): the password and one
 * registered method, both proven within RECENT_PROOF_MINUTES, kept server-side per session
 * of one account. The key names the account (its hash tag) and the session uid, so a proof
 * made in one browser's session never carries to another session, nor to another account
 * signing in within the same browser.
 */
import type { Clock, EphemeralStore } from '../store/types.ts';
import type { MethodKind } from './methods/types.ts';

export interface RecentProof {
  /** When the proof was completed (ms). */
  provenAt: number;
  /** When the password step passed (ms). */
  passwordAt: number;
  /** The method proven in step 2; absent when the account had no usable method (password only). */
  method?: MethodKind;
  expiresAt: number;
}

export class RecentProofs {
  constructor(
    private readonly store: EphemeralStore,
    private readonly clock: Clock,
    /** RECENT_PROOF_MINUTES in ms. */
    readonly windowMs: number,
  ) {}

  static key(accountId: string, sessionUid: string): string {
    return `{a:${accountId}}:recent-proof:${sessionUid}`;
  }

  /** True while a step proven at `at` is still recent. */
  fresh(at: number | undefined): boolean {
    return typeof at === 'number' && this.clock() - at < this.windowMs && at <= this.clock();
  }

  /**
   * The session's proof, if still recent. A proof older than the account's `notBefore`
   * (password changed, signed out everywhere) no longer counts.
   */
  async get(accountId: string, sessionUid: string, notBefore = 0): Promise<RecentProof | undefined> {
    const proof = await this.store.get<RecentProof>(RecentProofs.key(accountId, sessionUid));
    if (!proof || proof.expiresAt <= this.clock() || proof.provenAt < notBefore) return undefined;
    return proof;
  }

  /** Records a completed proof. The password step must itself still be recent. */
  async record(accountId: string, sessionUid: string, proof: { passwordAt: number; method?: MethodKind }): Promise<RecentProof> {
    if (!this.fresh(proof.passwordAt)) throw new Error('recent proof: the password step is no longer recent');
    const now = this.clock();
    const stored: RecentProof = { provenAt: now, passwordAt: proof.passwordAt, ...(proof.method ? { method: proof.method } : {}), expiresAt: now + this.windowMs };
    await this.store.put(RecentProofs.key(accountId, sessionUid), stored, stored.expiresAt);
    return stored;
  }

  async clear(accountId: string, sessionUid: string): Promise<void> {
    await this.store.delete(RecentProofs.key(accountId, sessionUid));
  }
}

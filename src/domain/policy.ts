/**
 * Who must register which recovery methods, and when (Entra-style SSPR policy). Admins are
 * held to the stricter rules whatever the config says: two methods, never security questions.
 * Every decision is made from the stored account, so no sign-in prompt can loop.
 */
import type { AccountRecord } from '../store/types.ts';
import { METHOD_KINDS, type MethodKind, type MethodRecord } from './methods/types.ts';

export interface PolicyOptions {
  scope: 'none' | 'all' | 'groups';
  groups: readonly string[];
  enabled: readonly MethodKind[];
  methodsRequired: number;
  proofsRequired: number;
  registerAtSignin: boolean;
  postponeLimit: number;
  reconfirmDays: number;
  bootstrap: 'email' | 'tap' | 'password';
  /** Who must prove a second factor at sign-in. */
  twoFactor: 'off' | 'admins' | 'all';
  /** Kinds that count as a second factor. */
  twoFactorKinds: readonly MethodKind[];
}

const DAY_MS = 24 * 3600 * 1000;

export function methodsOf(account: Pick<AccountRecord, 'methods'>): MethodRecord[] {
  return account.methods as MethodRecord[];
}

export class SsprPolicy {
  constructor(readonly options: PolicyOptions) {}

  inScope(account: Pick<AccountRecord, 'groups'>): boolean {
    const { scope, groups } = this.options;
    if (scope === 'none') return false;
    if (scope === 'all') return true;
    return account.groups.some((g) => groups.includes(g));
  }

  /** Methods this account may register, in the registry's order. */
  allowedKinds(account: Pick<AccountRecord, 'admin'>): MethodKind[] {
    return METHOD_KINDS.filter((k) => this.options.enabled.includes(k) && !(account.admin && k === 'security_questions'));
  }

  requiredMethods(account: Pick<AccountRecord, 'admin'>): number {
    return account.admin ? 2 : this.options.methodsRequired;
  }

  requiredProofs(account: Pick<AccountRecord, 'admin'>): number {
    return account.admin ? 2 : this.options.proofsRequired;
  }

  /** Registered methods that still count under the current policy. */
  usableMethods(account: Pick<AccountRecord, 'admin' | 'methods'>): MethodRecord[] {
    const allowed = this.allowedKinds(account);
    return methodsOf(account).filter((m) => allowed.includes(m.kind));
  }

  needsRegistration(account: AccountRecord): boolean {
    return (this.inScope(account) && this.usableMethods(account).length < this.requiredMethods(account)) || this.needsSecondFactorRegistration(account);
  }

  requiresSecondFactor(account: Pick<AccountRecord, 'admin'>): boolean {
    return this.options.twoFactor === 'all' || (this.options.twoFactor === 'admins' && account.admin);
  }

  /** Registered methods that count as a second factor, the last used first. */
  secondFactorMethods(account: Pick<AccountRecord, 'admin' | 'methods'>): MethodRecord[] {
    return this.usableMethods(account)
      .filter((m) => this.options.twoFactorKinds.includes(m.kind))
      .sort((a, b) => (b.lastUsedAt ?? 0) - (a.lastUsedAt ?? 0));
  }

  /** 2FA coverage forces registration whatever the SSPR scope: nobody who must use it goes through without it. */
  needsSecondFactorRegistration(account: Pick<AccountRecord, 'admin' | 'methods'>): boolean {
    return this.requiresSecondFactor(account) && this.secondFactorMethods(account).length === 0;
  }

  /** True when the account has never registered a method: the first registration needs a bootstrap proof. */
  isFirstRegistration(account: AccountRecord): boolean {
    return methodsOf(account).length === 0;
  }

  reconfirmDue(account: AccountRecord, now: number): boolean {
    if (!this.inScope(account) || this.options.reconfirmDays === 0) return false;
    const methods = this.usableMethods(account);
    if (methods.length === 0) return false;
    const oldest = Math.min(...methods.map((m) => m.confirmedAt));
    return now - oldest >= this.options.reconfirmDays * DAY_MS;
  }
}

/**
 * "Don't ask again on this device": a server-side record in the account (listable, revocable)
 * referenced by a signed HttpOnly cookie `<account id>.<device id>.<secret>`. A device stops
 * counting when it expires, when the password changes or is reset (it is older than the
 * account's notBefore), or when methods are removed (the list is cleared). It never satisfies
 * a step-up.
 */
import type { AccountRecord, Clock, RememberedDevice } from '../store/types.ts';
import type { Accounts } from './accounts.ts';
import { randomId, type Hmac } from './secrets.ts';

export class RememberedDevices {
  constructor(
    private readonly accounts: Accounts,
    private readonly hmac: Hmac,
    private readonly clock: Clock,
    private readonly lifetimeDays: number,
  ) {}

  get enabled(): boolean {
    return this.lifetimeDays > 0;
  }

  /** Registers this browser; returns the cookie value and its lifetime. */
  async remember(account: AccountRecord, userAgent: string): Promise<{ cookie: string; maxAgeMs: number }> {
    const id = randomId(9);
    const secret = randomId(24);
    const now = this.clock();
    const maxAgeMs = this.lifetimeDays * 24 * 3600 * 1000;
    const device: RememberedDevice = { id, secretHash: this.hmac.digest('device', secret), label: describe(userAgent), createdAt: now, expiresAt: now + maxAgeMs };
    await this.accounts.update(account.id, (a) => ({ ...a, devices: [...(a.devices ?? []).filter((d) => d.expiresAt > now), device] }));
    return { cookie: `${account.id}.${id}.${secret}`, maxAgeMs };
  }

  /** The remembered device this cookie names, when it still counts for this account. */
  valid(account: AccountRecord, cookie: string | undefined): RememberedDevice | undefined {
    if (!this.enabled || !cookie) return undefined;
    const [accountId, id, secret] = cookie.split('.');
    if (accountId !== account.id || !id || !secret) return undefined;
    const device = (account.devices ?? []).find((d) => d.id === id);
    if (!device || device.expiresAt <= this.clock() || device.createdAt < account.notBefore) return undefined;
    return this.hmac.matches('device', secret, device.secretHash) ? device : undefined;
  }

  list(account: AccountRecord): RememberedDevice[] {
    const now = this.clock();
    return (account.devices ?? []).filter((d) => d.expiresAt > now && d.createdAt >= account.notBefore);
  }

  async forget(accountId: string, deviceId?: string): Promise<number> {
    // Nothing to forget: no write (a no-op must not touch the account).
    const current = await this.accounts.get(accountId);
    if (!(current?.devices ?? []).some((d) => deviceId === undefined || d.id === deviceId)) return 0;
    let removed = 0;
    await this.accounts.update(accountId, (a) => {
      const keep = (a.devices ?? []).filter((d) => deviceId !== undefined && d.id !== deviceId);
      removed = (a.devices ?? []).length - keep.length;
      return { ...a, devices: keep };
    });
    return removed;
  }
}

function describe(userAgent: string): string {
  const browser = /(Edg|Firefox|Chrome|Safari)\/[\d.]+/.exec(userAgent)?.[1] ?? 'Browser';
  const os = /(Windows|Android|iPhone|iPad|Mac OS X|Linux)/.exec(userAgent)?.[1] ?? 'unknown system';
  return `${browser === 'Edg' ? 'Edge' : browser} on ${os}`;
}

/**
 * Server-side sessions of the admin dashboard: a random id in a signed, HttpOnly, SameSite=Strict
 * cookie (`adminSession` of src/cookie-names.ts, `Path=/`), the account and start time in the
 * store. Every request re-reads the account: a session ends when it expires, when the account
 * stops being an active admin, or when anything signs the account out everywhere (its
 * `notBefore` passes the start).
 */
import type { Context } from 'koa';
import type { AccountRecord, Clock, EphemeralStore } from '../../src/store/types.ts';
import type { Accounts } from '../../src/domain/accounts.ts';
import { randomId } from '../../src/domain/secrets.ts';

const ID = /^[A-Za-z0-9_-]{24}$/;

interface StoredAdminSession {
  accountId: string;
  startedAt: number;
}

export interface AdminSession {
  id: string;
  account: AccountRecord;
  startedAt: number;
  expiresAt: number;
}

export class AdminSessions {
  constructor(
    private readonly store: EphemeralStore,
    private readonly accounts: Pick<Accounts, 'get'>,
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly cookie: string,
  ) {}

  private key(id: string): string {
    return `admin-session:{${id}}`;
  }

  private cookieOptions(ctx: Context) {
    return { signed: true, httpOnly: true, sameSite: 'strict' as const, path: '/', secure: ctx.secure, overwrite: true };
  }

  async start(ctx: Context, accountId: string): Promise<void> {
    const id = randomId(18);
    const startedAt = this.clock();
    await this.store.put(this.key(id), { accountId, startedAt } satisfies StoredAdminSession, startedAt + this.ttlMs);
    ctx.cookies.set(this.cookie, id, { ...this.cookieOptions(ctx), maxAge: this.ttlMs });
  }

  async current(ctx: Context): Promise<AdminSession | undefined> {
    const id = ctx.cookies.get(this.cookie, { signed: true });
    if (!id || !ID.test(id)) return undefined;
    const stored = await this.store.get<StoredAdminSession>(this.key(id));
    if (!stored) return undefined;
    const account = await this.accounts.get(stored.accountId);
    if (!account || !account.admin || account.status !== 'active' || account.notBefore > stored.startedAt) {
      await this.store.delete(this.key(id));
      return undefined;
    }
    return { id, account, startedAt: stored.startedAt, expiresAt: stored.startedAt + this.ttlMs };
  }

  async end(ctx: Context): Promise<void> {
    const id = ctx.cookies.get(this.cookie, { signed: true });
    if (id && ID.test(id)) await this.store.delete(this.key(id));
    ctx.cookies.set(this.cookie, null, this.cookieOptions(ctx));
  }
}

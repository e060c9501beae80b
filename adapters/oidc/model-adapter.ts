/**
 * oidc-provider's storage adapter on our store. Every record that belongs to an account is
 * indexed by it, so "sign the account out everywhere" is one call, and every such record
 * written before the account's `notBefore` is treated as gone: that check, not the cleanup
 * that deletes the records, is what makes a reset or sign-out hold.
 */
import Provider, { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { AccountRecord, AccountRepo, Clock, OidcModelStore, OidcRecord } from '../../src/store/types.ts';
import { StoreUnavailable } from '../../src/errors.ts';

/**
 * A store outage inside oidc-provider must reach the user as "temporarily unavailable"
 * (HTTP 503, OAuth `temporarily_unavailable`), not as a generic 500.
 */
export async function guard<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (e) {
    if (!(e instanceof StoreUnavailable)) throw e;
    const err = new errors.CustomOIDCProviderError('temporarily_unavailable', new StoreUnavailable().message);
    Object.assign(err, { status: 503, statusCode: 503 });
    throw err;
  }
}

/**
 * One read of an account per oidc-provider request. A token or authorization request loads
 * several records of one account (a refresh grant: the refresh token, the grant, then the
 * account itself; a code exchange: the code, the grant, the session, the account), and each
 * of them is checked against the account's `notBefore`: reading the account once and sharing it
 * with `findAccount` turns three or four store reads into one. Scoped to oidc-provider's own
 * request context (`Provider.ctx`), so nothing outlives the request that read it; outside one
 * (our own routes, the CLI) every call reads the store.
 */
export class RequestAccounts {
  private readonly byRequest = new WeakMap<object, Map<string, Promise<AccountRecord | undefined>>>();

  constructor(private readonly repo: Pick<AccountRepo, 'get' | 'notBefore'>) {}

  /** The account as this request first read it. */
  get(id: string, ctx: object | undefined = Provider.ctx): Promise<AccountRecord | undefined> {
    if (ctx === undefined) return this.repo.get(id);
    let memo = this.byRequest.get(ctx);
    if (memo === undefined) this.byRequest.set(ctx, (memo = new Map()));
    let found = memo.get(id);
    if (found === undefined) {
      found = this.repo.get(id);
      memo.set(id, found);
      // A failed read is not remembered: a retry within the request reads again.
      const forget = memo;
      found.catch(() => forget.delete(id));
    }
    return found;
  }

  /** `notBefore` of the account: from this request's read of it, else the store's cheap read. */
  async notBefore(id: string): Promise<number | undefined> {
    const ctx = Provider.ctx;
    if (ctx === undefined) return this.repo.notBefore(id);
    return (await this.get(id, ctx))?.notBefore;
  }
}

export interface ModelAdapterDeps {
  oidc: OidcModelStore;
  accounts: Pick<AccountRepo, 'notBefore'>;
  clock: Clock;
}

/** Models that stay valid only while their account's `notBefore` is older than them. */
const ACCOUNT_BOUND = new Set([
  'Session',
  'Grant',
  'AccessToken',
  'RefreshToken',
  'AuthorizationCode',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

/**
 * Models that `revokeByGrantId` destroys (oidc-provider's own adapter indexes the same). An
 * Interaction carries the grantId of the grant it may extend: indexing it too made a revoked
 * grant take the sign-in in progress with it (signing in as another user in a browser with a
 * session ended that session, revoking its grants, and then failed with "interaction session
 * not found").
 */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

export function modelAdapterFactory(deps: ModelAdapterDeps): (name: string) => Adapter {
  return (name: string) => new ModelAdapter(name, deps);
}

class ModelAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly deps: ModelAdapterDeps,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const accountId = typeof payload.accountId === 'string' && ACCOUNT_BOUND.has(this.model) ? payload.accountId : undefined;
    await guard(
      this.deps.oidc.upsert(this.model, id, payload as Record<string, unknown>, this.deps.clock() + expiresIn * 1000, {
        ...(accountId ? { accountId } : {}),
        ...(payload.grantId && GRANTABLE.has(this.model) ? { grantId: payload.grantId } : {}),
        ...(payload.uid ? { uid: payload.uid } : {}),
        ...(payload.userCode ? { userCode: payload.userCode } : {}),
      }),
    );
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return guard(this.deps.oidc.find(this.model, id).then((r) => this.valid(r)));
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return guard(this.deps.oidc.findByUid(this.model, uid).then((r) => this.valid(r)));
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return guard(this.deps.oidc.findByUserCode(this.model, userCode).then((r) => this.valid(r)));
  }

  async consume(id: string): Promise<void> {
    await guard(this.deps.oidc.consume(this.model, id));
  }

  async destroy(id: string): Promise<void> {
    await guard(this.deps.oidc.destroy(this.model, id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await guard(this.deps.oidc.revokeByGrantId(grantId));
  }

  private async valid(record: OidcRecord | undefined): Promise<AdapterPayload | undefined> {
    if (!record) return undefined;
    const payload = record.payload as AdapterPayload;
    if (!ACCOUNT_BOUND.has(this.model) || typeof payload.accountId !== 'string') return payload;
    const notBefore = await this.deps.accounts.notBefore(payload.accountId);
    if (notBefore === undefined) return undefined;
    if (record.createdAt < notBefore) return undefined;
    // A session re-saved after notBefore still carries the time of its login (seconds).
    if (this.model === 'Session' && typeof payload.loginTs === 'number' && (payload.loginTs + 1) * 1000 <= notBefore) {
      return undefined;
    }
    return payload;
  }
}

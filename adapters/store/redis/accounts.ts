/**
 * Accounts on Redis. The record is a hash on the account's own slot
 * (`{a:<id>}:account`: doc, version, notBefore); the unique indexes share one slot (`{idx}`).
 * Record and indexes cannot change in one atomic step on a cluster, so every write goes in a
 * fixed order, each step one single-slot script:
 *
 * 1. claim the login and every email in the index, all or nothing (Conflict when another
 *    account holds one);
 * 2. write the record (create: only if the id is free; replace: compare-and-set on version);
 * 3. release entries the record no longer lists (only where they still point to this id).
 *
 * A crash between the steps can leave index entries that point to an account whose record
 * does not list them (or does not exist). Reads ignore them: a lookup through the index
 * returns the record only if the record itself lists the login / email. A later claim takes
 * such an entry over, but only when the owner made no claim within CLAIM_GRACE_MS (tracked in
 * `{idx}:claims`), so an in-flight create or replace of another process is never mistaken for
 * a leftover.
 *
 * The password-reset commit (`commitWithConsume`) is the one multi-key step: the account hash
 * and the reset flow (an ephemeral key tagged `{a:<id>}`) share the account's slot, and one
 * script consumes the flow and compare-and-sets the record. It writes a password, never the
 * login or the emails, so it has no index step.
 *
 * A password change acknowledged to the user must survive a primary failover: the reset
 * commit, and a `replace` asked to be `durable`, then send WAIT to the primary that took the
 * write (on the same connection: WAIT counts that connection's writes) until
 * `replicasToWait` replicas (at most as many as are connected) confirm it. When they do not
 * within `replicaWaitMs`, or the primary cannot be asked, the write still stands (it is done;
 * answering "failed" would be false, and a retry could not undo it): the call succeeds and
 * `onUnconfirmed` hears of it (services log a `replica_wait_timeout` warning).
 */
import calculateSlot from 'cluster-key-slot';
import { Cluster, Command, type Redis } from 'ioredis';
import { Conflict } from '../../../src/errors.ts';
import { faultPoint } from '../../../src/domain/fault-points.ts';
import type { AccountRecord, AccountRepo, Clock } from '../../../src/store/types.ts';
import type { Conn } from './connection.ts';
import { keys } from './keys.ts';
import { runScript } from './scripts.ts';

/** How long a claim protects its owner's index entries from being taken over as leftovers. */
export const CLAIM_GRACE_MS = 30_000;
const MAX_CLAIM_ATTEMPTS = 5;

/** How long the reset commit waits for a replica to acknowledge it (WAIT), by default. */
export const DEFAULT_REPLICA_WAIT_MS = 2000;

export interface RedisAccountsOptions {
  /** WAIT timeout of a password change on a primary with replicas; default 2000 ms. */
  replicaWaitMs?: number;
  /** How many replicas a password change waits for (at most those connected); default 1, 0 never waits. */
  replicasToWait?: number;
  /** A password change stands but its replicas did not confirm it in time. Never throws. */
  onUnconfirmed?: (info: UnconfirmedWrite) => void;
}

export interface UnconfirmedWrite {
  accountId: string;
  /** Replicas asked for, and how many confirmed (0 when the primary could not be asked). */
  wanted: number;
  confirmed: number;
  waitedMs: number;
  reason: 'timeout' | 'no_primary' | 'error';
}

type Field = 'login' | 'email';

function taken(field: Field | 'id'): Error {
  return new Conflict(`${field === 'id' ? 'account id' : field} is taken`, { field });
}

/** What one claim newly wrote (so a failed write can give back exactly that). */
interface Claimed {
  login?: string;
  emails: string[];
}

function listsValue(record: AccountRecord, field: Field, value: string): boolean {
  return field === 'login' ? record.login === value : record.emails.some((e) => e.address === value);
}

function uniqueEmails(account: AccountRecord): string[] {
  return [...new Set(account.emails.map((e) => e.address))];
}

export function redisAccounts(conn: Conn, clock: Clock, options: RedisAccountsOptions = {}): AccountRepo {
  const { client, run } = conn;
  const indexKeys = [keys.loginIndex, keys.emailIndex, keys.byLogin, keys.claims];
  const replicaWaitMs = options.replicaWaitMs ?? DEFAULT_REPLICA_WAIT_MS;
  const replicasToWait = options.replicasToWait ?? 1;
  // ioredis adds the prefix to KEYS before Redis hashes them: the slot is the prefixed key's.
  const keyPrefix = client.options.keyPrefix ?? '';

  async function read(id: string): Promise<AccountRecord | undefined> {
    const [doc, version] = await client.hmget(keys.account(id), 'doc', 'version');
    if (doc == null || version == null) return undefined;
    // The field is authoritative: it is what the compare-and-set checks.
    return { ...(JSON.parse(doc) as AccountRecord), version: Number(version) };
  }

  async function viaIndex(index: string, field: Field, value: string): Promise<AccountRecord | undefined> {
    const id = await client.hget(index, value);
    if (id === null) return undefined;
    const record = await read(id);
    // An entry the record does not list is an in-flight claim or a crash leftover.
    return record !== undefined && listsValue(record, field, value) ? record : undefined;
  }

  /** Step 1: claims everything `account` lists; throws Conflict when another account holds some. */
  async function claim(account: AccountRecord): Promise<Claimed> {
    const emails = uniqueEmails(account);
    for (let attempt = 1; ; attempt++) {
      const reply = await runScript<string[]>(client, 'rekeyClaim', indexKeys, [
        account.id,
        String(clock()),
        account.login,
        ...emails,
      ]);
      if (reply[0] === 'ok') {
        return { ...(reply[1] === '1' ? { login: account.login } : {}), emails: reply.slice(2) };
      }
      const [, field, value, owner] = reply as [string, Field, string, string];
      if (attempt >= MAX_CLAIM_ATTEMPTS) throw taken(field);
      const ownerRecord = await read(owner);
      if (ownerRecord !== undefined && listsValue(ownerRecord, field, value)) throw taken(field);
      // Looks like a leftover; the script frees it only if its owner is not mid-write.
      const freed = await runScript<number>(
        client,
        'rekeyTakeOver',
        [field === 'login' ? keys.loginIndex : keys.emailIndex, keys.byLogin, keys.claims],
        [value, owner, String(clock()), CLAIM_GRACE_MS, field === 'login' ? '1' : '0'],
      );
      if (freed === -1) throw taken(field);
    }
  }

  async function release(id: string, login: string | undefined, emails: string[]): Promise<void> {
    if (login === undefined && emails.length === 0) return;
    await runScript(client, 'rekeyRelease', [keys.loginIndex, keys.emailIndex, keys.byLogin], [id, login ?? '', ...emails]);
  }

  /**
   * After a failed step 2: gives back what this call claimed, except what the record now
   * stored under the id lists (a concurrent writer of the same id may rely on it). Best
   * effort: what is left behind is a leftover that reads ignore and claims take over.
   */
  async function giveBack(id: string, claimed: Claimed): Promise<void> {
    try {
      const current = await read(id);
      const login = claimed.login !== undefined && current?.login !== claimed.login ? claimed.login : undefined;
      const emails = claimed.emails.filter((e) => current === undefined || !listsValue(current, 'email', e));
      await release(id, login, emails);
    } catch {
      // See above.
    }
  }

  /** The connection to the primary serving `slot`: the one that ran the commit's script. */
  function primaryOf(slot: number): Redis | undefined {
    if (!(client instanceof Cluster)) return client;
    const owner = client.slots[slot]?.[0];
    return client.nodes('master').find((node) => `${node.options.host}:${node.options.port}` === owner);
  }

  /**
   * Waits until replicas of the primary that took the write of `accountId` have it, when that
   * primary has replicas (see the top of this file). Never throws: the write is done.
   */
  async function confirmOnReplicas(slot: number, accountId: string, replication?: Promise<string>): Promise<void> {
    if (replicasToWait === 0) return;
    const started = Date.now();
    const unconfirmed = (reason: UnconfirmedWrite['reason'], wanted: number, confirmed = 0): void => {
      try {
        options.onUnconfirmed?.({ accountId, wanted, confirmed, waitedMs: Date.now() - started, reason });
      } catch {
        // A listener's failure is not the write's.
      }
    };
    const primary = primaryOf(slot);
    // The slot map is being refreshed (a failover): there is no primary to ask right now.
    if (primary === undefined) return unconfirmed('no_primary', replicasToWait);
    try {
      const info = await (replication ?? primary.info('replication'));
      const wanted = Math.min(replicasToWait, Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0));
      if (wanted === 0) return;
      // WAIT's own timeout decides; the command timeout of the connection must not cut it short.
      const wait = new Command('wait', [String(wanted), String(replicaWaitMs)], { replyEncoding: 'utf8' });
      wait.setTimeout(replicaWaitMs + 1000);
      const confirmed = Number(await primary.sendCommand(wait));
      if (confirmed < wanted) unconfirmed('timeout', wanted, confirmed);
    } catch {
      unconfirmed('error', replicasToWait);
    }
  }

  /** The slot of the account's keys (the prefix included: ioredis adds it before Redis hashes). */
  const slotOf = (accountId: string): number => calculateSlot(`${keyPrefix}${keys.account(accountId)}`);

  return {
    async create(account) {
      await run(async () => {
        if ((await client.exists(keys.account(account.id))) === 1) throw taken('id');
        const claimed = await claim(account);
        const written = await runScript<number>(
          client,
          'rekeyAccountCreate',
          [keys.account(account.id)],
          [JSON.stringify(account), String(account.version), String(account.notBefore)],
        );
        if (written !== 1) {
          await giveBack(account.id, claimed);
          throw taken('id');
        }
      });
    },

    async get(id) {
      return run(() => read(id));
    },

    async findByLogin(login) {
      return run(() => viaIndex(keys.loginIndex, 'login', login));
    },

    async findByEmail(email) {
      return run(() => viaIndex(keys.emailIndex, 'email', email));
    },

    async replace(next, options) {
      const written = await run(async () => {
        // Most writes change nothing the indexes hold: one script checks that and writes.
        // The next version, guarded by the one it replaces: both scripts take these first.
        const versioned = [String(next.version), JSON.stringify({ ...next, version: next.version + 1 }), String(next.version + 1), String(next.notBefore)];
        const fast = await runScript<number>(client, 'rekeyAccountReplaceSame', [keys.account(next.id)], [
          ...versioned,
          next.login,
          JSON.stringify(next.emails.map((e) => e.address)),
        ]);
        if (fast !== -1) return fast === 1;
        // Stale first: a writer that lost the race re-reads and retries, and may then find no clash.
        const current = await read(next.id);
        if (current === undefined || current.version !== next.version) return false;
        const held = new Set(uniqueEmails(current));
        // Nothing new to hold (the common case: a password change, a notBefore bump): the
        // entries of what the current version lists are this account's already.
        const claimed =
          next.login === current.login && uniqueEmails(next).every((e) => held.has(e))
            ? { emails: [] }
            : await claim(next);
        const written = await runScript<number>(client, 'rekeyAccountReplace', [keys.account(next.id)], versioned);
        if (written !== 1) {
          await giveBack(next.id, claimed);
          return false;
        }
        const kept = new Set(uniqueEmails(next));
        try {
          await release(
            next.id,
            current.login !== next.login ? current.login : undefined,
            uniqueEmails(current).filter((e) => !kept.has(e)),
          );
        } catch {
          // The write is done; entries left behind are leftovers that reads ignore and
          // claims take over.
        }
        return true;
      });
      // Outside the operation's deadline: WAIT may take up to replicaWaitMs on its own.
      if (written && options?.durable) await confirmOnReplicas(slotOf(next.id), next.id);
      return written;
    },

    async commitWithConsume(next, consumeKey) {
      const accountKey = keys.account(next.id);
      const flowKey = keys.ephemeral(consumeKey);
      const slot = slotOf(next.id);
      let replication: Promise<string> | undefined;
      // Checked here, on standalone Redis too, so what works there works on a cluster.
      if (calculateSlot(`${keyPrefix}${flowKey}`) !== slot) {
        throw new Error(`commitWithConsume: key ${consumeKey} is not on the slot of account ${next.id} (tag it {a:${next.id}})`);
      }
      // Asked of the primary right behind the script, on the same connection (one round trip
      // for both): whether it has replicas to WAIT for.
      const primary = replicasToWait === 0 ? undefined : primaryOf(slot);
      const outcome = await run(async () => {
        const script = runScript<'ok' | 'consumed' | 'conflict' | 'refused'>(
          client,
          'rekeyAccountCommitConsume',
          [accountKey, flowKey],
          [
            String(clock()),
            String(next.version),
            JSON.stringify({ ...next, version: next.version + 1 }),
            String(next.version + 1),
            String(next.notBefore),
            next.login,
            JSON.stringify(next.emails.map((e) => e.address)),
          ],
        );
        replication = primary?.info('replication');
        replication?.catch(() => undefined);
        return script;
      });
      if (outcome === 'refused') throw new Error('commitWithConsume cannot change login or emails');
      if (outcome === 'ok') {
        faultPoint('reset.commit.before_wait');
        // Outside the operation's deadline: WAIT may take up to replicaWaitMs on its own.
        await confirmOnReplicas(slot, next.id, replication);
      }
      return outcome;
    },

    async notBefore(id) {
      return run(async () => {
        const value = await client.hget(keys.account(id), 'notBefore');
        return value === null ? undefined : Number(value);
      });
    },

    async list({ offset, limit }) {
      if (limit <= 0) return [];
      return run(async () => {
        const start = Math.max(0, offset);
        const logins = await client.zrange(keys.byLogin, start, start + limit - 1);
        if (logins.length === 0) return [];
        const ids = await client.hmget(keys.loginIndex, ...logins);
        const records = await Promise.all(ids.map((id) => (id === null ? undefined : read(id))));
        // In-flight claims and leftovers have no matching record: a page may come out short.
        return records.filter((r, i): r is AccountRecord => r !== undefined && r.login === logins[i]);
      });
    },

    async count() {
      return run(() => client.zcard(keys.byLogin));
    },
  };
}

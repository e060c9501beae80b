/**
 * The Redis key layout. Every key below is relative: ioredis adds the configured
 * `keyPrefix` (REDIS_KEY_PREFIX) to every key it sends, including the KEYS of a Lua script,
 * but not to keys a script would build itself — so no script ever builds a key: every key
 * a script touches is passed as KEYS, built here.
 *
 * Hash tags (`{...}`) decide the Redis Cluster slot; the prefix has no braces, so the tag in
 * the key is the first one and the prefix never changes grouping.
 *
 * | key | type | what |
 * | --- | --- | --- |
 * | `{a:<accountId>}:account` | hash `doc` (JSON), `version`, `notBefore` | the account record |
 * | `{a:<accountId>}:oidc` | set of oidc record keys | what `revokeByAccount` deletes |
 * | `{idx}:login` | hash login → accountId | unique login index |
 * | `{idx}:email` | hash address → accountId | unique email index |
 * | `{idx}:by-login` | sorted set, score 0, member login | `list` (ordered) and `count` |
 * | `{idx}:claims` | hash accountId → ms of its last index claim | tells an in-flight claim from a crash leftover |
 * | `e:<key>` | string JSON `{"e":expiresAt,"v":value}` | ephemeral record (caller key kept as given) |
 * | `c:<key>` | hash `n` (count), `r` (resetAt) | counter (caller key kept as given) |
 * | `o:<model>:{<id>}` | hash `p` payload, `c` createdAt, `e` expiresAt, `x` consumed, `a`/`g`/`u`/`uc` indexes | oidc-provider record |
 * | `oidc-uid:<model>:{<uid>}` | string → oidc record key | `findByUid` |
 * | `oidc-usercode:<model>:{<code>}` | string → oidc record key | `findByUserCode` |
 * | `{g:<grantId>}:oidc` | set of oidc record keys | what `revokeByGrantId` deletes |
 * | `log:{<stream>}:entries` | sorted set, score `at`, member `<seq 16 digits>\|<retainUntil>\|<entry JSON>` | log stream |
 * | `log:{<stream>}:seq` | string counter | the stream's sequence numbers |
 *
 * Every key of one account carries the tag `{a:<accountId>}`: its record, its oidc set and
 * any ephemeral key or counter a caller tags with it (e.g. a reset flow
 * `ephemeralKey('reset:{a:<id>}:<flow>')`), so a multi-key step on an account (the
 * password-reset commit: account + flow) runs as one Lua script on one slot. The unique
 * indexes live together under `{idx}`, one slot, so claiming a login and all emails is one
 * atomic script; record and index are in different slots and are written in a fixed order
 * (claim index → write record → release old entries), see accounts.ts.
 *
 * Ephemeral and counter keys get a short namespace (`e:` / `c:`) in front of the caller's
 * key, so the two stores (and the layout above) can never collide on one name; the caller's
 * own `{...}` tag stays the key's tag.
 */

/** The hash tag every key of one account carries. */
export function accountTag(accountId: string): string {
  return `{a:${accountId}}`;
}

export const keys = {
  account: (accountId: string): string => `${accountTag(accountId)}:account`,
  accountOidc: (accountId: string): string => `${accountTag(accountId)}:oidc`,

  loginIndex: '{idx}:login',
  emailIndex: '{idx}:email',
  byLogin: '{idx}:by-login',
  claims: '{idx}:claims',

  ephemeral: (key: string): string => `e:${key}`,
  counter: (key: string): string => `c:${key}`,

  oidc: (model: string, id: string): string => `o:${model}:{${id}}`,
  oidcUid: (model: string, uid: string): string => `oidc-uid:${model}:{${uid}}`,
  oidcUserCode: (model: string, userCode: string): string => `oidc-usercode:${model}:{${userCode}}`,
  grantOidc: (grantId: string): string => `{g:${grantId}}:oidc`,

  logEntries: (stream: string): string => `log:{${stream}}:entries`,
  logSeq: (stream: string): string => `log:{${stream}}:seq`,
} as const;

/** Ephemeral key of a caller key: exported so a later multi-key script can pass it as KEYS. */
export const ephemeralKey = keys.ephemeral;

/** The oidc record keys of one model start with this (set members are filtered by it). */
export function oidcModelPrefix(model: string): string {
  return `o:${model}:{`;
}

/**
 * Redis TTLs only collect garbage: expiry is decided against stored times and the injected
 * clock. The grace keeps a record readable a little past its end so that a clock slightly
 * ahead of Redis never loses live data.
 */
export const TTL_GRACE_MS = 60_000;

/** The longest garbage-collection TTL (100 years): keeps PEXPIRE arguments plain integers. */
export const MAX_TTL_MS = 100 * 365 * 24 * 3600 * 1000;

/** TTL (ms, 1 … MAX_TTL_MS) for something that ends at `endsAt` by the injected clock `now`. */
export function gcTtl(endsAt: number, now: number): number {
  const ttl = Math.ceil(endsAt - now + TTL_GRACE_MS);
  return Number.isFinite(ttl) ? Math.min(Math.max(1, ttl), MAX_TTL_MS) : MAX_TTL_MS;
}

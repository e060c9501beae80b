/**
 * The Lua scripts of the Redis store. Each one touches only the keys passed as KEYS (all in
 * one cluster slot, see keys.ts) and never builds a key itself: ioredis prefixes KEYS with
 * REDIS_KEY_PREFIX, but not keys a script would build.
 *
 * Times come in ARGV from the injected clock (never Redis TIME); numbers that are stored are
 * passed as strings formatted by JavaScript, because Lua prints large numbers in exponent form.
 */
import type { Cluster, Redis } from 'ioredis';

export type RedisClient = Redis | Cluster;

interface ScriptDef {
  numberOfKeys: number;
  lua: string;
}

/**
 * The write of an oidc-provider record to hash `k`, shared by the plain and the indexed upsert:
 * keep the first createdAt while the record lives, replace the payload, expiry and indexed
 * fields, set the TTL (ARGV[4]), return createdAt.
 */
const OIDC_RECORD_WRITE = `local c = ARGV[3]
local old = redis.call('HMGET', k, 'c', 'e')
if old[1] and old[2] and tonumber(old[2]) > tonumber(ARGV[3]) then c = old[1] end
redis.call('DEL', k)
redis.call('HSET', k, 'p', ARGV[1], 'c', c, 'e', ARGV[2])
local names = {'a', 'g', 'u', 'uc'}
for i = 1, 4 do
  if ARGV[4 + i] ~= '' then redis.call('HSET', k, names[i], ARGV[4 + i]) end
end
redis.call('PEXPIRE', k, ARGV[4])
return c`;

/**
 * Sets `same` to whether the account record `stored` (HMGET version, doc) at the expected
 * version ARGV[v] lists login ARGV[l] and the addresses in the JSON array ARGV[l + 1], in order
 * (what the `{idx}` slot indexes); true when the version differs (the caller then finds a
 * conflict).
 */
const SAME_INDEXED = (v: number, l: number): string => `local same = true
if stored[1] and tonumber(stored[1]) == tonumber(ARGV[${v}]) and stored[2] then
  local okDoc, doc = pcall(cjson.decode, stored[2])
  local emails = cjson.decode(ARGV[${l + 1}])
  same = okDoc and type(doc) == 'table' and doc.login == ARGV[${l}] and type(doc.emails) == 'table' and #doc.emails == #emails
  if same then
    for i = 1, #emails do
      if type(doc.emails[i]) ~= 'table' or doc.emails[i].address ~= emails[i] then same = false end
    end
  end
end`;

export const scripts = {
  /**
   * Claims a login and emails for one account, all or nothing.
   * KEYS: login index, email index, by-login set, claims. ARGV: id, now, login ('' for none), emails...
   * Returns {'ok', loginClaimed '1'|'0', newly claimed emails...} or {'conflict', field, value, owner}.
   */
  rekeyClaim: {
    numberOfKeys: 4,
    lua: `
local id, now, login = ARGV[1], ARGV[2], ARGV[3]
if login ~= '' then
  local owner = redis.call('HGET', KEYS[1], login)
  if owner and owner ~= id then return {'conflict', 'login', login, owner} end
end
for i = 4, #ARGV do
  local owner = redis.call('HGET', KEYS[2], ARGV[i])
  if owner and owner ~= id then return {'conflict', 'email', ARGV[i], owner} end
end
local out = {'ok', '0'}
if login ~= '' and not redis.call('HGET', KEYS[1], login) then
  redis.call('HSET', KEYS[1], login, id)
  redis.call('ZADD', KEYS[3], 0, login)
  out[2] = '1'
end
for i = 4, #ARGV do
  if not redis.call('HGET', KEYS[2], ARGV[i]) then
    redis.call('HSET', KEYS[2], ARGV[i], id)
    out[#out + 1] = ARGV[i]
  end
end
redis.call('HSET', KEYS[4], id, now)
return out`,
  },

  /**
   * Frees an index entry left behind by a crash, if it still points to the same owner and
   * that owner made no claim within the grace period (an in-flight create or replace).
   * KEYS: index, by-login set, claims. ARGV: value, owner, now, grace, isLogin '1'|'0'.
   * Returns 1 freed, 0 changed meanwhile (claim again), -1 still in flight.
   */
  rekeyTakeOver: {
    numberOfKeys: 3,
    lua: `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
local at = tonumber(redis.call('HGET', KEYS[3], ARGV[2]))
if at and at + tonumber(ARGV[4]) > tonumber(ARGV[3]) then return -1 end
redis.call('HDEL', KEYS[1], ARGV[1])
if ARGV[5] == '1' then redis.call('ZREM', KEYS[2], ARGV[1]) end
return 1`,
  },

  /**
   * Releases index entries that still point to the account.
   * KEYS: login index, email index, by-login set. ARGV: id, login ('' for none), emails...
   */
  rekeyRelease: {
    numberOfKeys: 3,
    lua: `
local id, login = ARGV[1], ARGV[2]
if login ~= '' and redis.call('HGET', KEYS[1], login) == id then
  redis.call('HDEL', KEYS[1], login)
  redis.call('ZREM', KEYS[3], login)
end
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == id then redis.call('HDEL', KEYS[2], ARGV[i]) end
end
return 1`,
  },

  /** KEYS: account. ARGV: doc, version, notBefore. Returns 1, or 0 when the id exists. */
  rekeyAccountCreate: {
    numberOfKeys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'version', ARGV[2], 'notBefore', ARGV[3])
return 1`,
  },

  /**
   * Compare-and-set on the version.
   * KEYS: account. ARGV: expected version, doc, next version, notBefore. Returns 1 or 0.
   */
  rekeyAccountReplace: {
    numberOfKeys: 1,
    lua: `
local v = redis.call('HGET', KEYS[1], 'version')
if not v or tonumber(v) ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'version', ARGV[3], 'notBefore', ARGV[4])
return 1`,
  },

  /**
   * rekeyAccountReplace when the write changes nothing the indexes hold (the common case: a
   * method's use, a password): one script instead of a read and a script.
   * KEYS: account. ARGV: expected version, doc, next version, notBefore, login, email addresses
   * (JSON array). Returns 1 written, 0 stale version, -1 the stored record at that version has
   * another login or other addresses (nothing written: the caller takes the indexed path).
   */
  rekeyAccountReplaceSame: {
    numberOfKeys: 1,
    lua: `
local stored = redis.call('HMGET', KEYS[1], 'version', 'doc')
if not stored[1] or tonumber(stored[1]) ~= tonumber(ARGV[1]) then return 0 end
${SAME_INDEXED(1, 5)}
if not same then return -1 end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'version', ARGV[3], 'notBefore', ARGV[4])
return 1`,
  },

  /**
   * The password-reset commit: consumes the live flow and compare-and-sets the account, both
   * or neither. The flow is the ephemeral store's `{"e":expiresAt,"v":value}`; decoding yields
   * `e` as the same double JavaScript wrote (integers up to 2^53 are exact), compared against
   * `now` from the injected clock.
   * KEYS: account, ephemeral (one slot). ARGV: now, expected version, doc, next version, notBefore,
   * login, email addresses (JSON array) of the next record.
   * Returns 'refused' when the record at the expected version has another login or other
   * addresses (the commit cannot reach the index slot; nothing written); else 'ok'; 'consumed'
   * when the flow is missing or over (nothing written, an expired record is left to its TTL);
   * 'conflict' when the version moved (the flow stays).
   */
  rekeyAccountCommitConsume: {
    numberOfKeys: 2,
    lua: `
local stored = redis.call('HMGET', KEYS[1], 'version', 'doc')
local v = stored[1]
${SAME_INDEXED(2, 6)}
if not same then return 'refused' end
local raw = redis.call('GET', KEYS[2])
if not raw then return 'consumed' end
local decoded, flow = pcall(cjson.decode, raw)
if not decoded or type(flow) ~= 'table' or type(flow.e) ~= 'number' or flow.e <= tonumber(ARGV[1]) then
  return 'consumed'
end
if not v or tonumber(v) ~= tonumber(ARGV[2]) then return 'conflict' end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'doc', ARGV[3], 'version', ARGV[4], 'notBefore', ARGV[5])
return 'ok'`,
  },

  /**
   * Takes a lease (an ephemeral record whose value is its owner) when no live one is there.
   * KEYS: ephemeral key. ARGV: now, encoded record, ttl. Returns 1 when taken, 0 when held.
   */
  rekeyLeaseAcquire: {
    numberOfKeys: 1,
    lua: `
local raw = redis.call('GET', KEYS[1])
if raw then
  local decoded, held = pcall(cjson.decode, raw)
  if decoded and type(held) == 'table' and type(held.e) == 'number' and held.e > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`,
  },

  /**
   * rekeyLeaseAcquire, then reads a record of the same slot.
   * KEYS: lease key, record key. ARGV: now, encoded lease record, ttl.
   * Returns {1 taken | 0 held, the record's raw value or false}.
   */
  rekeyLeaseAcquireGet: {
    numberOfKeys: 2,
    lua: `
local taken = 1
local raw = redis.call('GET', KEYS[1])
if raw then
  local decoded, held = pcall(cjson.decode, raw)
  if decoded and type(held) == 'table' and type(held.e) == 'number' and held.e > tonumber(ARGV[1]) then taken = 0 end
end
if taken == 1 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return {taken, redis.call('GET', KEYS[2])}`,
  },

  /**
   * Writes a record (as SET PX), then releases a lease of the same slot its owner still holds
   * (as rekeyLeaseKeep without a record). KEYS: record key, lease key. ARGV: encoded record,
   * ttl, owner. Returns 1 when the lease was released, 0 otherwise.
   */
  rekeyPutReleaseLease: {
    numberOfKeys: 2,
    lua: `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local raw = redis.call('GET', KEYS[2])
if not raw then return 0 end
local decoded, held = pcall(cjson.decode, raw)
if not decoded or type(held) ~= 'table' or held.v ~= ARGV[3] then return 0 end
redis.call('DEL', KEYS[2])
return 1`,
  },

  /**
   * Renews (ARGV[3] set: encoded record, ARGV[4] ttl) or releases (no ARGV[3]) a lease its
   * owner still holds. KEYS: ephemeral key. ARGV: now, owner. Returns 1 when done, 0 otherwise.
   */
  rekeyLeaseKeep: {
    numberOfKeys: 1,
    lua: `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local decoded, held = pcall(cjson.decode, raw)
if not decoded or type(held) ~= 'table' or held.v ~= ARGV[2] then return 0 end
if ARGV[3] then
  if type(held.e) ~= 'number' or held.e <= tonumber(ARGV[1]) then return 0 end
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
  redis.call('DEL', KEYS[1])
end
return 1`,
  },

  /**
   * Fixed-window counter. KEYS: counter. ARGV: now, resetAt of a new window, by, ttl grace, max ttl.
   * Returns {count, resetAt} as strings.
   */
  rekeyCounterHit: {
    numberOfKeys: 1,
    lua: `
local now = tonumber(ARGV[1])
local r = redis.call('HGET', KEYS[1], 'r')
local n
if not r or tonumber(r) <= now then
  r = ARGV[2]
  n = ARGV[3]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'n', n, 'r', r)
else
  n = redis.call('HINCRBYFLOAT', KEYS[1], 'n', ARGV[3])
end
redis.call('PEXPIRE', KEYS[1], math.min(math.max(1, math.ceil(tonumber(r) - now + tonumber(ARGV[4]))), tonumber(ARGV[5])))
return {tostring(n), r}`,
  },

  /**
   * Writes an oidc record; keeps its createdAt when the stored one is still live.
   * KEYS: record. ARGV: payload, expiresAt, now, ttl, accountId, grantId, uid, userCode ('' for none).
   * Returns createdAt.
   */
  rekeyOidcUpsert: {
    numberOfKeys: 1,
    lua: `
local k = KEYS[1]
${OIDC_RECORD_WRITE}`,
  },

  /**
   * A single Redis only (not a cluster, where the indexes live on other slots): the record and
   * its indexes in one script, one round trip instead of up to five. The same writes as
   * rekeySetAdd / SET PX for each index, then rekeyOidcUpsert.
   * KEYS: record, account set, grant set, uid pointer, user-code pointer (an index the record
   * has not is passed as the record's key again and left alone). ARGV: payload, expiresAt, now,
   * ttl, accountId, grantId, uid, userCode ('' for none), the record's key as the indexes hold it.
   * Returns createdAt.
   */
  rekeyOidcUpsertIndexed: {
    numberOfKeys: 5,
    lua: `
local k = KEYS[1]
local ttl = ARGV[4]
local member = ARGV[9]
for i = 2, 3 do
  if ARGV[3 + i] ~= '' then
    redis.call('SADD', KEYS[i], member)
    if redis.call('PTTL', KEYS[i]) < tonumber(ttl) then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
for i = 4, 5 do
  if ARGV[3 + i] ~= '' then redis.call('SET', KEYS[i], member, 'PX', ttl) end
end
${OIDC_RECORD_WRITE}`,
  },

  /** KEYS: record. ARGV: now, consumed (epoch s). Marks a live record consumed; returns 1 or 0. */
  rekeyOidcConsume: {
    numberOfKeys: 1,
    lua: `
local e = redis.call('HGET', KEYS[1], 'e')
if not e or tonumber(e) <= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'x', ARGV[2])
return 1`,
  },

  /** KEYS: record. Deletes it and returns its index fields {a, g, u, uc} (nil when unset). */
  rekeyOidcDestroy: {
    numberOfKeys: 1,
    lua: `
local v = redis.call('HMGET', KEYS[1], 'a', 'g', 'u', 'uc')
redis.call('DEL', KEYS[1])
return v`,
  },

  /**
   * Deletes a record if its index field still holds the value (it may have been rewritten for
   * another grant/account since it was indexed). KEYS: record. ARGV: field, value.
   * Returns its expiresAt, or nil when nothing was deleted.
   */
  rekeyOidcRevoke: {
    numberOfKeys: 1,
    lua: `
local v = redis.call('HMGET', KEYS[1], ARGV[1], 'e')
if v[1] ~= ARGV[2] then return false end
redis.call('DEL', KEYS[1])
return v[2]`,
  },

  /** KEYS: set. ARGV: member, ttl. Adds and extends the set's TTL to at least ttl. */
  rekeySetAdd: {
    numberOfKeys: 1,
    lua: `
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`,
  },

  /** KEYS: key. ARGV: value. Deletes the string key only if it still holds the value. */
  rekeyDeleteIf: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  },

  /**
   * Appends to a log stream and prunes a few of its oldest expired entries.
   * KEYS: entries, seq. ARGV: at, retainUntil, entry JSON, now, ttl. Returns seq.
   */
  rekeyLogAppend: {
    numberOfKeys: 2,
    lua: `
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], ARGV[1], string.format('%016d', seq) .. '|' .. ARGV[2] .. '|' .. ARGV[3])
local now = tonumber(ARGV[4])
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, 15)) do
  local r = tonumber(string.match(m, '^%d+|([^|]*)|'))
  if r and r <= now then redis.call('ZREM', KEYS[1], m) end
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return seq`,
  },

  /**
   * Newest entries (by at, then seq) with since <= at <= max whose retention is not over;
   * expired ones met on the way are removed. A page cursor skips the entries with at = cursor
   * at and seq >= cursor seq (they came on earlier pages). KEYS: entries. ARGV: now, since
   * ('-inf' for none), max ('+inf', '(<until>' or the cursor's at), limit, cursor at and seq
   * ('' for none).
   */
  rekeyLogList: {
    numberOfKeys: 1,
    lua: `
local k, now, since, max, limit = KEYS[1], tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
local skipAt, skipSeq = tonumber(ARGV[5]), tonumber(ARGV[6])
local out, dead = {}, {}
local batch = math.max(limit, 100)
local offset = 0
while #out < limit do
  local ms = redis.call('ZREVRANGEBYSCORE', k, max, since, 'WITHSCORES', 'LIMIT', offset, batch)
  for i = 1, #ms, 2 do
    local m = ms[i]
    local seq, r = string.match(m, '^(%d+)|([^|]*)|')
    r = tonumber(r)
    if r and r <= now then
      dead[#dead + 1] = m
    elseif skipAt and tonumber(ms[i + 1]) == skipAt and tonumber(seq) >= skipSeq then
      -- on an earlier page
    elseif #out < limit then
      out[#out + 1] = m
    end
  end
  if #ms < batch * 2 then break end
  offset = offset + batch
end
for i = 1, #dead, 500 do
  redis.call('ZREM', k, unpack(dead, i, math.min(i + 499, #dead)))
end
return out`,
  },
} satisfies Record<string, ScriptDef>;

export type ScriptName = keyof typeof scripts;

/** Registers every script on the client (EVALSHA, falling back to EVAL after a restart). */
export function defineScripts(client: RedisClient): void {
  for (const [name, def] of Object.entries(scripts)) client.defineCommand(name, def);
}

/** Runs a script defined by `defineScripts`; ioredis prefixes the KEYS. */
export function runScript<T>(
  client: RedisClient,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<T> {
  const fn = (client as unknown as Record<string, (...a: (string | number)[]) => Promise<T>>)[name];
  if (fn === undefined) throw new Error(`Redis script ${name} is not defined`);
  return fn.call(client, ...keys, ...args);
}

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../../adapters/store/sqlite/index.ts';
import { migrations } from '../../adapters/store/sqlite/migrations.ts';
import { ConfigError, StoreUnavailable } from '../../src/errors.ts';
import type { AccountRecord, Clock, Store } from '../../src/store/types.ts';
import { storeContract } from './store.contract.ts';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'rekey-sqlite-'));
}

storeContract('sqlite', async (clock) => {
  const dir = tempDir();
  // A folder that does not exist yet: opening must create it.
  const store = openSqliteStore({ file: join(dir, 'data', 'rekey.db'), clock });
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('sqlite store: one file, several processes', () => {
  let now = Date.UTC(2026, 0, 1);
  const clock: Clock = () => now;
  let dir: string;
  let file: string;
  const opened: Store[] = [];

  function open(): Store {
    const store = openSqliteStore({ file, clock });
    opened.push(store);
    return store;
  }

  /** A plain connection, to look at what the store wrote without going through it. */
  function inspect<T>(fn: (db: Database.Database) => T): T {
    const db = new Database(file, { readonly: true });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  }

  beforeEach(() => {
    now = Date.UTC(2026, 0, 1);
    dir = tempDir();
    file = join(dir, 'rekey.db');
  });

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const alice: AccountRecord = {
    id: 'acc-alice',
    login: 'alice',
    emails: [{ address: 'alice@example.org', verified: true }],
    name: 'Alice',
    groups: [],
    admin: false,
    status: 'active',
    passwordHistory: [],
    mustChangePassword: false,
    notBefore: 0,
    methods: [],
    createdAt: 0,
    updatedAt: 0,
    version: 0,
  };

  it('lets a server and a CLI instance see each other’s writes', async () => {
    const server = open();
    const cli = open();

    await cli.accounts.create(alice);
    assert.deepEqual(await server.accounts.findByEmail('alice@example.org'), alice);

    assert.equal(await server.accounts.replace({ ...alice, status: 'disabled' }), true);
    assert.equal((await cli.accounts.get(alice.id))?.status, 'disabled');
    // The CLI's copy is now stale: optimistic concurrency holds across connections.
    assert.equal(await cli.accounts.replace({ ...alice, admin: true }), false);

    await server.ephemeral.put('flow:{x}', { step: 1 }, now + 60_000);
    assert.deepEqual(await cli.ephemeral.consume('flow:{x}'), { step: 1 });
    assert.equal(await server.ephemeral.consume('flow:{x}'), undefined);

    await server.counters.hit('c', 60_000);
    assert.equal((await cli.counters.hit('c', 60_000)).count, 2);

    await server.oidc.upsert('Session', 's1', {}, now + 60_000, { accountId: alice.id });
    assert.equal(await cli.oidc.revokeByAccount(alice.id), 1);
    assert.equal(await server.oidc.find('Session', 's1'), undefined);

    await cli.logs.append('audit', { at: now, type: 'cli' }, now + 60_000);
    assert.deepEqual(
      (await server.logs.list('audit', { limit: 5 })).map((e) => e.type),
      ['cli'],
    );
  });

  it('uses WAL, so a reader and a writer on the same file do not block each other', () => {
    open();
    assert.equal(inspect((db) => db.pragma('journal_mode', { simple: true })), 'wal');
  });

  it('applies each migration once, however often the file is opened', async () => {
    const first = open();
    const second = open();
    await first.close();
    open();
    await second.ping();

    const rows = inspect((db) =>
      db.prepare<[], { id: number; name: string }>('SELECT id, name FROM schema_migrations ORDER BY id').all(),
    );
    assert.deepEqual(
      rows,
      migrations.map((m) => ({ id: m.id, name: m.name })),
    );
    assert.ok(migrations.every((m, i) => i === 0 || m.id > migrations[i - 1]!.id), 'migration ids increase');
  });

  it('refuses a database written by a newer schema', () => {
    open();
    const db = new Database(file);
    db.prepare('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)').run(9999, 'future', 0);
    db.close();

    assert.throws(() => open(), ConfigError);
  });

  it('collects expired rows on later writes, by the injected clock', async () => {
    const store = open();
    await store.ephemeral.put('old', 1, now + 1_000);
    await store.counters.hit('old', 1_000);
    await store.oidc.upsert('Session', 'old', {}, now + 1_000, {});
    await store.logs.append('audit', { at: now }, now + 1_000);

    const count = (table: string): number =>
      inspect((db) => db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${table}`).get()!.n);
    // Expired by the clock, but nothing wrote since: still on disk.
    now += 2_000;
    assert.equal(count('ephemeral'), 1);

    now += 10 * 60_000;
    await store.ephemeral.put('new', 1, now + 1_000);
    await store.counters.hit('new', 1_000);
    await store.oidc.upsert('Session', 'new', {}, now + 1_000, {});
    await store.logs.append('audit', { at: now }, now + 1_000);

    for (const table of ['ephemeral', 'counters', 'oidc', 'logs']) assert.equal(count(table), 1, table);
  });

  it('reports a writer stuck behind another process past the busy timeout as StoreUnavailable', async function () {
    this.timeout(15_000);
    const store = open();
    const other = new Database(file);
    try {
      // Another process holding the write lock for longer than the busy timeout (5 s).
      other.exec('BEGIN IMMEDIATE');
      await assert.rejects(store.counters.hit('c', 60_000), StoreUnavailable);
      // Readers are not blocked in WAL mode.
      assert.equal(await store.counters.get('c'), undefined);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    assert.equal((await store.counters.hit('c', 60_000)).count, 1);
  });

  it('reports a file that is not a database as StoreUnavailable', () => {
    writeFileSync(file, 'this is not a database, just some text that is long enough to have a header'.repeat(20));
    assert.throws(() => open(), StoreUnavailable);
  });

  it('creates the parent folder of the file', async () => {
    const nested = join(dir, 'a', 'b', 'rekey.db');
    const store = openSqliteStore({ file: nested, clock });
    opened.push(store);
    await store.ping();
    assert.ok(existsSync(nested));
  });
});

/** Wraps a store and counts every call that reaches it: the store round trips of a request. */
import type { Store } from '../../src/store/types.ts';

export interface CountingStore {
  store: Store;
  calls(): number;
  /** Names of the calls made since the last reset, e.g. `accounts.get`. */
  log: string[];
}

export function countingStore(inner: Store): CountingStore {
  const log: string[] = [];
  const wrap = <T extends object>(name: string, target: T): T =>
    new Proxy(target, {
      get(obj, prop, receiver) {
        const value = Reflect.get(obj, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          log.push(`${name}.${String(prop)}`);
          return (value as (...a: unknown[]) => unknown).apply(obj, args);
        };
      },
    });
  const store: Store = {
    backend: inner.backend,
    accounts: wrap('accounts', inner.accounts),
    ephemeral: wrap('ephemeral', inner.ephemeral),
    counters: wrap('counters', inner.counters),
    oidc: wrap('oidc', inner.oidc),
    logs: wrap('logs', inner.logs),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
  return { store, calls: () => log.length, log };
}

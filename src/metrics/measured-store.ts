/**
 * A store whose every call is timed into a histogram labelled `op` (`accounts.get`,
 * `ephemeral.put`, `oidc.find`, …). Each method's wrapper and its histogram child are made
 * once, on first use; a call then costs two clock reads and one observe.
 */
import { performance } from 'node:perf_hooks';
import type { Histogram } from 'prom-client';
import type { Store } from '../store/types.ts';

type Fn = (...args: unknown[]) => unknown;

/** Times `run` (sync or async) into `child`, failures included. */
function timed(child: Histogram.Internal<'op'>, run: Fn, self: object, args: unknown[]): unknown {
  const start = performance.now();
  let result: unknown;
  try {
    result = run.apply(self, args);
  } catch (err) {
    child.observe((performance.now() - start) / 1000);
    throw err;
  }
  if (result instanceof Promise) {
    return result.then(
      (value: unknown) => {
        child.observe((performance.now() - start) / 1000);
        return value;
      },
      (err: unknown) => {
        child.observe((performance.now() - start) / 1000);
        throw err;
      },
    );
  }
  child.observe((performance.now() - start) / 1000);
  return result;
}

function measure<T extends object>(area: string, inner: T, seconds: Histogram<'op'>): T {
  const wrappers = new Map<PropertyKey, Fn>();
  return new Proxy(inner, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function' || typeof prop === 'symbol') return value;
      let wrapper = wrappers.get(prop);
      if (!wrapper) {
        const child = seconds.labels(`${area}.${prop}`);
        const fn = value as Fn;
        wrapper = (...args: unknown[]) => timed(child, fn, target, args);
        wrappers.set(prop, wrapper);
      }
      return wrapper;
    },
  });
}

export function measuredStore(inner: Store, seconds: Histogram<'op'>): Store {
  const ping = seconds.labels('ping');
  return {
    backend: inner.backend,
    accounts: measure('accounts', inner.accounts, seconds),
    ephemeral: measure('ephemeral', inner.ephemeral, seconds),
    counters: measure('counters', inner.counters, seconds),
    oidc: measure('oidc', inner.oidc, seconds),
    logs: measure('logs', inner.logs, seconds),
    ping: () => timed(ping, inner.ping, inner, []) as Promise<void>,
    close: () => inner.close(),
  };
}

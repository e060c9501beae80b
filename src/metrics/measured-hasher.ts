/**
 * A PasswordHasher whose hash and verify calls are timed into a histogram labelled `op`
 * (`hash`, `verify`; the dummy verify for unknown users is a verify too). It delegates to the
 * original instance through its prototype, so `verifyDummy` and `needsRehash` keep working.
 */
import { performance } from 'node:perf_hooks';
import type { Histogram } from 'prom-client';
import type { PasswordHasher } from '../domain/password-hasher.ts';

export function measuredHasher(inner: PasswordHasher, seconds: Histogram<'op'>): PasswordHasher {
  const hashTimer = seconds.labels('hash');
  const verifyTimer = seconds.labels('verify');
  const measured = Object.create(inner) as PasswordHasher;
  measured.hash = async (password) => {
    const start = performance.now();
    try {
      return await inner.hash(password);
    } finally {
      hashTimer.observe((performance.now() - start) / 1000);
    }
  };
  measured.verify = async (hash, password) => {
    const start = performance.now();
    try {
      return await inner.verify(hash, password);
    } finally {
      verifyTimer.observe((performance.now() - start) / 1000);
    }
  };
  return measured;
}

/**
 * Prometheus metrics (`METRICS=on`): one registry per app instance (tests run several apps in
 * one process, so the global default registry is never used). Counters are fed by the audit
 * trail (docs/audit-events.md, see `audit-feed.ts`); argon2 and store latencies by wrappers
 * (`measured-hasher.ts`, `measured-store.ts`). Process metrics keep their standard names
 * (`process_cpu_seconds_total`, `nodejs_heap_size_used_bytes`, …) so stock dashboards work;
 * rekey's own are prefixed `rekey_`. Label values are always from bounded lists (never
 * account ids, IPs or free text): anything unknown becomes `other`.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** argon2id hashes take tens to hundreds of milliseconds at OWASP parameters. */
const ARGON2_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2];
/** Store calls: sub-millisecond on SQLite, a few milliseconds on Redis, slow when unwell. */
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export interface Metrics {
  registry: Registry;
  signins: Counter<'outcome' | 'reason'>;
  signinsCompleted: Counter<'acr'>;
  secondFactor: Counter<'method' | 'outcome'>;
  registrations: Counter<'method' | 'outcome'>;
  resetsStarted: Counter<'decoy'>;
  resetsCompleted: Counter;
  resetProofs: Counter<'method' | 'outcome' | 'reason'>;
  resetsBlocked: Counter;
  codesSent: Counter<'channel' | 'purpose'>;
  codeDeliveryFailures: Counter<'channel'>;
  throttles: Counter<'kind'>;
  lockouts: Counter<'kind'>;
  argon2Seconds: Histogram<'op'>;
  storeSeconds: Histogram<'op'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> =>
    new Counter<L>({ name, help, labelNames, registers: [registry] });
  const histogram = (name: string, help: string, buckets: number[]): Histogram<'op'> =>
    new Histogram<'op'>({ name, help, labelNames: ['op'], buckets, registers: [registry] });
  const metrics: Metrics = {
    registry,
    signins: counter('rekey_signins_total', 'Password sign-in attempts (audit signin.password) by outcome and reason.', ['outcome', 'reason']),
    signinsCompleted: counter('rekey_signins_completed_total', 'Completed sign-ins (audit signin.completed) by acr (pwd, mfa).', ['acr']),
    secondFactor: counter('rekey_second_factor_total', 'Second-factor results at sign-in by method and outcome.', ['method', 'outcome']),
    registrations: counter('rekey_method_registrations_total', 'Method registrations by method and outcome.', ['method', 'outcome']),
    resetsStarted: counter('rekey_resets_started_total', 'Password resets started; decoy="true" for unknown or unusable identifiers.', ['decoy']),
    resetsCompleted: counter('rekey_resets_completed_total', 'Password resets completed (new password committed).'),
    resetProofs: counter('rekey_reset_proofs_total', 'Proofs of a method during a reset by method, outcome and reason.', ['method', 'outcome', 'reason']),
    resetsBlocked: counter('rekey_resets_blocked_total', 'Accounts whose resets were blocked after too many failed proofs.'),
    codesSent: counter('rekey_codes_sent_total', 'Codes sent by channel and purpose (decoy flows send nothing and are not counted).', ['channel', 'purpose']),
    codeDeliveryFailures: counter('rekey_code_delivery_failures_total', 'Codes the email server or SMS gateway failed to take, by channel.', ['channel']),
    throttles: counter('rekey_throttles_total', 'Requests refused by a rate limit, by kind (code_send, signin_ip, reset_start).', ['kind']),
    lockouts: counter('rekey_lockouts_total', 'Account lockouts started, by kind (soft: timed; hard: until an admin unlocks).', ['kind']),
    argon2Seconds: histogram('rekey_argon2_duration_seconds', 'argon2id latency by op (hash, verify).', ARGON2_BUCKETS),
    storeSeconds: histogram('rekey_store_operation_duration_seconds', 'Store call latency by op (e.g. accounts.get, ephemeral.put, oidc.find).', STORE_BUCKETS),
  };
  // Series that exist from the start, so rate() sees the first event.
  for (const decoy of ['true', 'false']) metrics.resetsStarted.labels(decoy);
  metrics.signins.labels('success', 'none');
  return metrics;
}

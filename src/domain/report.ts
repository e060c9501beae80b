/**
 * The registration and usage report (`rekey report`, the admin dashboard): registration
 * coverage from the accounts as they are now, activity over the last N days from the audit
 * trail (docs/audit-events.md). The result is plain JSON, self-describing and stable: every
 * list has a row for every possible key (every method kind, every day), counts are whole
 * numbers, percentages have one decimal, times are ISO 8601 (UTC). A field that is removed or
 * changes meaning bumps `version`; new fields may appear without.
 *
 *   const report = await buildReport(services, { days: 30, now: services.clock() });
 */
import type { Services } from '../services.ts';
import type { AccountRecord } from '../store/types.ts';
import { ACR_MFA } from '../provider/acr.ts';
import type { StoredAuditEvent } from './audit.ts';
import { METHOD_KINDS, type MethodKind } from './methods/types.ts';
import type { PolicyOptions } from './policy.ts';

export const REPORT_VERSION = 1;
const DAY_MS = 24 * 3600 * 1000;
const PAGE = 500;

export interface ReasonCount {
  reason: string;
  count: number;
}

/** Refusals by a limit, by event type and reason (e.g. `signin.password` / `ip_throttled`). */
export interface ThrottleCount {
  type: string;
  reason: string;
  count: number;
}

export interface MethodCoverage {
  kind: MethodKind;
  /** Offered by policy (SSPR_METHODS). */
  enabled: boolean;
  /** Active accounts in scope with a usable method of this kind. */
  users: number;
  /** Of the accounts in scope. */
  percent: number;
}

export interface RegistrationCoverage {
  /** Every account, whatever its status. */
  users: number;
  active: number;
  disabled: number;
  /** Active accounts in SSPR scope (SSPR_SCOPE, SSPR_GROUPS). */
  inScope: number;
  /** In scope with at least the required number of usable methods (admins: 2). */
  registered: number;
  /** In scope with some usable methods, but fewer than required. */
  partial: number;
  /** In scope without any usable method. */
  none: number;
  /** Of the accounts in scope. */
  registeredPercent: number;
  partialPercent: number;
  nonePercent: number;
  /** In scope with registered methods whose re-confirmation is due (SSPR_RECONFIRM_DAYS). */
  reconfirmOverdue: number;
  /** Active accounts (in scope or not) with a method that counts as a second factor (TWO_FACTOR_METHODS). */
  secondFactorCapable: number;
  /** Of the active accounts. */
  secondFactorCapablePercent: number;
  /** One row per method kind, in the order of METHOD_KINDS. */
  byMethod: MethodCoverage[];
}

export interface ResetMethodActivity {
  kind: MethodKind;
  proofsSucceeded: number;
  proofsFailed: number;
  /** Completed resets that used this kind as one of their proofs. */
  completedResets: number;
}

export interface ResetActivity {
  /** Flows started for real accounts. */
  started: number;
  /** Flows started for unknown, disabled, out-of-scope or unregistered identifiers (decoys). */
  decoyStarts: number;
  /** Starts refused by a limit: `reset_too_many_starts` (per client IP), `reset_blocked` (account blocked). */
  startsRefused: ReasonCount[];
  completed: number;
  /** Completed of started. */
  completedPercent: number;
  proofsSucceeded: number;
  proofsFailed: number;
  /** Failed proofs of real accounts by reason (`code_wrong`, `code_expired`, `answers_wrong`, …). */
  failuresByReason: ReasonCount[];
  /** Failed proofs in decoy flows (they never succeed). */
  decoyProofsFailed: number;
  /** Resets blocked for an account (or a decoy) after too many failed proofs. */
  blocked: number;
  /** One row per method kind, in the order of METHOD_KINDS. */
  byMethod: ResetMethodActivity[];
}

export interface SigninActivity {
  /** Sign-ins that finished with tokens for the client (`signin.completed`). */
  completed: number;
  /** ... with a second factor (acr urn:rekey:acr:mfa). */
  completedWithMfa: number;
  /** ... where a remembered device stood in for the second factor. */
  rememberedDevice: number;
  /** Password step: accepted, refused (wrong, disabled, expired temporary) and blocked (locks, IP throttle). */
  password: { succeeded: number; failed: number; blocked: number };
  /** Refused and blocked passwords by reason. */
  passwordFailuresByReason: ReasonCount[];
  secondFactor: { succeeded: number; failed: number; blocked: number };
  /** Sign-ins that ended without tokens: `aborted`, `unmet_authentication_requirements`. */
  notCompleted: ReasonCount[];
}

export interface DailyFigures {
  /** UTC day, `YYYY-MM-DD`. */
  date: string;
  /** Flows started for real accounts. */
  resetsStarted: number;
  resetsCompleted: number;
  /** Completed sign-ins. */
  signinsSucceeded: number;
  /** Failed attempts: refused or blocked passwords and second factors. */
  signinsFailed: number;
}

export interface Report {
  version: typeof REPORT_VERSION;
  generatedAt: string;
  period: {
    days: number;
    /** Start of the first day (UTC midnight): the last `days` UTC days, today included. */
    since: string;
    until: string;
    auditRetentionDays: number;
    /** False when AUDIT_RETENTION_DAYS is shorter than the period: older activity is gone. */
    complete: boolean;
  };
  policy: {
    scope: PolicyOptions['scope'];
    groups: string[];
    enabledMethods: MethodKind[];
    methodsRequired: number;
    adminMethodsRequired: number;
    reconfirmDays: number;
    twoFactor: PolicyOptions['twoFactor'];
    twoFactorMethods: MethodKind[];
  };
  registration: RegistrationCoverage;
  resets: ResetActivity;
  signins: SigninActivity;
  /** Attempts refused by a limit (everything with outcome `blocked` but the lockouts and reset blocks themselves). */
  throttles: { total: number; byReason: ThrottleCount[] };
  /** Lockouts that started (`lockout.started`): soft (timed), hard (until an admin unlocks). */
  lockouts: { soft: number; hard: number; total: number; unknownIdentifiers: number };
  admin: {
    /** `rekey users reset`: emails sent with a link and code. */
    cliResetsStarted: number;
    /** `rekey users reset` refused or undelivered. */
    cliResetsFailed: number;
    /** Completed resets of admin accounts. */
    adminAccountResets: number;
  };
  /** One row per UTC day of the period, oldest first. */
  daily: DailyFigures[];
}

const percent = (part: number, whole: number): number => (whole === 0 ? 0 : Math.round((part / whole) * 1000) / 10);
const iso = (ms: number): string => new Date(ms).toISOString();
const dayOf = (ms: number): string => iso(ms).slice(0, 10);

function tally(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

function reasons(map: Map<string, number>): ReasonCount[] {
  return [...map].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
}

const isKind = (k: unknown): k is MethodKind => typeof k === 'string' && (METHOD_KINDS as readonly string[]).includes(k);

async function coverage(services: Services, now: number): Promise<RegistrationCoverage> {
  const { policy } = services;
  const c = { users: 0, active: 0, disabled: 0, inScope: 0, registered: 0, partial: 0, none: 0, reconfirmOverdue: 0, secondFactorCapable: 0 };
  const byKind = new Map<MethodKind, number>();
  const count = (a: AccountRecord): void => {
    c.users += 1;
    if (a.status !== 'active') {
      c.disabled += 1;
      return;
    }
    c.active += 1;
    if (policy.secondFactorMethods(a).length > 0) c.secondFactorCapable += 1;
    if (!policy.inScope(a)) return;
    c.inScope += 1;
    const usable = policy.usableMethods(a);
    if (usable.length >= policy.requiredMethods(a)) c.registered += 1;
    else if (usable.length > 0) c.partial += 1;
    else c.none += 1;
    if (policy.reconfirmDue(a, now)) c.reconfirmOverdue += 1;
    for (const kind of new Set(usable.map((m) => m.kind))) byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
  };
  for (let offset = 0; ; offset += PAGE) {
    const page = await services.store.accounts.list({ offset, limit: PAGE });
    page.forEach(count);
    if (page.length < PAGE) break;
  }
  return {
    ...c,
    registeredPercent: percent(c.registered, c.inScope),
    partialPercent: percent(c.partial, c.inScope),
    nonePercent: percent(c.none, c.inScope),
    secondFactorCapablePercent: percent(c.secondFactorCapable, c.active),
    byMethod: METHOD_KINDS.map((kind) => ({ kind, enabled: policy.options.enabled.includes(kind), users: byKind.get(kind) ?? 0, percent: percent(byKind.get(kind) ?? 0, c.inScope) })),
  };
}

/** Activity figures, added up event by event. */
class Activity {
  readonly resetStarts = { real: 0, decoy: 0 };
  readonly resetStartsRefused = new Map<string, number>();
  resetsCompleted = 0;
  resetsBlocked = 0;
  decoyProofsFailed = 0;
  readonly proofFailures = new Map<string, number>();
  readonly byKind = new Map<MethodKind, ResetMethodActivity>(METHOD_KINDS.map((kind) => [kind, { kind, proofsSucceeded: 0, proofsFailed: 0, completedResets: 0 }]));
  readonly signins = { completed: 0, completedWithMfa: 0, rememberedDevice: 0 };
  readonly password = { succeeded: 0, failed: 0, blocked: 0 };
  readonly passwordFailures = new Map<string, number>();
  readonly secondFactor = { succeeded: 0, failed: 0, blocked: 0 };
  readonly notCompleted = new Map<string, number>();
  readonly throttles = new Map<string, ThrottleCount>();
  readonly lockouts = { soft: 0, hard: 0, total: 0, unknownIdentifiers: 0 };
  readonly admin = { cliResetsStarted: 0, cliResetsFailed: 0, adminAccountResets: 0 };
  readonly daily = new Map<string, DailyFigures>();

  constructor(days: string[]) {
    for (const date of days) this.daily.set(date, { date, resetsStarted: 0, resetsCompleted: 0, signinsSucceeded: 0, signinsFailed: 0 });
  }

  add(e: StoredAuditEvent): void {
    const day = this.daily.get(dayOf(e.at));
    const details = e.details ?? {};
    const decoy = details.decoy === true || (e.type === 'reset.started' && e.reason === 'no_usable_account');
    const kind = isKind(details.kind) ? this.byKind.get(details.kind) : undefined;
    if (e.outcome === 'blocked' && e.type !== 'lockout.started' && e.type !== 'reset.blocked') {
      const reason = e.reason ?? 'unknown';
      const key = `${e.type}\u0000${reason}`;
      const row = this.throttles.get(key) ?? { type: e.type, reason, count: 0 };
      row.count += 1;
      this.throttles.set(key, row);
    }
    switch (e.type) {
      case 'reset.started':
        if (e.outcome === 'blocked') tally(this.resetStartsRefused, e.reason ?? 'unknown');
        else if (decoy) this.resetStarts.decoy += 1;
        else {
          this.resetStarts.real += 1;
          if (day) day.resetsStarted += 1;
        }
        return;
      case 'reset.proof_succeeded':
        if (kind) kind.proofsSucceeded += 1;
        return;
      case 'reset.proof_failed':
        if (decoy) this.decoyProofsFailed += 1;
        else {
          if (kind) kind.proofsFailed += 1;
          tally(this.proofFailures, e.reason ?? 'unknown');
        }
        return;
      case 'reset.blocked':
        this.resetsBlocked += 1;
        return;
      case 'reset.completed':
        this.resetsCompleted += 1;
        if (day) day.resetsCompleted += 1;
        if (details.admin === true) this.admin.adminAccountResets += 1;
        for (const k of new Set(String(details.proofs ?? '').split(','))) if (isKind(k)) this.byKind.get(k)!.completedResets += 1;
        return;
      case 'signin.completed':
        this.signins.completed += 1;
        if (details.acr === ACR_MFA) this.signins.completedWithMfa += 1;
        if (details.rememberedDevice === true) this.signins.rememberedDevice += 1;
        if (day) day.signinsSucceeded += 1;
        return;
      case 'signin.failed':
        tally(this.notCompleted, e.reason ?? 'unknown');
        return;
      case 'signin.password':
        if (e.outcome === 'success') this.password.succeeded += 1;
        else {
          if (e.outcome === 'failure') this.password.failed += 1;
          else this.password.blocked += 1;
          tally(this.passwordFailures, e.reason ?? 'unknown');
          if (day) day.signinsFailed += 1;
        }
        return;
      case 'second_factor.succeeded':
        this.secondFactor.succeeded += 1;
        return;
      case 'second_factor.failed':
        if (e.outcome === 'blocked') this.secondFactor.blocked += 1;
        else this.secondFactor.failed += 1;
        if (day) day.signinsFailed += 1;
        return;
      case 'lockout.started':
        this.lockouts.total += 1;
        if (e.reason === 'hard') this.lockouts.hard += 1;
        else this.lockouts.soft += 1;
        if (!e.accountId) this.lockouts.unknownIdentifiers += 1;
        return;
      case 'admin.reset_started':
        if (e.outcome === 'success') this.admin.cliResetsStarted += 1;
        else this.admin.cliResetsFailed += 1;
        return;
    }
  }

  resets(): ResetActivity {
    const rows = [...this.byKind.values()];
    return {
      started: this.resetStarts.real,
      decoyStarts: this.resetStarts.decoy,
      startsRefused: reasons(this.resetStartsRefused),
      completed: this.resetsCompleted,
      completedPercent: percent(this.resetsCompleted, this.resetStarts.real),
      proofsSucceeded: rows.reduce((n, r) => n + r.proofsSucceeded, 0),
      proofsFailed: rows.reduce((n, r) => n + r.proofsFailed, 0),
      failuresByReason: reasons(this.proofFailures),
      decoyProofsFailed: this.decoyProofsFailed,
      blocked: this.resetsBlocked,
      byMethod: rows,
    };
  }
}

function policyOf(services: Services): Report['policy'] {
  const o = services.policy.options;
  return {
    scope: o.scope,
    groups: [...o.groups],
    enabledMethods: METHOD_KINDS.filter((k) => o.enabled.includes(k)),
    methodsRequired: o.methodsRequired,
    adminMethodsRequired: services.policy.requiredMethods({ admin: true }),
    reconfirmDays: o.reconfirmDays,
    twoFactor: o.twoFactor,
    twoFactorMethods: METHOD_KINDS.filter((k) => o.twoFactorKinds.includes(k)),
  };
}

/** The report for the last `days` UTC days (today included) as of `now`. */
export async function buildReport(services: Services, options: { days: number; now: number }): Promise<Report> {
  const { now } = options;
  const days = Math.max(1, Math.floor(options.days));
  const since = Math.floor(now / DAY_MS) * DAY_MS - (days - 1) * DAY_MS;
  const dates = Array.from({ length: days }, (_, i) => dayOf(since + i * DAY_MS));
  const activity = new Activity(dates);
  for await (const e of services.audit.scan({ since, until: now + 1 })) activity.add(e);
  const retention = services.config.AUDIT_RETENTION_DAYS;
  const throttles = [...activity.throttles.values()].sort((a, b) => b.count - a.count || a.type.localeCompare(b.type) || a.reason.localeCompare(b.reason));
  return {
    version: REPORT_VERSION,
    generatedAt: iso(now),
    period: { days, since: iso(since), until: iso(now), auditRetentionDays: retention, complete: now - retention * DAY_MS <= since },
    policy: policyOf(services),
    registration: await coverage(services, now),
    resets: activity.resets(),
    signins: {
      ...activity.signins,
      password: activity.password,
      passwordFailuresByReason: reasons(activity.passwordFailures),
      secondFactor: activity.secondFactor,
      notCompleted: reasons(activity.notCompleted),
    },
    throttles: { total: throttles.reduce((n, r) => n + r.count, 0), byReason: throttles },
    lockouts: activity.lockouts,
    admin: activity.admin,
    daily: dates.map((d) => activity.daily.get(d)!),
  };
}

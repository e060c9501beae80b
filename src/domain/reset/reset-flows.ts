/**
 * Self-service password reset: a persisted, expiring state machine shared by the pages and
 * the JSON API.
 *
 *   start(identifier) ──► choose ──► prove ──► (choose ──► prove)* ──► new_password ──► done
 *                           ▲          │ back / wrong method
 *                           └──────────┘
 *
 * An identifier without a usable account (unknown, disabled, out of scope, nothing
 * registered) gets a decoy flow: the same states, pages, counts and throttles, masked
 * methods derived from a keyed hash, codes "sent" nowhere that never verify; it can never
 * reach `new_password`. The final step commits in one atomic store operation that also
 * consumes the flow's commit token, so a replayed or concurrent submit cannot commit twice.
 */
import type { Store, AccountRecord, Clock } from '../../store/types.ts';
import type { Accounts } from '../accounts.ts';
import { AuditBatch, withAuditScope, type Audit } from '../audit.ts';
import { codeEvent } from '../methods/code-events.ts';
import { recordMethodUse } from '../methods/method-use.ts';
import type { Notifications } from '../notifications.ts';
import type { SsprPolicy } from '../policy.ts';
import { methodsOf } from '../policy.ts';
import type { Hmac } from '../secrets.ts';
import { randomId } from '../secrets.ts';
import type { SecretBox } from '../secret-box.ts';
import type { PasswordProblem } from '../password-rules.ts';
import { normalizeLogin } from '../normalize.ts';
import type { Methods } from '../methods/registry.ts';
import type { FormInput, MethodContext, MethodError, MethodKind, MethodRecord, PendingData, SealedSecret, SecurityKeyMethod, StepDisplay } from '../methods/types.ts';
import { sendCode, checkCode, type CodeDeliveryDeps } from '../methods/code-delivery.ts';
import { decoyMethods, decoySubject } from './decoys.ts';
import { normalizeRecoveryCode } from '../methods/recovery-codes.ts';
import { faultPoint } from '../fault-points.ts';
import { withLeasedRecord } from '../lease.ts';

export type ResetState = 'choose' | 'prove' | 'new_password' | 'done';

export interface ResetOptions {
  flowTtlMs: number;
  maxFailedProofs: number;
  failedProofWindowMs: number;
  blockMs: number;
  startsPerIp: number;
  startsWindowMs: number;
  /** Calling codes of allowlisted countries, for plausible decoy phone masks. */
  decoyCallingCodes: readonly string[];
  /** Email the other admins when an admin resets. */
  notifyAdmins: boolean;
}

interface OfferedMethod {
  ref: string;
  kind: MethodKind;
  masked: string;
  strong: boolean;
  /** Record id of a real method; absent for decoys. */
  recordId?: string;
  /** Keyed hash of the destination (address, number), for "two proofs, two destinations". */
  destination?: string;
}

interface StoredFlow {
  handle: string;
  secretHash: string;
  state: ResetState;
  createdAt: number;
  expiresAt: number;
  decoy: boolean;
  /** Account id, or the decoy's pseudo id: the subject of throttles. */
  subject: string;
  admin: boolean;
  methods: OfferedMethod[];
  proofs: { ref: string; kind: MethodKind; strong: boolean; destination?: string }[];
  required: number;
  /** Whether the account has a strong method (then one proof must be strong). */
  hasStrong: boolean;
  current?: { ref: string; pending: PendingData; display: SealedSecret };
  /** Security questions are drawn once per flow and reused when the user comes back to them. */
  drawn?: { pending: PendingData; display: SealedSecret };
  /** The original authorization request, for "back to sign-in" at the end. */
  returnTo?: Record<string, string>;
}

export interface ResetView {
  handle: string;
  state: ResetState;
  expiresAt: number;
  methods: { ref: string; kind: MethodKind; masked: string; available: boolean }[];
  proofsDone: number;
  proofsRequired: number;
  current?: { ref: string; kind: MethodKind; masked: string; display: StepDisplay };
  returnTo?: Record<string, string>;
  /** Right after the new password: whether the confirmation reached at least one address (unknown later). */
  confirmationSent?: boolean;
}

export type ResetOutcome =
  | { ok: true; view: ResetView }
  | {
      ok: false;
      status: number;
      error: MethodError | { id: string; vars?: Record<string, string | number>; field?: string };
      view?: ResetView;
      retryAfterSeconds?: number;
      /** No flow has this id and secret when the step began (an API answers as it would to a wrong secret). */
      unknownFlow?: true;
    };

export interface ResetContext {
  ip: string;
  userAgent: string;
}

export interface ResetDeps {
  store: Store;
  accounts: Accounts;
  policy: SsprPolicy;
  methods: Methods;
  delivery: CodeDeliveryDeps;
  hmac: Hmac;
  box: SecretBox;
  audit: Audit;
  notifications: Notifications;
  clock: Clock;
  options: ResetOptions;
  /** Runs right before the account's records are revoked after the commit (back-channel logout); never throws. */
  beforeRevoke?: (accountId: string) => Promise<void>;
}

const flowKey = (handle: string): string => `reset-flow:{f:${handle}}`;
const commitKey = (accountId: string, handle: string): string => `reset-commit:{a:${accountId}}:${handle}`;
const failsKey = (subject: string): string => `reset-fails:{a:${subject}}`;
const blockKey = (subject: string): string => `reset-block:{a:${subject}}`;
const startsKey = (ip: string): string => `reset-starts:{ip:${ip}}`;
const stepLockKey = (handle: string): string => `reset-lock:{f:${handle}}`;

const CODE_KINDS: readonly MethodKind[] = ['email', 'mobile_phone', 'office_phone'];

/** What a step run by `exclusive` writes through: its flow's last state, and its audit events. */
interface StepUnit {
  /** The flow as the step leaves it, written together with the release of the step's lease. */
  save(flow: StoredFlow): void;
  /**
   * Records an audit event when the step is done, alongside its last store work (the flow's
   * save, the lease's release); `exclusive` waits for it before answering.
   */
  audit(event: Parameters<Audit['record']>[0]): void;
}

export class ResetFlows {
  constructor(private readonly deps: ResetDeps) {}

  /** Set once the provider exists (it is built after the services). */
  setBeforeRevoke(fn: ((accountId: string) => Promise<void>) | undefined): void {
    if (fn) this.deps.beforeRevoke = fn;
    else delete this.deps.beforeRevoke;
  }

  /** Identify: login name or primary email. Real and decoy flows answer the same. */
  async start(identifier: string, ctx: ResetContext, returnTo?: Record<string, string>): Promise<{ handle: string; secret: string; outcome: ResetOutcome }> {
    const { store, clock, options, hmac } = this.deps;
    const normalized = normalizeLogin(identifier.slice(0, 320));
    // The count and the account are read together (a refused start reads the account for nothing).
    const [starts, account] = await Promise.all([
      store.counters.hit(startsKey(ctx.ip), options.startsWindowMs),
      normalized ? this.deps.accounts.findByIdentifier(normalized) : undefined,
    ]);
    const handle = randomId(16);
    const secret = randomId(24);
    if (starts.count > options.startsPerIp) {
      // Refused: no account to name, whatever was found.
      await this.deps.audit.record({ type: 'reset.started', outcome: 'blocked', ip: ctx.ip, userAgent: ctx.userAgent, reason: 'reset_too_many_starts' });
      return { handle, secret, outcome: { ok: false, status: 429, error: { id: 'reset_too_many_starts' }, retryAfterSeconds: Math.ceil((starts.resetAt - clock()) / 1000) } };
    }
    const usable = account && account.status === 'active' && this.deps.policy.inScope(account) ? this.deps.policy.usableMethods(account) : [];
    const now = clock();
    const base = { handle, secretHash: hmac.digest('reset-secret', secret), state: 'choose' as const, createdAt: now, expiresAt: now + options.flowTtlMs, proofs: [], ...(returnTo ? { returnTo } : {}) };
    let flow: StoredFlow;
    if (account && usable.length > 0) {
      const offered = usable.map((m, i) => this.offer(m, i));
      flow = { ...base, decoy: false, subject: account.id, admin: account.admin, methods: offered, required: this.deps.policy.requiredProofs(account), hasStrong: offered.some((m) => m.strong) };
    } else {
      const fakes = decoyMethods(hmac, normalized, this.deps.policy.options.enabled, options.decoyCallingCodes);
      flow = {
        ...base,
        decoy: true,
        subject: decoySubject(hmac, normalized),
        admin: false,
        methods: fakes.map((f, i) => ({ ref: `m${i}`, ...f })),
        required: this.deps.policy.options.proofsRequired,
        hasStrong: fakes.some((f) => f.strong),
      };
    }
    // The flow's write and the block's read, sent together (a decoy too: the same round trips).
    const [, blocked] = await Promise.all([store.ephemeral.put(flowKey(handle), flow, flow.expiresAt), this.blocked(flow)]);
    await this.deps.audit.record({
      type: 'reset.started',
      outcome: blocked ? 'blocked' : 'success',
      ...this.whose(flow),
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      ...(blocked ? { reason: 'reset_blocked' } : flow.decoy ? { reason: 'no_usable_account' } : {}),
    });
    if (blocked) return { handle, secret, outcome: blocked };
    return { handle, secret, outcome: { ok: true, view: this.view(flow) } };
  }

  /** The flow if `handle` and `secret` match and it has not expired. */
  async load(handle: string, secret: string): Promise<StoredFlow | undefined> {
    if (!/^[A-Za-z0-9_-]{10,40}$/.test(handle)) return undefined;
    return this.matching(await this.deps.store.ephemeral.get<StoredFlow>(flowKey(handle)), secret);
  }

  private matching(flow: StoredFlow | undefined, secret: string): StoredFlow | undefined {
    if (!flow || !this.deps.hmac.matches('reset-secret', secret, flow.secretHash)) return undefined;
    return flow;
  }

  async current(handle: string, secret: string): Promise<ResetView | undefined> {
    const flow = await this.load(handle, secret);
    return flow ? this.view(flow) : undefined;
  }

  /** Choose a method: starts its challenge (sends a code, draws questions). */
  async choose(handle: string, secret: string, ref: string, input: FormInput, ctx: ResetContext): Promise<ResetOutcome> {
    return this.exclusive(handle, secret, (flow, unit) => this.chooseStep(flow, unit, ref, input, ctx));
  }

  private async chooseStep(flow: StoredFlow, unit: StepUnit, ref: string, input: FormInput, ctx: ResetContext): Promise<ResetOutcome> {
    if (flow.state !== 'choose' && flow.state !== 'prove') return this.wrongState(flow);
    const offered = flow.methods.find((m) => m.ref === ref);
    const usable = offered && this.available(flow, offered) ? offered : undefined;
    // The block and the method's record are read together (a decoy reads the missing account
    // too: the same store round trips as a real flow).
    const reads = usable && !(usable.kind === 'security_questions' && flow.drawn) ? this.record(flow, usable) : undefined;
    const [blocked, found] = await Promise.all([this.blocked(flow), reads]);
    if (blocked) return blocked;
    if (!usable) return { ok: false, status: 400, error: { id: 'method_unknown' }, view: this.view(flow) };
    const started = await this.startChallenge(flow, usable, found, input, ctx, unit);
    if (!started.ok) return { ok: false, status: started.error.id === 'send_throttled' ? 429 : 400, error: started.error, view: this.view(flow) };
    flow.state = 'prove';
    flow.current = { ref, pending: started.pending, display: this.deps.box.seal(JSON.stringify(started.display)) };
    if (usable.kind === 'security_questions') flow.drawn = { pending: started.pending, display: flow.current.display };
    unit.save(flow);
    return { ok: true, view: this.view(flow) };
  }

  async back(handle: string, secret: string): Promise<ResetOutcome> {
    return this.exclusive(handle, secret, async (flow, unit) => this.backStep(flow, unit));
  }

  private backStep(flow: StoredFlow, unit: StepUnit): ResetOutcome {
    if (flow.state === 'prove') {
      flow.state = 'choose';
      delete flow.current;
      unit.save(flow);
    }
    return { ok: true, view: this.view(flow) };
  }

  /** Prove the current method: a code, TOTP, recovery code or answers. */
  async prove(handle: string, secret: string, input: FormInput, ctx: ResetContext): Promise<ResetOutcome> {
    return this.exclusive(handle, secret, (flow, unit) => this.proveStep(flow, unit, input, ctx));
  }

  private async proveStep(flow: StoredFlow, unit: StepUnit, input: FormInput, ctx: ResetContext): Promise<ResetOutcome> {
    if (flow.state !== 'prove' || !flow.current) return this.wrongState(flow);
    const offered = flow.methods.find((m) => m.ref === flow.current!.ref)!;
    const [blocked, found] = await Promise.all([this.blocked(flow), this.record(flow, offered)]);
    if (blocked) return blocked;
    const verified = await this.verify(flow, offered, found, input, ctx);
    if (!verified.ok) {
      const who = { ...this.whose(flow, { kind: offered.kind }), ip: ctx.ip, userAgent: ctx.userAgent };
      unit.audit({ type: 'reset.proof_failed', outcome: 'failure', ...who, reason: verified.error.id });
      const fails = await this.deps.store.counters.hit(failsKey(flow.subject), this.deps.options.failedProofWindowMs);
      if (fails.count >= this.deps.options.maxFailedProofs) {
        const until = this.deps.clock() + this.deps.options.blockMs;
        await this.deps.store.ephemeral.put(blockKey(flow.subject), { until }, until);
        unit.audit({ type: 'reset.blocked', outcome: 'blocked', ...who, reason: 'too_many_failed_proofs', details: { ...who.details, failures: fails.count, until: new Date(until).toISOString() } });
        return this.blockedUntil(flow, until);
      }
      if (verified.error.final) {
        flow.state = 'choose';
        delete flow.current;
        unit.save(flow);
      }
      return { ok: false, status: 400, error: verified.error, view: this.view(flow) };
    }
    flow.proofs.push({ ref: offered.ref, kind: offered.kind, strong: offered.strong, ...(offered.destination ? { destination: offered.destination } : {}) });
    unit.audit({
      type: 'reset.proof_succeeded',
      outcome: 'success',
      accountId: flow.subject,
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      details: { kind: offered.kind, ...(typeof flow.current.pending.channel === 'string' ? { channel: flow.current.pending.channel } : {}), proofsDone: flow.proofs.length, proofsRequired: flow.required },
    });
    delete flow.current;
    flow.state = this.complete(flow) ? 'new_password' : 'choose';
    if (flow.state === 'new_password' && !flow.decoy) {
      // Before the flow says new_password (its save goes with the lease's release).
      await this.deps.store.ephemeral.put(commitKey(flow.subject, flow.handle), { handle: flow.handle }, flow.expiresAt);
    }
    unit.save(flow);
    return { ok: true, view: this.view(flow) };
  }

  /** The new password (twice): the one atomic commit, then revocation, notices, audit. */
  async setPassword(handle: string, secret: string, password: string, confirm: string, ctx: ResetContext): Promise<ResetOutcome> {
    return this.exclusive(handle, secret, (flow, unit) => this.setPasswordStep(flow, unit, password, confirm, ctx));
  }

  private async setPasswordStep(flow: StoredFlow, unit: StepUnit, password: string, confirm: string, ctx: ResetContext): Promise<ResetOutcome> {
    if (flow.state !== 'new_password' || flow.decoy) return this.wrongState(flow);
    // The commit token and the account, read together.
    const [token, account] = await Promise.all([this.deps.store.ephemeral.get(commitKey(flow.subject, flow.handle)), this.deps.accounts.get(flow.subject)]);
    if (token === undefined) {
      // Committed by a step that died before marking the flow done (its token is consumed
      // only by the commit): the reset is complete; the new password would now count as reused.
      flow.state = 'done';
      unit.save(flow);
      return this.wrongState(flow);
    }
    if (password !== confirm) return { ok: false, status: 400, error: { id: 'password_mismatch', field: 'confirm' }, view: this.view(flow) };
    if (!account) return expired();
    const problem: PasswordProblem | undefined = await this.deps.accounts.rules.check(password, {
      login: account.login,
      emails: account.emails.map((e) => e.address),
      history: [account.passwordHash, ...account.passwordHistory].filter((h): h is string => !!h),
    });
    if (problem) {
      return { ok: false, status: 400, error: { id: problem, field: 'password', vars: { min: this.deps.accounts.rules.minLength, max: this.deps.accounts.rules.maxLength } }, view: this.view(flow) };
    }
    const next = await this.deps.accounts.withNewPassword(account, password);
    faultPoint('reset.commit.before');
    const committed = await this.deps.store.accounts.commitWithConsume(next, commitKey(account.id, flow.handle));
    if (committed === 'consumed') return { ok: false, status: 409, error: { id: 'reset_already_done' }, view: this.view(flow) };
    if (committed === 'conflict') return { ok: false, status: 409, error: { id: 'reset_conflict' }, view: this.view(flow) };
    faultPoint('reset.commit.after_write');
    // Committed: everything older than notBefore is refused from now on; the rest is cleanup.
    // The flow says done at once (whoever comes meanwhile is told so), while the clean-up runs.
    flow.state = 'done';
    const cleanup = async (): Promise<AccountRecord> => {
      const [updated] = await Promise.all([
        this.deps.accounts.get(account.id),
        this.deps.accounts.unlock(account.id),
        this.deps.store.counters.reset(failsKey(account.id)),
        (async () => {
          await this.deps.beforeRevoke?.(account.id).catch(() => undefined);
          await this.deps.store.oidc.revokeByAccount(account.id);
          faultPoint('reset.commit.after_revoke');
        })(),
      ]);
      return updated ?? next;
    };
    const [, updated] = await Promise.all([this.save(flow), cleanup()]);
    unit.audit({ type: 'reset.completed', outcome: 'success', accountId: account.id, ip: ctx.ip, userAgent: ctx.userAgent, details: { proofs: flow.proofs.map((p) => p.kind).join(','), admin: updated.admin } });
    const told = await this.deps.notifications.passwordReset(updated, { at: this.deps.clock(), ip: ctx.ip });
    if (updated.admin && this.deps.options.notifyAdmins) await this.deps.notifications.adminReset(updated, await this.otherAdmins(updated.id), { at: this.deps.clock(), ip: ctx.ip });
    faultPoint('reset.commit.before_response');
    return { ok: true, view: { ...this.view(flow), confirmationSent: told > 0 } };
  }

  // --- internals -------------------------------------------------------------------------

  /**
   * Runs one step of a flow alone. Concurrent submits of one flow (a double click, a retried
   * request) would each load the same state: the slower one would save its stale copy over the
   * winner's progress, and a right code already consumed by the winner would count as a failed
   * proof (and block the reset). The loser gets 409 `reset_busy` and changes nothing.
   */
  private async exclusive(handle: string, secret: string, step: (flow: StoredFlow, unit: StepUnit) => Promise<ResetOutcome>): Promise<ResetOutcome> {
    // Nothing is read before the lease: the lease is taken and the flow read in one store step
    // (an id that cannot be one gets no lease key).
    if (!/^[A-Za-z0-9_-]{10,40}$/.test(handle)) return unknownFlow();
    // Audit events start as the step returns (or throws), so they travel with the release that follows.
    const audits = new AuditBatch(this.deps.audit);
    // A lease (see lease.ts): a step that waits (a WAIT for replicas, a slow mail server) keeps
    // the flow; a process that died mid-step frees it within LEASE_MS.
    const run = await withLeasedRecord<ResetOutcome, StoredFlow>(this.deps.store.ephemeral, this.deps.clock, stepLockKey(handle), flowKey(handle), async (hold) => {
      const flow = this.matching(hold.record, secret);
      if (!flow) return unknownFlow();
      try {
        return await step(flow, {
          save: (f) => hold.putOnRelease(flowKey(f.handle), f, f.expiresAt),
          audit: (event) => audits.record(event),
        });
      } finally {
        audits.flush();
      }
    });
    await audits.settled();
    if (run.held) return run.value;
    const flow = this.matching(run.record, secret);
    if (!flow) return unknownFlow();
    // A finished flow says so, whoever is still busy with its clean-up.
    if (flow.state === 'done') return this.wrongState(flow);
    return { ok: false, status: 409, error: { id: 'reset_busy' }, view: this.view(flow) };
  }

  /** Whose flow, for audit events: the account, or nobody for a decoy (marked as one). */
  private whose(flow: StoredFlow, details: Record<string, string> = {}): { accountId?: string; details?: Record<string, string | boolean> } {
    if (flow.decoy) return { details: { ...details, decoy: true } };
    return { accountId: flow.subject, ...(Object.keys(details).length > 0 ? { details } : {}) };
  }

  private offer(m: MethodRecord, i: number): OfferedMethod {
    const method = this.deps.methods.get(m.kind)!;
    const destination = method.destination(m as never);
    return {
      ref: `m${i}`,
      kind: m.kind,
      masked: method.maskBeforeProof ? method.maskBeforeProof(m as never) : method.mask(m as never),
      strong: method.strong,
      recordId: m.id,
      ...(destination ? { destination: this.deps.hmac.digest('reset-destination', destination) } : {}),
    };
  }

  /** May this method be the next proof? Not used already, another destination, and the strong-proof rule. */
  private available(flow: StoredFlow, m: OfferedMethod): boolean {
    if (flow.proofs.some((p) => p.ref === m.ref || (m.destination && p.destination === m.destination))) return false;
    const last = flow.proofs.length + 1 >= flow.required;
    const strongSoFar = flow.proofs.some((p) => p.strong);
    if (last && flow.hasStrong && !strongSoFar && !m.strong) return false;
    // Security questions are never the only proof.
    if (last && m.kind === 'security_questions' && flow.proofs.every((p) => p.kind === 'security_questions')) return false;
    return true;
  }

  private complete(flow: StoredFlow): boolean {
    if (flow.proofs.length < flow.required) return false;
    if (flow.hasStrong && !flow.proofs.some((p) => p.strong)) return false;
    return !flow.proofs.every((p) => p.kind === 'security_questions');
  }

  private methodContext(flow: StoredFlow, ctx: ResetContext, login = ''): MethodContext {
    return { accountId: flow.subject, login, admin: flow.admin, clock: this.deps.clock, ip: ctx.ip, purpose: 'reset' };
  }

  private async record(flow: StoredFlow, m: OfferedMethod): Promise<{ account: AccountRecord; record: MethodRecord } | undefined> {
    const account = await this.deps.accounts.get(flow.subject);
    const record = account ? methodsOf(account).find((r) => r.id === m.recordId) : undefined;
    return account && record ? { account, record } : undefined;
  }

  /** `found`: what `record(flow, m)` read (not read for questions already drawn). */
  private async startChallenge(
    flow: StoredFlow,
    m: OfferedMethod,
    found: { account: AccountRecord; record: MethodRecord } | undefined,
    input: FormInput,
    ctx: ResetContext,
    unit: StepUnit,
  ): Promise<{ ok: true; pending: PendingData; display: StepDisplay } | { ok: false; error: MethodError }> {
    if (m.kind === 'security_questions' && flow.drawn) {
      return { ok: true, pending: flow.drawn.pending, display: JSON.parse(this.deps.box.open(flow.drawn.display)) as StepDisplay };
    }
    if (flow.decoy) return this.decoyChallenge(flow, m, input, ctx, unit);
    if (!found) return { ok: false, error: { id: 'method_state_invalid', final: true } };
    const method = this.deps.methods.get(m.kind)!;
    // deps.methods is built with an asynchronous sender: the answer never waits for, nor
    // reveals, a delivery (decoys make none); failures go to audit (see services.ts), recorded
    // for this account and method by the scope around the send.
    const started = await withAuditScope({ accountId: flow.subject, details: { kind: m.kind } }, () =>
      method.startChallenge(this.methodContext(flow, ctx, found.account.login), found.record as never, input),
    );
    const event = codeEvent('reset', m.kind, started);
    if (event) unit.audit({ ...event, accountId: flow.subject, ip: ctx.ip, userAgent: ctx.userAgent });
    if (!started.ok) return started;
    return { ok: true, pending: started.value.pending, display: started.value.display };
  }

  /** A decoy "sends" like a real method (same throttles, a code nobody receives). */
  private async decoyChallenge(flow: StoredFlow, m: OfferedMethod, input: FormInput, ctx: ResetContext, unit: StepUnit): Promise<{ ok: true; pending: PendingData; display: StepDisplay } | { ok: false; error: MethodError }> {
    if (m.kind === 'security_key') return this.decoyKeyChallenge(flow, m, ctx);
    if (!CODE_KINDS.includes(m.kind)) return { ok: true, pending: {}, display: {} };
    const channel = m.kind === 'email' ? 'email' : input.channel === 'voice' || m.kind === 'office_phone' ? 'voice' : 'sms';
    const nowhere: CodeDeliveryDeps = { ...this.deps.delivery, sender: { send: async () => undefined } };
    const sent = await sendCode(nowhere, this.methodContext(flow, ctx), channel, `decoy:${flow.subject}:${m.ref}`, {});
    // Audited like a real send (the same store round trips), and marked for what it is.
    const event = codeEvent('reset', m.kind, sent.ok ? { ok: true, value: { pending: sent.value, display: {} } } : sent);
    if (event) unit.audit({ ...event, ...(sent.ok ? { reason: 'decoy' } : {}), details: { ...event.details, decoy: true }, ip: ctx.ip, userAgent: ctx.userAgent });
    if (!sent.ok) return sent;
    return { ok: true, pending: sent.value, display: { sentTo: m.masked } };
  }

  /**
   * A decoy's security key asks the browser for a signature like a real one: the real method's
   * options, for a credential id derived from the identifier (stable, like the other decoy masks).
   */
  private async decoyKeyChallenge(flow: StoredFlow, m: OfferedMethod, ctx: ResetContext): Promise<{ ok: true; pending: PendingData; display: StepDisplay } | { ok: false; error: MethodError }> {
    const method = this.deps.methods.get('security_key');
    if (!method) return { ok: true, pending: {}, display: {} };
    const now = this.deps.clock();
    const fake: SecurityKeyMethod = {
      id: m.ref,
      kind: 'security_key',
      credentialId: this.deps.hmac.digest('reset-decoy-key', flow.subject),
      publicKey: '',
      counter: 0,
      transports: ['usb'],
      label: m.masked,
      registeredAt: now,
      confirmedAt: now,
    };
    const started = await method.startChallenge(this.methodContext(flow, ctx), fake as never);
    return started.ok ? { ok: true, pending: started.value.pending, display: started.value.display } : started;
  }

  /** `found`: what `record(flow, m)` read. */
  private async verify(
    flow: StoredFlow,
    m: OfferedMethod,
    found: { account: AccountRecord; record: MethodRecord } | undefined,
    input: FormInput,
    ctx: ResetContext,
  ): Promise<{ ok: true } | { ok: false; error: MethodError }> {
    const pending = flow.current!.pending;
    if (flow.decoy) {
      if (m.kind === 'security_questions') await this.deps.accounts.spendDummyVerifications(Object.keys(input).filter((k) => /^answer_\d$/.test(k)).length || 1);
      // A real recovery code check costs one argon2 verify whenever the input can be a code.
      if (m.kind === 'recovery_codes' && normalizeRecoveryCode(input.code ?? '') !== undefined) await this.deps.accounts.spendDummyVerifications(1);
      if (CODE_KINDS.includes(m.kind)) {
        if (!input.code?.trim()) return { ok: false, error: { id: 'code_missing', field: 'code' } };
        // Counted like a real guess (attempts, exhaustion), and never right: nobody has the code.
        const checked = await checkCode(this.deps.delivery, this.methodContext(flow, ctx), pending, { code: `${input.code}x` });
        return checked.ok ? { ok: false, error: { id: 'code_wrong', field: 'code' } } : checked;
      }
      if (m.kind === 'security_key') return { ok: false, error: input.credential?.trim() ? { id: 'security_key_failed', final: true } : { id: 'security_key_missing' } };
      return { ok: false, error: m.kind === 'security_questions' ? { id: 'answers_wrong' } : { id: 'code_wrong', field: 'code' } };
    }
    if (!found) return { ok: false, error: { id: 'method_state_invalid', final: true } };
    const method = this.deps.methods.get(m.kind)!;
    const result = await method.verifyChallenge(this.methodContext(flow, ctx, found.account.login), found.record as never, pending, input);
    if (!result.ok) return result;
    // A TOTP step or recovery code spent meanwhile by another reset or sign-in is a used code:
    // of concurrent uses of one code exactly one proves anything.
    if (result.value.updated && !(await recordMethodUse(this.deps.accounts, found.account.id, found.record, result.value.updated, found.account))) {
      return { ok: false, error: { id: 'code_used', field: 'code' } };
    }
    return { ok: true };
  }

  private async blocked(flow: StoredFlow): Promise<ResetOutcome | undefined> {
    const block = await this.deps.store.ephemeral.get<{ until: number }>(blockKey(flow.subject));
    if (!block || block.until <= this.deps.clock()) return undefined;
    return this.blockedUntil(flow, block.until);
  }

  private blockedUntil(flow: StoredFlow, until: number): ResetOutcome {
    const retryAfterSeconds = Math.ceil((until - this.deps.clock()) / 1000);
    return { ok: false, status: 429, error: { id: 'reset_blocked', vars: { hours: Math.ceil(retryAfterSeconds / 3600) } }, retryAfterSeconds, view: this.view(flow) };
  }

  private wrongState(flow: StoredFlow): ResetOutcome {
    return { ok: false, status: 409, error: { id: flow.state === 'done' ? 'reset_already_done' : 'reset_wrong_step' }, view: this.view(flow) };
  }

  private async save(flow: StoredFlow): Promise<void> {
    await this.deps.store.ephemeral.put(flowKey(flow.handle), flow, flow.expiresAt);
  }

  private async otherAdmins(except: string): Promise<AccountRecord[]> {
    const admins: AccountRecord[] = [];
    for (let offset = 0; ; offset += 200) {
      const page = await this.deps.store.accounts.list({ offset, limit: 200 });
      admins.push(...page.filter((a) => a.admin && a.id !== except && a.status === 'active'));
      if (page.length < 200) return admins;
    }
  }

  private view(flow: StoredFlow): ResetView {
    const current = flow.current ? flow.methods.find((m) => m.ref === flow.current!.ref) : undefined;
    return {
      handle: flow.handle,
      state: flow.state,
      expiresAt: flow.expiresAt,
      methods: flow.methods.map((m) => ({ ref: m.ref, kind: m.kind, masked: m.masked, available: this.available(flow, m) })),
      proofsDone: flow.proofs.length,
      proofsRequired: flow.required,
      ...(current && flow.current
        ? { current: { ref: current.ref, kind: current.kind, masked: current.masked, display: JSON.parse(this.deps.box.open(flow.current.display)) as StepDisplay } }
        : {}),
      ...(flow.returnTo ? { returnTo: flow.returnTo } : {}),
    };
  }
}

function expired(): ResetOutcome {
  return { ok: false, status: 410, error: { id: 'reset_expired' } };
}

function unknownFlow(): ResetOutcome {
  return { ...expired(), unknownFlow: true } as ResetOutcome;
}


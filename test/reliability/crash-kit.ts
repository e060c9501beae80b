/**
 * Shared by the failover, fault and fault-point suites: a reset driven through the JSON API
 * of one rekey process (or several), and the account state a crash must not split.
 */
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import type { Services } from '../../src/services.ts';
import { apiCall, LEAK, type JsonAnswer } from '../support/rekey-process.ts';

export const OLD_PASSWORD = 'copper-finch-sings-early';
export const NEW_PASSWORD = 'violet-harbour-kites-drift';

export interface ApiFlow {
  flow: string;
  secret: string;
}

/**
 * These suites type the next time step's code when a crash spent the current one, as a user
 * would wait for the app's next code; waiting up to 30 s for it in every case would make them
 * slow, so their rekey processes accept one step either side (not the default, 0).
 */
export const NEXT_STEP_TOTP_ENV = { TOTP_DRIFT_STEPS: '1' } as const;

/**
 * The TOTP code of the current (or `stepsAhead`) time step on the real clock: accepted by a
 * process with NEXT_STEP_TOTP_ENV, also when the step turns meanwhile or the current one was
 * spent already.
 */
export async function totpCode(secret: string, stepsAhead = 0): Promise<string> {
  return generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 * stepsAhead });
}

/**
 * Starts a reset on `bases[0]` and proves the authenticator app on the next ones (each step on
 * the process after the previous one): the flow is at `new_password`.
 */
export async function resetToNewPassword(bases: string[], identifier: string, totp: string): Promise<ApiFlow> {
  const at = (i: number): string => bases[i % bases.length]!;
  const started = await apiCall(at(0), 'POST', '/api/v1/resets', { body: { identifier } });
  assert.equal(started.status, 201, started.text);
  const flow = { flow: String(started.body.flow), secret: String(started.body.secret) };
  const app = (started.body.methods as { ref: string; kind: string }[]).find((m) => m.kind === 'authenticator_app');
  assert.ok(app, `no authenticator app offered: ${started.text}`);
  const chosen = await apiCall(at(1), 'POST', `/api/v1/resets/${flow.flow}/choose`, { secret: flow.secret, body: { ref: app.ref } });
  assert.equal(chosen.status, 200, chosen.text);
  const proved = await apiCall(at(2), 'POST', `/api/v1/resets/${flow.flow}/prove`, { secret: flow.secret, body: { code: await totpCode(totp) } });
  assert.equal(proved.status, 200, proved.text);
  assert.equal(proved.body.state, 'new_password');
  return flow;
}

export function setPassword(base: string, flow: ApiFlow, password = NEW_PASSWORD): Promise<JsonAnswer> {
  return apiCall(base, 'POST', `/api/v1/resets/${flow.flow}/password`, { secret: flow.secret, body: { password, confirm: password } });
}

/** An answer a user can act on: JSON in the API's error shape, a known id, a message, no internals. */
export function assertClearError(answer: JsonAnswer, statuses: number[], context = ''): void {
  assert.ok(statuses.includes(answer.status), `${context}: status ${answer.status} (expected one of ${statuses.join(', ')}): ${answer.text.slice(0, 300)}`);
  assert.equal(typeof answer.body.error, 'string', `${context}: an error id: ${answer.text.slice(0, 300)}`);
  assert.ok(typeof answer.body.message === 'string' && answer.body.message.length > 10, `${context}: a message: ${answer.text.slice(0, 300)}`);
  assert.doesNotMatch(answer.text, LEAK, `${context}: no internals leak`);
}

export interface PasswordState {
  passwordHash: string | undefined;
  notBefore: number;
  version: number;
}

export async function passwordState(services: Services, accountId: string): Promise<PasswordState> {
  const a = await services.store.accounts.get(accountId);
  assert.ok(a, `account ${accountId} exists`);
  return { passwordHash: a.passwordHash, notBefore: a.notBefore, version: a.version };
}

/**
 * Password and notBefore moved together or not at all; returns whether they moved, and
 * checks the passwords agree with the record.
 */
export async function assertAllOrNothing(services: Services, accountId: string, before: PasswordState): Promise<boolean> {
  const after = await passwordState(services, accountId);
  const passwordChanged = after.passwordHash !== before.passwordHash;
  const notBeforeChanged = after.notBefore !== before.notBefore;
  assert.equal(notBeforeChanged, passwordChanged, `password ${passwordChanged ? 'changed' : 'unchanged'} but notBefore ${notBeforeChanged ? 'changed' : 'unchanged'}: half-applied`);
  assert.equal(after.version === before.version, !passwordChanged, 'the version moves with the commit, once');
  const matches = (password: string): Promise<boolean> => services.hasher.verify(after.passwordHash ?? '', password);
  assert.equal(await matches(NEW_PASSWORD), passwordChanged, `the new password ${passwordChanged ? 'works' : 'does not work'}`);
  assert.equal(await matches(OLD_PASSWORD), !passwordChanged, `the old password ${passwordChanged ? 'no longer works' : 'still works'}`);
  return passwordChanged;
}

/** The per-request context a method module runs in, built from a sign-in stage request. */
import type { Clock } from '../../src/store/types.ts';
import type { MethodContext } from '../../src/domain/methods/types.ts';
import type { StageRequest } from './stage.ts';

export function methodContext(r: StageRequest, clock: Clock, purpose: string): MethodContext {
  const account = r.account!;
  return { accountId: account.id, login: account.login, admin: account.admin, clock, ip: r.ip, purpose };
}

/** RFC 8176: a voice call is `tel`, a text `sms`; other methods name their own. */
export function amrOf(methodAmr: string, pending: { channel?: unknown } | undefined): string {
  if (pending?.channel === 'voice') return 'tel';
  if (pending?.channel === 'sms') return 'sms';
  return methodAmr;
}

/** Who and where, for audit events of a stage request. */
export function auditContext(r: StageRequest): { accountId?: string; ip: string; userAgent: string } {
  return { ...(r.account ? { accountId: r.account.id } : {}), ip: r.ip, userAgent: r.ctx.get('user-agent').slice(0, 200) };
}

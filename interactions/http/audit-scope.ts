/**
 * Opens the audit scope of each request: every event recorded while serving it carries the
 * client IP (through TRUST_PROXY_HOPS) and the User-Agent, even when recorded deep in the
 * domain or after the answer (a reset's asynchronous delivery failure).
 */
import type { Context, Next } from 'koa';
import { withAuditScope } from '../../src/domain/audit.ts';
import { clientIp } from './client-ip.ts';

export function auditScope(trustProxyHops: number) {
  return async function openAuditScope(ctx: Context, next: Next): Promise<void> {
    const userAgent = ctx.get('user-agent').slice(0, 200);
    await withAuditScope({ ip: clientIp(ctx, trustProxyHops), ...(userAgent ? { userAgent } : {}) }, next);
  };
}

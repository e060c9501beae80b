/**
 * The client IP: the socket's peer, or, behind `hops` trusted proxies, the address that many
 * entries from the right of X-Forwarded-For. Entries further left are the client's own
 * claims and are ignored, so a forged header cannot dodge a per-IP throttle.
 */
import type { Context } from 'koa';

export function clientIp(ctx: Context, hops: number): string {
  const peer = ctx.req.socket.remoteAddress ?? 'unknown';
  if (hops === 0) return peer;
  const header = ctx.get('x-forwarded-for');
  if (!header) return peer;
  const chain = header.split(',').map((s) => s.trim()).filter(Boolean);
  return chain[chain.length - hops] ?? chain[0] ?? peer;
}

/** What the HTTP gateway adapters share: secret-free error texts. */

/** Removes every secret (non-empty) from a string meant for logs and errors. */
export function redact(s: string, secrets: string[]): string {
  let out = s;
  for (const secret of secrets) if (secret) out = out.split(secret).join('[redacted]');
  return out;
}

/** Names the cause of a failed fetch: timeout, or the network error code/message. */
export function describeFetchError(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } } | undefined;
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return `no answer within ${timeoutMs} ms (timeout)`;
  const cause = err?.cause;
  if (cause?.code) return `network error ${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  if (cause?.message) return `network error (${cause.message})`;
  return `network error (${err?.message ?? String(e)})`;
}

import { HttpError } from './security.js';

/**
 * The one place that turns "a breaker is open" into HTTP: 503 with Retry-After. Two shapes reach
 * here: circuit-breaker's BrokenCircuitError (`code: 'EBROKENCIRCUIT'`, `retryAfterMs`), and an MCP
 * error from mcp-host whose server is not started again for a while (`data.code:
 * 'ESERVERUNAVAILABLE'`, `data.retryAfterMs`). Anything else: null.
 */
export function unavailableToHttp(error: unknown, fallbackMs: number): HttpError | null {
  const e = error as { code?: unknown; retryAfterMs?: unknown; data?: { code?: unknown; retryAfterMs?: unknown } };
  let retryAfterMs: unknown;
  if (e?.code === 'EBROKENCIRCUIT') retryAfterMs = e.retryAfterMs;
  else if (e?.data?.code === 'ESERVERUNAVAILABLE') retryAfterMs = e.data.retryAfterMs;
  else return null;
  const ms = typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs) ? retryAfterMs : fallbackMs;
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  const what = (error as Error).message ?? 'a circuit is open';
  return new HttpError(503, `unavailable after repeated failures; retry in ${seconds} s (${what})`, {
    'retry-after': String(seconds),
  });
}

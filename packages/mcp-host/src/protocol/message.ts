import type { RequestId } from '@modelcontextprotocol/sdk/types.js';

/** JSON-RPC params and results are plain JSON whose shape the router only partly knows. */
// biome-ignore lint/suspicious/noExplicitAny: untyped JSON from the wire, read defensively
export type Json = Record<string, any>;

/** A JSON-RPC message as the router sees it: one object, its fields read where needed and never re-validated. */
export type Msg = {
  jsonrpc: '2.0';
  id?: RequestId;
  method?: string;
  params?: Json;
  result?: Json;
  error?: unknown;
};

export const object = (value: unknown): Json | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;

/** The key under which the SDK tags messages that belong to a task (`_meta`). */
export const RELATED_TASK = 'io.modelcontextprotocol/related-task';

/** `notifications/cancelled` for `requestId` (other params, such as `reason`, kept). */
export const cancelled = (requestId: RequestId, params?: Json): Msg => ({
  jsonrpc: '2.0',
  method: 'notifications/cancelled',
  params: { ...params, requestId },
});

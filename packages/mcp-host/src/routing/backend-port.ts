import type { InitializeResult, JSONRPCMessage, ServerCapabilities } from '@modelcontextprotocol/sdk/types.js';

/**
 * What the router needs from a backend: the started process (backend/backend.ts) fits it, and so
 * does an in-memory fake in the router's unit tests.
 */
export interface BackendPort {
  readonly initResult: InitializeResult;
  readonly capabilities: ServerCapabilities;
  /** False once the process exited (a late answer to it is dropped). */
  readonly alive: boolean;
  /** A fresh id for a request to this backend (one counter per backend). */
  allocId(): number;
  /** Where every message from the backend that is not an answer to `request` goes, from now on. */
  attach(handler: (message: unknown) => void): void;
  write(message: JSONRPCMessage | Record<string, unknown>): boolean;
  /** A request of the host itself (replay after a restart); its answer does not reach `attach`'s handler. */
  request(method: string, params: Record<string, unknown>): Promise<unknown>;
}

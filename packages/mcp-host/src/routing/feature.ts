import type { RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { JsonRpcError } from '../errors.js';
import type { SessionEndReason } from '../events.js';
import type { Msg } from '../protocol/message.js';
import type { BackendPort } from './backend-port.js';
import type { RouterLink } from './link.js';
import type { Session } from './session.js';

/** A session request in flight at the backend, under the backend id it is keyed by. */
export interface Pending {
  readonly session: Session;
  readonly method: string;
  readonly clientId: RequestId;
  /** The session's own progress token, replaced by the backend id on the way out. */
  readonly clientToken: string | number | undefined;
  /** Sees (and may change) the backend's answer before the session does. */
  readonly onResponse: ((message: Msg) => void) | undefined;
}

/**
 * What a feature may ask of the router (router.ts implements it). The router's maps stay private
 * to it: a feature reads through these and changes routing state only by these calls.
 */
export interface RouterCore {
  readonly link: RouterLink;
  readonly backend: BackendPort | null;
  /** The sessions on this backend (initializing or ready). */
  readonly sessions: ReadonlySet<Session>;
  /** serialize: the session whose requests are at the backend; null when none (or not serialized). */
  readonly gateOwner: Session | null;
  pendingAt(backendId: number): Pending | undefined;
  /** The backend id of a session request in flight. */
  inFlight(session: Session, clientId: RequestId): number | undefined;
  /** Sends a session request to the backend (or behind the serialize gate). */
  forward(session: Session, message: Msg, onResponse: Pending['onResponse']): void;
  /** Takes a request out of the queues (waiting for a backend or for the gate); true when it was queued. */
  unqueue(session: Session, clientId: RequestId): boolean;
  /** A request in flight will get no answer through the router (cancelled, timed out). */
  drop(backendId: number): void;
  /** A session request is over (answered, cancelled, failed): may open the serialize gate. */
  settled(session: Session, clientId: RequestId): void;
}

/**
 * One routing feature (logging, subscriptions, tasks...): it keeps its own state and plugs in at
 * these points. Each `true` means "handled here": the router stops looking. Hooks run in the
 * order the router lists its features.
 */
export interface RouterFeature {
  /** Before a session request is queued or sent: an error refuses it here (the backend never sees it). */
  admit?(session: Session, message: Msg): JsonRpcError | null;
  /** A session request (initialized, its id free), the backend there. */
  request?(session: Session, message: Msg, backend: BackendPort): boolean;
  /** A notification from a ready session. */
  notification?(session: Session, message: Msg): boolean;
  /** A response from a session (to a server-to-client request). */
  response?(session: Session, message: Msg): boolean;
  /** A request or notification from the current backend (`ping` is answered before). */
  backendMessage?(backend: BackendPort, message: Msg): boolean;
  /** A session request was written to the backend under `backendId`. */
  sent?(backendId: number, pending: Pending, backend: BackendPort): void;
  /** The backend answered `backendId` (after `onResponse`, before the session gets it). */
  answered?(backendId: number, pending: Pending, message: Msg): void;
  /** `backendId` will get no answer through the router. */
  dropped?(backendId: number): void;
  /** A restarted backend, before the requests that waited for it: set up again what the sessions had. */
  replay?(backend: BackendPort): void;
  /** The backend is gone (what was in flight has failed already). */
  detach?(backend: BackendPort): void;
  /** A session left (its requests were answered and cancelled already); `backend`: the current one, if any. */
  leave?(session: Session, reason: SessionEndReason, backend: BackendPort | null): void;
}

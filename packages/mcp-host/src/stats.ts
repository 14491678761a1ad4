import type { ServerContext } from './backend/server-context.js';
import type { Slot, SlotStats } from './backend/slot.js';
import type { ShareMode } from './events.js';

export interface ServerStats {
  name: string;
  share: ShareMode;
  /** 'running': a backend runs; 'starting'; 'stopped': none (lazy, or idle-stopped); 'open': its circuit refuses starts. */
  state: 'running' | 'starting' | 'stopped' | 'open';
  /** The circuit breaker's state: starts are refused while it is 'open'. */
  breaker: 'closed' | 'open' | 'halfOpen';
  /** The shared backend's pid (or the first per-session one); null when none runs. Read RSS from it. */
  pid: number | null;
  pids: number[];
  /** Backends started (attempts, failed ones included) and restarts after one had exited on its own. */
  starts: number;
  restarts: number;
  sessions: number;
  /** Session requests forwarded to a backend and not answered yet. */
  inFlight: number;
  /** Requests waiting for a backend to start (or, with serialize, for another session's requests to end). */
  queued: number;
  /** Bytes queued for its backends' stdin and not read yet; each backend's is bounded by maxBackendQueueBytes. */
  queuedBytes: number;
  instances: SlotStats[];
  lastError: { message: string; at: number; stderr: readonly string[] } | null;
}

export function serverStats(ctx: ServerContext, slots: Slot[]): ServerStats {
  const instances = slots.map((slot) => slot.stats());
  const pids = instances.flatMap((s) => (s.pid === null ? [] : [s.pid]));
  const breaker = ctx.breaker.state;
  const sum = (key: 'sessions' | 'inFlight' | 'queued' | 'queuedBytes') => instances.reduce((n, s) => n + s[key], 0);
  const state =
    pids.length > 0
      ? 'running'
      : instances.some((s) => s.state === 'starting')
        ? 'starting'
        : breaker === 'open'
          ? 'open'
          : 'stopped';
  return {
    name: ctx.config.name,
    share: ctx.config.share,
    state,
    breaker,
    pid: pids[0] ?? null,
    pids,
    starts: ctx.totals.starts,
    restarts: ctx.totals.restarts,
    sessions: sum('sessions'),
    inFlight: sum('inFlight'),
    queued: sum('queued'),
    queuedBytes: sum('queuedBytes'),
    instances,
    lastError: ctx.lastError,
  };
}

/** Where a call was refused: the circuit is open (or isolated), or half-open with its probe slots taken. */
export type BrokenState = 'open' | 'halfOpen';

export interface BrokenCircuitInit {
  state: BrokenState;
  retryAfterMs: number;
  circuit?: string | undefined;
  isolated?: boolean;
}

/**
 * The call was refused without running `fn`. `retryAfterMs` says when a call may be admitted
 * again: the rest of the cooldown when open, the rest of the probe lease when half-open (0 when
 * unknown), `Infinity` while isolated.
 */
export class BrokenCircuitError extends Error {
  readonly code: 'EBROKENCIRCUIT';
  readonly state: BrokenState;
  readonly retryAfterMs: number;
  readonly circuit: string | undefined;
  readonly isolated: boolean;

  constructor(init: BrokenCircuitInit) {
    super(brokenMessage(init));
    this.code = 'EBROKENCIRCUIT';
    this.state = init.state;
    this.retryAfterMs = init.retryAfterMs;
    this.circuit = init.circuit;
    this.isolated = init.isolated ?? false;
  }
}
// On the prototype, so the stack header says BrokenCircuitError without a per-instance write.
Object.defineProperty(BrokenCircuitError.prototype, 'name', { value: 'BrokenCircuitError', configurable: true });

function brokenMessage({ state, retryAfterMs, circuit, isolated }: BrokenCircuitInit): string {
  const which = circuit === undefined ? 'Circuit' : `Circuit "${circuit}"`;
  if (isolated) return `${which} is isolated (forced open) until its isolate() handle is disposed`;
  if (state === 'halfOpen') {
    return `${which} is half-open and its probe is still running; retry after ${Math.ceil(retryAfterMs)} ms`;
  }
  return `${which} is open; retry after ${Math.ceil(retryAfterMs)} ms`;
}

/**
 * Builds a BrokenCircuitError without capturing stack frames. A rejection while open is the hot
 * path of a broken circuit (every caller hits it), and walking the stack costs microseconds
 * while telling nothing the message does not.
 */
export function brokenCircuit(init: BrokenCircuitInit): BrokenCircuitError {
  const limit = Error.stackTraceLimit;
  try {
    Error.stackTraceLimit = 0;
  } catch {
    return new BrokenCircuitError(init); // frozen intrinsics (SES lockdown): pay for the stack
  }
  try {
    return new BrokenCircuitError(init);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Why a store holds no usable state. */
export type StoreProblem = 'missing' | 'corrupt' | 'foreign';

/**
 * Thrown by a store whose content cannot be used: `missing` (no file yet), `corrupt` (not valid
 * JSON, truncated, or our format with invalid fields), `foreign` (not ours: another program's file,
 * a newer format version, not a regular file, or too large). The breaker treats the circuit as
 * closed and reports the problem as a `storeReset` event; it never reaches the caller.
 */
export class CircuitStoreError extends Error {
  readonly code: 'ECIRCUITSTORE';
  readonly reason: StoreProblem;
  readonly location: string | undefined;

  constructor(reason: StoreProblem, message: string, location?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = 'ECIRCUITSTORE';
    this.reason = reason;
    this.location = location;
  }
}
Object.defineProperty(CircuitStoreError.prototype, 'name', { value: 'CircuitStoreError', configurable: true });

/** Duck-typed so a store built against another copy of this package (ESM vs CJS) still counts. */
export function isStoreProblem(error: unknown): error is CircuitStoreError {
  if (typeof error !== 'object' || error === null) return false;
  const { code, reason } = error as { code?: unknown; reason?: unknown };
  return code === 'ECIRCUITSTORE' && (reason === 'missing' || reason === 'corrupt' || reason === 'foreign');
}

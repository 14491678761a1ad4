import { checkInteger, checkKnownKeys, checkMs, checkOptions, MAX_TIMER_MS } from '@spawnguard/internal';
import { type Env, integer, MCP_BODY_LIMIT } from '../config/config.js';

/** The bridge's knobs (`spawnguard-worker mcp <name>`), each with its default and its variable. */
export interface BridgeOptions {
  /**
   * How long an ending bridge waits for the host to end its session (DELETE) before it exits anyway
   * (a dead or stopped worker). Default 500 ms; env SPAWNGUARD_BRIDGE_END_SESSION_MS.
   */
  endSessionMs?: number;
  /**
   * Bytes kept at each end of a stdin line longer than the 4 MiB limit, to read its id from, so the
   * error names the request it answers. Default 65536 (0: none kept, the answer has id null); env
   * SPAWNGUARD_BRIDGE_ID_SCAN_BYTES.
   */
  idScanBytes?: number;
}

export const BRIDGE_DEFAULTS = { endSessionMs: 500, idScanBytes: 64 * 1024 } as const;

/** Checked options with the defaults filled in: a TypeError or RangeError names a bad one and its value. */
export function resolveBridgeOptions(options: BridgeOptions = {}): Required<BridgeOptions> {
  const o = checkOptions('options', options);
  checkKnownKeys('options', o, Object.keys(BRIDGE_DEFAULTS));
  return {
    endSessionMs: checkMs('endSessionMs', o.endSessionMs, {
      fallback: BRIDGE_DEFAULTS.endSessionMs,
      max: MAX_TIMER_MS,
    }),
    idScanBytes: checkInteger('idScanBytes', o.idScanBytes, {
      fallback: BRIDGE_DEFAULTS.idScanBytes,
      max: MCP_BODY_LIMIT,
    }),
  };
}

/** The options the environment sets (the CLI's way to reach them); a bad value is a UsageError naming its variable. */
export function bridgeOptionsFromEnv(env: Env = process.env): BridgeOptions {
  const options: BridgeOptions = {};
  const end = env.SPAWNGUARD_BRIDGE_END_SESSION_MS;
  const scan = env.SPAWNGUARD_BRIDGE_ID_SCAN_BYTES;
  if (end !== undefined && end !== '') {
    options.endSessionMs = integer('SPAWNGUARD_BRIDGE_END_SESSION_MS', end, 0, 0, 600_000);
  }
  if (scan !== undefined && scan !== '') {
    options.idScanBytes = integer('SPAWNGUARD_BRIDGE_ID_SCAN_BYTES', scan, 0, 0, MCP_BODY_LIMIT);
  }
  return options;
}

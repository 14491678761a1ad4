import { join } from 'node:path';
import {
  checkAbsolutePath,
  checkBoolean,
  checkEmitter,
  checkInteger,
  checkKnownKeys,
  checkMs,
  checkObject,
  checkString,
  MAX_TIMER_MS,
  show,
} from '@spawnguard/internal';
import type { Emitter } from 'mitt';
import type { RegistryLike } from '../backend/registry.js';
import type { Clock } from '../clock.js';
import type { McpHostEvents, ShareMode } from '../events.js';
import type { FilterSpec } from './name-filter.js';
import { resolveFilters, type ServerFilters } from './server-filters.js';

/** One MCP stdio server, as users write it for Claude Desktop, Claude Code and Cursor, plus the host's settings. */
export interface ServerConfig {
  command: string;
  args?: readonly string[];
  /** Added to the minimal default environment (see README: Environment). */
  env?: Readonly<Record<string, string>>;
  /**
   * Absolute; default `<stateDir>/backend-cwd`, an empty private folder (0700) the host creates, so
   * a server that exposes "files in the working directory" sees none of the host's state files.
   */
  cwd?: string;
  /** 'shared' (default): one backend for every session. 'per-session': one backend per session. */
  share?: ShareMode;
  /** per-session only: most backends running at once; default 16. */
  maxInstances?: number;
  /** Stop a shared backend after this long without sessions; 0 = never; default 600000 (10 min). */
  idleMs?: number;
  /**
   * Forward one session's requests at a time (shared only), so every server-to-client request
   * (sampling, elicitation, roots) has exactly one possible owner. Default false.
   */
  serialize?: boolean;
  /** What the host declares to a shared backend at `initialize`; default sampling, elicitation (form, url) and roots. */
  clientCapabilities?: ClientCapabilities;
  /** Time for the backend to answer `initialize`; default the host's `startTimeoutMs`. */
  startTimeoutMs?: number;
  /** Default true (no console window on Windows). */
  windowsHide?: boolean;
  /** Tools (by name) sessions may see and call: `{ allow: [...] }` or `{ deny: [...] }`; names or `*` globs. */
  tools?: FilterSpec;
  /** The same for prompts (by name). */
  prompts?: FilterSpec;
  /** The same for resources (by URI). */
  resources?: FilterSpec;
  /** A session request the backend has not answered after this long is failed and cancelled; 0 = none; default the host's. */
  requestTimeoutMs?: number;
  /**
   * This many requestTimeoutMs timeouts in a row (no answer from the backend between them) and the
   * backend is taken for wedged: stopped as a crash (a breaker failure), its other requests answered
   * with EBACKENDUNRESPONSIVE, the next request starts a new one. 0 = never; default 3.
   */
  maxTimeoutsInARow?: number;
}

export interface McpHostOptions {
  servers: Readonly<Record<string, ServerConfig>>;
  /**
   * Absolute folder the host owns: home of its default process registry, and of `backend-cwd`, the
   * empty private folder backends run in by default (never stateDir itself, which may hold secrets).
   */
  stateDir: string;
  /**
   * Where backends are recorded (accepted by shape), or a function returning it (called before each
   * start, so a daemon may swap its registry, or hold starts by returning a promise); default a
   * registry the host opens at `<stateDir>/mcp-host-processes.json`.
   */
  registry?: RegistryLike | (() => RegistryLike | Promise<RegistryLike>);
  /**
   * Consecutive failures that open a server's circuit (default 3), and for how long (default 60000 ms).
   * A failure: a start that fails, a backend that exits by itself within `crashWindowMs` of its
   * start, one that exits by itself with requests in flight, or one stopped as unresponsive (maxTimeoutsInARow).
   */
  breaker?: { failureThreshold?: number; cooldownMs?: number };
  /** A backend that exits by itself this soon after a good start counts as a failed start; 0 = never; default 10000. */
  crashWindowMs?: number;
  /** Most bytes queued for one backend's stdin; a message that would pass it is refused (a request gets -32000); default 16 MiB. */
  maxBackendQueueBytes?: number;
  /** Default 30000. */
  startTimeoutMs?: number;
  /** Default `requestTimeoutMs` of every server; 0 (the default) = none. */
  requestTimeoutMs?: number;
  /** SIGTERM-to-SIGKILL grace when a backend tree is stopped; default 3000. */
  killGraceMs?: number;
  /** Streamable HTTP sessions with no request and no open stream for this long are closed; 0 = never; default 1800000. */
  sessionIdleMs?: number;
  /** Largest HTTP request body (413 above it); default 4 MiB. */
  maxBodyBytes?: number;
  /**
   * An HTTP session that has had a GET stream is closed ('disconnected') when its client holds no
   * connection for this long (a client that died keeps none; a live one reconnects its stream in
   * about a second); 0 = off (such sessions wait for `sessionIdleMs`); default 5000.
   */
  streamReconnectGraceMs?: number;
  /** Most bytes queued for one HTTP stream a client does not read; past it that stream is closed; default 4 MiB. */
  maxStreamBufferBytes?: number;
  /** Most sessions per server (HTTP and `connect()`); one more `initialize` is refused; default 256. */
  maxSessions?: number;
  /** Largest line a backend may print; longer lines are dropped and reported; default 64 MiB. */
  maxLineBytes?: number;
  /** Lines of each backend's stderr kept for errors; default 40. */
  stderrLines?: number;
  /** Sent to shared backends at `initialize`; default `{ name: 'spawnguard-mcp-host', version }`. */
  clientInfo?: { name: string; version: string };
  clock?: Clock;
  events?: Emitter<McpHostEvents>;
  /** The environment the default variables are copied from; default `process.env`. */
  baseEnv?: NodeJS.ProcessEnv;
}

export interface ResolvedServer {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  share: ShareMode;
  maxInstances: number;
  idleMs: number;
  serialize: boolean;
  clientCapabilities: ClientCapabilities;
  startTimeoutMs: number;
  windowsHide: boolean;
  filters: ServerFilters;
  requestTimeoutMs: number;
  maxTimeoutsInARow: number;
}

/** Client capabilities as the MCP spec defines them (sampling, elicitation, roots, experimental, ...). */
export interface ClientCapabilities {
  sampling?: object;
  elicitation?: object;
  roots?: { listChanged?: boolean };
  [capability: string]: unknown;
}

export const DEFAULT_CLIENT_CAPABILITIES: ClientCapabilities = {
  sampling: {},
  elicitation: { form: {}, url: {} },
  roots: { listChanged: true },
};

const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HOST_KEYS = new Set([
  'servers',
  'stateDir',
  'registry',
  'breaker',
  'crashWindowMs',
  'maxBackendQueueBytes',
  'startTimeoutMs',
  'requestTimeoutMs',
  'killGraceMs',
  'sessionIdleMs',
  'maxBodyBytes',
  'streamReconnectGraceMs',
  'maxStreamBufferBytes',
  'maxSessions',
  'maxLineBytes',
  'stderrLines',
  'clientInfo',
  'clock',
  'events',
  'baseEnv',
]);
const SERVER_KEYS = new Set([
  'command',
  'args',
  'env',
  'cwd',
  'share',
  'maxInstances',
  'idleMs',
  'serialize',
  'clientCapabilities',
  'startTimeoutMs',
  'windowsHide',
  'tools',
  'prompts',
  'resources',
  'requestTimeoutMs',
  'maxTimeoutsInARow',
]);

/** What a server's config falls back to: the host's settings (`cwd`: where a server without one runs, the host's `backendCwd`). */
export interface ServerDefaults {
  cwd: string;
  startTimeoutMs: number;
  requestTimeoutMs: number;
}

/** Checks one server's config; `defaults` supply what the host decides. Throws naming `servers.<name>.<field>`. */
export function resolveServer(name: string, config: unknown, defaults: ServerDefaults): ResolvedServer {
  if (!SERVER_NAME.test(name)) {
    throw new TypeError(
      `servers: ${show(name)} is not a valid server name (letters, digits, '.', '_', '-'; at most 64; it becomes a URL path segment)`,
    );
  }
  const at = `servers.${name}`;
  const c = checkObject(at, config);
  checkKnownKeys(at, c, SERVER_KEYS);
  const args = c.args ?? [];
  if (!Array.isArray(args) || !args.every((arg) => typeof arg === 'string')) {
    throw new TypeError(`${at}.args must be an array of strings, got ${show(c.args)}`);
  }
  const env: Record<string, string> = {};
  if (c.env !== undefined) {
    for (const [key, value] of Object.entries(checkObject(`${at}.env`, c.env))) {
      if (key.length === 0 || key.includes('=') || key.includes('\0')) {
        throw new TypeError(`${at}.env has an invalid variable name ${show(key)}`);
      }
      if (typeof value !== 'string') throw new TypeError(`${at}.env.${key} must be a string, got ${show(value)}`);
      env[key] = value;
    }
  }
  const share = c.share ?? 'shared';
  if (share !== 'shared' && share !== 'per-session') {
    throw new TypeError(`${at}.share must be "shared" or "per-session", got ${show(c.share)}`);
  }
  if (c.clientCapabilities !== undefined) checkObject(`${at}.clientCapabilities`, c.clientCapabilities);
  return {
    name,
    command: checkString(`${at}.command`, c.command),
    args: [...args],
    env,
    cwd: c.cwd === undefined ? defaults.cwd : checkAbsolutePath(`${at}.cwd`, c.cwd),
    share,
    maxInstances: checkInteger(`${at}.maxInstances`, c.maxInstances, { fallback: 16, min: 1 }),
    idleMs: checkMs(`${at}.idleMs`, c.idleMs, { fallback: 600_000, max: MAX_TIMER_MS }),
    serialize: checkBoolean(`${at}.serialize`, c.serialize, false),
    clientCapabilities: (c.clientCapabilities as ClientCapabilities | undefined) ?? DEFAULT_CLIENT_CAPABILITIES,
    startTimeoutMs: checkMs(`${at}.startTimeoutMs`, c.startTimeoutMs, {
      fallback: defaults.startTimeoutMs,
      minExclusive: true,
      max: MAX_TIMER_MS,
    }),
    windowsHide: checkBoolean(`${at}.windowsHide`, c.windowsHide, true),
    filters: resolveFilters(at, c),
    requestTimeoutMs: checkMs(`${at}.requestTimeoutMs`, c.requestTimeoutMs, {
      fallback: defaults.requestTimeoutMs,
      max: MAX_TIMER_MS,
    }),
    maxTimeoutsInARow: checkInteger(`${at}.maxTimeoutsInARow`, c.maxTimeoutsInARow, { fallback: 3, min: 0 }),
  };
}

/** Backends run here unless their config says otherwise: created empty and private by the host. */
export const BACKEND_CWD = 'backend-cwd';

export interface ResolvedHost {
  servers: Map<string, ResolvedServer>;
  stateDir: string;
  /** `<stateDir>/backend-cwd`: the default `cwd` of backends. */
  backendCwd: string;
  registry: RegistryLike | (() => RegistryLike | Promise<RegistryLike>) | undefined;
  failureThreshold: number;
  cooldownMs: number;
  crashWindowMs: number;
  maxBackendQueueBytes: number;
  startTimeoutMs: number;
  requestTimeoutMs: number;
  killGraceMs: number;
  sessionIdleMs: number;
  maxBodyBytes: number;
  streamReconnectGraceMs: number;
  maxStreamBufferBytes: number;
  maxSessions: number;
  maxLineBytes: number;
  stderrLines: number;
  clientInfo: { name: string; version: string };
  clock: Clock | undefined;
  events: Emitter<McpHostEvents> | undefined;
  baseEnv: NodeJS.ProcessEnv;
}

export function resolveHost(options: unknown, version: string): ResolvedHost {
  const o = checkObject('options', options);
  checkKnownKeys('options', o, HOST_KEYS);
  const stateDir = checkAbsolutePath('options.stateDir', o.stateDir);
  const startTimeoutMs = checkMs('options.startTimeoutMs', o.startTimeoutMs, {
    fallback: 30_000,
    minExclusive: true,
    max: MAX_TIMER_MS,
  });
  const requestTimeoutMs = checkMs('options.requestTimeoutMs', o.requestTimeoutMs, { fallback: 0, max: MAX_TIMER_MS });
  const backendCwd = join(stateDir, BACKEND_CWD);
  const servers = resolveServers(o.servers, { cwd: backendCwd, startTimeoutMs, requestTimeoutMs });
  const registry = o.registry;
  if (
    registry !== undefined &&
    typeof registry !== 'function' &&
    typeof (registry as RegistryLike | null)?.spawn !== 'function'
  ) {
    throw new TypeError(
      `options.registry must have a spawn(command, args, options) method (or be a function returning one), got ${show(registry)}`,
    );
  }
  const breaker = o.breaker === undefined ? {} : checkObject('options.breaker', o.breaker);
  checkKnownKeys('options.breaker', breaker, new Set(['failureThreshold', 'cooldownMs']));
  const clientInfo = o.clientInfo === undefined ? { name: 'spawnguard-mcp-host', version } : o.clientInfo;
  const info = checkObject('options.clientInfo', clientInfo);
  const clock = o.clock as Clock | undefined;
  if (
    clock !== undefined &&
    (typeof clock?.now !== 'function' ||
      typeof clock.setTimeout !== 'function' ||
      typeof clock.clearTimeout !== 'function')
  ) {
    throw new TypeError(
      `options.clock must have now(), setTimeout(fn, ms) and clearTimeout(handle), got ${show(clock)}`,
    );
  }
  const events = checkEmitter<Emitter<McpHostEvents>>('options.events', o.events);
  const baseEnv = o.baseEnv === undefined ? process.env : checkObject('options.baseEnv', o.baseEnv);
  return {
    servers,
    stateDir,
    backendCwd,
    registry: registry as ResolvedHost['registry'],
    failureThreshold: checkInteger('options.breaker.failureThreshold', breaker.failureThreshold, {
      fallback: 3,
      min: 1,
    }),
    cooldownMs: checkMs('options.breaker.cooldownMs', breaker.cooldownMs, { fallback: 60_000, max: MAX_TIMER_MS }),
    crashWindowMs: checkMs('options.crashWindowMs', o.crashWindowMs, { fallback: 10_000, max: MAX_TIMER_MS }),
    maxBackendQueueBytes: checkInteger('options.maxBackendQueueBytes', o.maxBackendQueueBytes, {
      fallback: 16 * 1024 * 1024,
      min: 1,
    }),
    startTimeoutMs,
    requestTimeoutMs,
    killGraceMs: checkMs('options.killGraceMs', o.killGraceMs, { fallback: 3000, max: MAX_TIMER_MS }),
    sessionIdleMs: checkMs('options.sessionIdleMs', o.sessionIdleMs, { fallback: 1_800_000, max: MAX_TIMER_MS }),
    maxBodyBytes: checkInteger('options.maxBodyBytes', o.maxBodyBytes, { fallback: 4 * 1024 * 1024, min: 1 }),
    streamReconnectGraceMs: checkMs('options.streamReconnectGraceMs', o.streamReconnectGraceMs, {
      fallback: 5000,
      max: MAX_TIMER_MS,
    }),
    maxStreamBufferBytes: checkInteger('options.maxStreamBufferBytes', o.maxStreamBufferBytes, {
      fallback: 4 * 1024 * 1024,
      min: 1,
    }),
    maxSessions: checkInteger('options.maxSessions', o.maxSessions, { fallback: 256, min: 1 }),
    maxLineBytes: checkInteger('options.maxLineBytes', o.maxLineBytes, { fallback: 64 * 1024 * 1024, min: 1 }),
    stderrLines: checkInteger('options.stderrLines', o.stderrLines, { fallback: 40, min: 0 }),
    clientInfo: {
      name: checkString('options.clientInfo.name', info.name),
      version: checkString('options.clientInfo.version', info.version),
    },
    clock,
    events,
    baseEnv: baseEnv as NodeJS.ProcessEnv,
  };
}

export function resolveServers(servers: unknown, defaults: ServerDefaults): Map<string, ResolvedServer> {
  const s = checkObject('options.servers', servers);
  const resolved = new Map<string, ResolvedServer>();
  for (const [name, config] of Object.entries(s)) resolved.set(name, resolveServer(name, config, defaults));
  return resolved;
}

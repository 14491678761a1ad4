import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/**
 * Everything the worker can be told, resolved once from flags and environment.
 * Flags win over environment, environment over defaults. Bad values throw a UsageError
 * naming the flag or variable and the value, so the CLI can print usage and exit 2.
 */
export interface Config {
  /** TCP port on the literal 127.0.0.1. */
  port: number;
  /** Per-user state folder (0700): token, pid file, lock, breaker store, registry, logs. */
  home: string;
  /**
   * The MCP servers file given with --config or SPAWNGUARD_CONFIG (it must exist); null: the home's
   * servers.json if there is one, else the built-in demo server.
   */
  configFile: string | null;
  /** Every defence off (demo of the field bug). */
  naive: boolean;
  /** Hook: total wall-clock budget; the hook exits 0 when it is spent. */
  hookBudgetMs: number;
  /** Naive daemons exit by themselves after this long, so a demo never leaves a machine full of them. */
  naiveTtlMs: number;
  /** Helper breaker: consecutive failures before it opens, and how long it stays open. */
  breakerThreshold: number;
  breakerCooldownMs: number;
  /** Shutdown: how long in-flight requests may take before their connections are cut. */
  drainMs: number;
  /** Grace between SIGTERM and SIGKILL when a helper tree is stopped. */
  killGraceMs: number;
  /** The log file is rotated once (worker.log → worker.log.1) when it would grow past this. */
  logMaxBytes: number;
  /**
   * HTTP: how long a connection may take to send its request headers (a silent peer included);
   * past it the connection is dropped, so peers that send nothing cannot hold the connection slots.
   */
  headersTimeoutMs: number;
  /**
   * HTTP: after an early answer (a 413, or a 401 before the body was read), how long and how many
   * bytes of the rest of the body are read and thrown away before the connection is closed, so a
   * client that reads only after it has written gets the answer instead of a reset.
   */
  lingerMs: number;
  lingerBytes: number;
  /** Drill: the daemon waits this long before it binds (a loaded machine, heavy imports). */
  bootDelayMs: number;
  /**
   * Live reload: the daemon watches its servers config file and `<home>/env` and applies a change as
   * a SIGHUP would (SPAWNGUARD_WATCH=0 turns it off; SIGHUP always works).
   */
  watchConfig: boolean;
  /** Live reload: quiet time after the last change to a watched file before it is applied. */
  watchDebounceMs: number;
  /** Test and demo knobs for the helper. */
  helperCrash: boolean;
  helperGrandchild: boolean;
  helperLinger: boolean;
}

export class UsageError extends Error {
  readonly code = 'EUSAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface ConfigFlags {
  port?: string | undefined;
  home?: string | undefined;
  naive?: boolean | undefined;
  'budget-ms'?: string | undefined;
  config?: string | undefined;
}

export type Env = Record<string, string | undefined>;

export const PORT_BASE = 37700;

/** 37700 + uid % 100: two users on one machine get two workers, and nobody has to configure anything. */
export function defaultPort(uid: number | undefined = process.getuid?.()): number {
  return PORT_BASE + (uid === undefined || uid < 0 ? 0 : uid % 100);
}

/** $XDG_RUNTIME_DIR/spawnguard (a per-user tmpfs on most Linux desktops), else ~/.spawnguard. */
export function defaultHome(env: Env = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && isAbsolute(runtime)) return join(runtime, 'spawnguard');
  return join(homedir(), '.spawnguard');
}

export function integer(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\s*-?\d+\s*$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function flag(env: Env, name: string): boolean {
  const raw = env[name];
  return raw === '1' || raw === 'true' || raw === 'yes';
}

/** A switch that is on unless turned off; anything but the spellings below is a UsageError. */
function onUnlessOff(env: Env, name: string): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '' || raw === '1' || raw === 'true' || raw === 'yes') return true;
  if (raw === '0' || raw === 'false' || raw === 'no') return false;
  throw new UsageError(`${name} must be 1, true, yes, 0, false or no, got ${JSON.stringify(raw)}`);
}

export function resolveConfig(flags: ConfigFlags = {}, env: Env = process.env): Config {
  const port =
    flags.port !== undefined
      ? integer('--port', flags.port, 0, 1, 65535)
      : integer('SPAWNGUARD_PORT', env.SPAWNGUARD_PORT, defaultPort(), 1, 65535);
  const rawHome = flags.home ?? env.SPAWNGUARD_HOME;
  if (rawHome !== undefined && rawHome.trim() === '') {
    throw new UsageError(`${flags.home !== undefined ? '--home' : 'SPAWNGUARD_HOME'} must be a folder path, got ""`);
  }
  const home = rawHome === undefined ? defaultHome(env) : resolve(rawHome);
  const rawConfig = flags.config ?? env.SPAWNGUARD_CONFIG;
  if (rawConfig !== undefined && rawConfig.trim() === '') {
    throw new UsageError(
      `${flags.config !== undefined ? '--config' : 'SPAWNGUARD_CONFIG'} must be a file path, got ""`,
    );
  }
  const hookBudgetMs =
    flags['budget-ms'] !== undefined
      ? integer('--budget-ms', flags['budget-ms'], 0, 1, 600_000)
      : integer('SPAWNGUARD_HOOK_BUDGET_MS', env.SPAWNGUARD_HOOK_BUDGET_MS, 5000, 1, 600_000);
  return {
    port,
    home,
    configFile: rawConfig === undefined ? null : resolve(rawConfig),
    naive: flags.naive === true || flag(env, 'SPAWNGUARD_NAIVE'),
    hookBudgetMs,
    naiveTtlMs: integer('SPAWNGUARD_NAIVE_TTL_MS', env.SPAWNGUARD_NAIVE_TTL_MS, 60_000, 100, 3_600_000),
    breakerThreshold: integer('SPAWNGUARD_BREAKER_THRESHOLD', env.SPAWNGUARD_BREAKER_THRESHOLD, 3, 1, 1000),
    breakerCooldownMs: integer(
      'SPAWNGUARD_BREAKER_COOLDOWN_MS',
      env.SPAWNGUARD_BREAKER_COOLDOWN_MS,
      60_000,
      1,
      86_400_000,
    ),
    drainMs: integer('SPAWNGUARD_DRAIN_MS', env.SPAWNGUARD_DRAIN_MS, 5000, 0, 600_000),
    killGraceMs: integer('SPAWNGUARD_KILL_GRACE_MS', env.SPAWNGUARD_KILL_GRACE_MS, 3000, 0, 600_000),
    logMaxBytes: integer('SPAWNGUARD_LOG_MAX_BYTES', env.SPAWNGUARD_LOG_MAX_BYTES, 1024 * 1024, 1024, 1024 ** 3),
    headersTimeoutMs: integer(
      'SPAWNGUARD_HEADERS_TIMEOUT_MS',
      env.SPAWNGUARD_HEADERS_TIMEOUT_MS,
      10_000,
      100,
      REQUEST_TIMEOUT_MS,
    ),
    lingerMs: integer('SPAWNGUARD_LINGER_MS', env.SPAWNGUARD_LINGER_MS, 5000, 0, 600_000),
    lingerBytes: integer('SPAWNGUARD_LINGER_BYTES', env.SPAWNGUARD_LINGER_BYTES, 16 * 1024 * 1024, 0, 1024 ** 3),
    bootDelayMs: integer('SPAWNGUARD_BOOT_DELAY_MS', env.SPAWNGUARD_BOOT_DELAY_MS, 0, 0, 60_000),
    watchConfig: onUnlessOff(env, 'SPAWNGUARD_WATCH'),
    watchDebounceMs: integer(
      'SPAWNGUARD_WATCH_DEBOUNCE_MS',
      env.SPAWNGUARD_WATCH_DEBOUNCE_MS,
      WATCH_DEBOUNCE_MS,
      0,
      60_000,
    ),
    helperCrash: env.SPAWNGUARD_HELPER_CRASH === 'always',
    helperGrandchild: flag(env, 'SPAWNGUARD_HELPER_GRANDCHILD'),
    helperLinger: flag(env, 'SPAWNGUARD_HELPER_LINGER'),
  };
}

/** Live reload's default quiet time: an editor's save (temp file, rename, chmod) is one change. */
export const WATCH_DEBOUNCE_MS = 300;

/** The literal every client dials: never `localhost`, which may resolve to ::1 first. */
export const HOST = '127.0.0.1';
export const WORKER_NAME = 'spawnguard-worker';
/** HTTP: a whole request (headers and body) must arrive within this; headersTimeoutMs is at most this. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** MCP messages can be larger than events (tool results, sampling answers), never unbounded. */
export const MCP_BODY_LIMIT = 4 * 1024 * 1024;

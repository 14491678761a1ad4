import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { readStateFileSync, writeStateFileSync } from '@spawnguard/internal';

/**
 * The per-user state folder. Everything that grants power over the worker (the shutdown token,
 * the pid file a `stop` will signal, the spawn lock) lives here, so the folder must be ours alone:
 * created 0700, files 0600, and refused outright when another user owns it or others can read it.
 */
export interface HomePaths {
  dir: string;
  /** Bearer token for POST /shutdown and GET /status. */
  token: string;
  /** { pid, startToken, port, version, instanceId, startedAt }: what `stop` and `status` trust. */
  pidFile: string;
  /** spawn-mutex lockPath: the lock itself is the folder `<lock>.lock` (spawn.lock). */
  lock: string;
  /** circuit-breaker file store shared by every launcher: a crash-looping daemon is remembered. */
  spawnBreaker: string;
  /** process-registry file: the children the daemon spawned, reaped at the next boot if it died. */
  registry: string;
  /** Structured log, one JSON line per event, rotated once to worker.log.1. */
  log: string;
  /** stdout/stderr of a detached daemon (crash traces land here, not in the void). */
  daemonOut: string;
  /** The MCP servers the host runs: `{ "mcpServers": { "<name>": { command, args, env, cwd, ... } } }`. */
  servers: string;
  /** NAME=VALUE lines: the values of `${NAME}` in servers.json (0600, owner-checked like the token; env-file.ts). */
  envFile: string;
}

export class HomeError extends Error {
  readonly code = 'EHOMEUNSAFE';
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'HomeError';
  }
}

export function homePaths(dir: string): HomePaths {
  return {
    dir,
    token: join(dir, 'token'),
    pidFile: join(dir, 'worker.json'),
    lock: join(dir, 'spawn'),
    spawnBreaker: join(dir, 'spawn-breaker.json'),
    registry: join(dir, 'registry.json'),
    log: join(dir, 'worker.log'),
    daemonOut: join(dir, 'daemon.out'),
    servers: join(dir, 'servers.json'),
    envFile: join(dir, 'env'),
  };
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}

/** Throws HomeError unless `dir` is a real folder owned by us with no group/other access. */
export function checkHome(dir: string): void {
  if (process.platform === 'win32') return; // ACLs, not modes: the user profile folder is private already.
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(dir);
  } catch (error) {
    throw new HomeError(`spawnguard home ${dir} is not usable: ${(error as Error).message}`, dir);
  }
  if (stat.isSymbolicLink()) {
    throw new HomeError(
      `spawnguard home ${dir} is a symbolic link; refusing to follow it. Point --home (or SPAWNGUARD_HOME) at the real folder.`,
      dir,
    );
  }
  if (!stat.isDirectory()) {
    throw new HomeError(`spawnguard home ${dir} is not a folder; remove it or choose another --home.`, dir);
  }
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    throw new HomeError(
      `spawnguard home ${dir} is owned by uid ${stat.uid}, not by you (uid ${uid}); refusing to use it. ` +
        'Choose another --home or remove the folder.',
      dir,
    );
  }
  if ((stat.mode & 0o077) !== 0) {
    throw new HomeError(
      `spawnguard home ${dir} is accessible by group or others (mode ${octal(stat.mode)}); refusing to use it. ` +
        `Fix it with: chmod 700 ${dir}`,
      dir,
    );
  }
}

/** Creates the folder (0700) when missing, then checks it. Never loosens or tightens an existing folder silently. */
export function ensureHome(dir: string): HomePaths {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new HomeError(`cannot create spawnguard home ${dir}: ${(error as Error).message}`, dir);
  }
  checkHome(dir);
  return homePaths(dir);
}

/** Atomic 0600 write: a reader sees the old file or the new one, never half of one. */
export function writeSecureFile(path: string, data: string): void {
  writeStateFileSync(path, data, { mode: 0o600 });
}

/**
 * Reads a file only when it is a regular file owned by us and private; anything else is treated as
 * absent. Opened without blocking or following links: a FIFO planted here cannot hang a hook.
 */
export function readSecureFile(path: string): string | null {
  try {
    return readStateFileSync(path, { private: true, maxBytes: 64 * 1024 });
  } catch {
    return null;
  }
}

export function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {}
}

/** What the daemon writes after it has bound the port, and what `stop`/`status` read. */
export interface PidRecord {
  name: string;
  pid: number;
  startToken: string;
  port: number;
  version: string;
  instanceId: string;
  startedAt: number;
  naive: boolean;
}

export function readPidRecord(path: string): PidRecord | null {
  const text = readSecureFile(path);
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as Partial<PidRecord>;
    if (
      typeof value.pid === 'number' &&
      Number.isSafeInteger(value.pid) &&
      value.pid > 1 &&
      typeof value.startToken === 'string' &&
      typeof value.port === 'number' &&
      typeof value.instanceId === 'string'
    ) {
      return value as PidRecord;
    }
  } catch {}
  return null;
}

export function readToken(path: string): string | null {
  const text = readSecureFile(path)?.trim();
  return text && /^[0-9a-f]{32,}$/.test(text) ? text : null;
}

export function newToken(): string {
  return randomBytes(32).toString('hex');
}

/**
 * The token survives daemon restarts (a client configured with it keeps working); a missing or
 * unusable one is replaced. Delete the file and restart to rotate it.
 */
export function keepToken(path: string): string {
  const token = readToken(path) ?? newToken();
  writeSecureFile(path, `${token}\n`);
  return token;
}

export function writePidRecord(path: string, record: PidRecord & Record<string, unknown>): void {
  writeSecureFile(path, `${JSON.stringify(record)}\n`);
}

/** Removes the pid record if it still names this daemon (a successor may have written its own). */
export function removeOwnPidRecord(path: string, instanceId: string): void {
  if (readPidRecord(path)?.instanceId === instanceId) removeFile(path);
}

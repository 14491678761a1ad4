/**
 * The MCP servers the worker hosts: the JSON users already write for Claude Desktop, Claude Code and
 * Cursor, `{ "mcpServers": { "<name>": { command, args, env, cwd } } }`, plus our optional `share`,
 * `idleMs`, `maxInstances`, `serialize`, `tools` / `prompts` / `resources` (filters), `requestTimeoutMs`
 * and `disabled`. Read from `--config` / SPAWNGUARD_CONFIG, else
 * `<home>/servers.json`. A bad file or entry is a ServersConfigError naming the server and the field
 * (the CLI exits 2); unknown fields are warnings. With no file, the built-in demo server is the one
 * server, so a first run needs no setup.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { readStateFileSync, StateFileError } from '@spawnguard/internal';
import type { FilterSpec } from '@spawnguard/mcp-host';
import type { Config } from './config.js';
import { builtInServer } from './helper-server-args.js';
import type { HomePaths } from './home.js';
import type { HostedServer } from './hosted-server.js';

export type { HostedServer } from './hosted-server.js';

export interface ServersConfig {
  /** Where the servers came from: a file, or 'built-in' (no file). */
  source: string;
  /** Enabled servers, by name. */
  servers: Record<string, HostedServer>;
  /** Entries with `"disabled": true`. */
  disabled: string[];
  warnings: string[];
}

export class ServersConfigError extends Error {
  readonly code = 'ESERVERSCONFIG';
  constructor(
    message: string,
    readonly path: string,
    readonly server?: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ServersConfigError';
  }
}

/** The demo helper, hosted like any configured server when there is no config file. */
export const BUILT_IN_SERVER = 'demo';

/** The host's filters (mcp-host checks them too; checked here so a launcher exits 2 before any spawn). */
const FILTERS = ['tools', 'prompts', 'resources'] as const;
/** Names are URL segments (`/mcp/<name>`): plain characters only. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const KNOWN = new Set(['command', 'args', 'env', 'cwd', 'share', 'idleMs', 'maxInstances', 'serialize', 'disabled']);
for (const field of [...FILTERS, 'requestTimeoutMs']) KNOWN.add(field);
/** Fields clients write that mean nothing to a host (they stay with the client). */
const CLIENT_ONLY = new Set(['type', 'autoApprove', 'alwaysAllow', 'timeout', 'description', 'transportType']);
const MAX_MS = 2_147_483_647;

const show = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

function fail(path: string, server: string, field: string, must: string, value: unknown): never {
  throw new ServersConfigError(
    `${path}: server "${server}": "${field}" ${must}, got ${show(value)}`,
    path,
    server,
    field,
  );
}

function entry(path: string, name: string, raw: unknown, warnings: string[]): HostedServer & { disabled: boolean } {
  if (!NAME.test(name)) {
    throw new ServersConfigError(
      `${path}: server name ${show(name)} must be 1-64 letters, digits, ".", "_" or "-" (it becomes /mcp/<name>)`,
      path,
      name,
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ServersConfigError(
      `${path}: server "${name}" must be an object like {"command": "...", "args": []}`,
      path,
      name,
    );
  }
  const e = raw as Record<string, unknown>;
  for (const key of Object.keys(e)) {
    if (KNOWN.has(key)) continue;
    if (key === 'url')
      fail(path, name, 'url', 'is a remote server; the host runs stdio servers only (use "command")', e.url);
    warnings.push(
      CLIENT_ONLY.has(key)
        ? `${path}: server "${name}": "${key}" is a client setting; the host ignores it`
        : `${path}: server "${name}": unknown field "${key}" ignored`,
    );
  }
  if (typeof e.command !== 'string' || e.command.trim() === '')
    fail(path, name, 'command', 'must be a non-empty string', e.command);
  if (e.args !== undefined && !(Array.isArray(e.args) && e.args.every((a) => typeof a === 'string'))) {
    fail(path, name, 'args', 'must be a list of strings', e.args);
  }
  const env = e.env;
  if (
    env !== undefined &&
    (typeof env !== 'object' ||
      env === null ||
      Array.isArray(env) ||
      !Object.values(env).every((v) => typeof v === 'string'))
  ) {
    fail(path, name, 'env', 'must be an object of strings', env);
  }
  if (e.cwd !== undefined && (typeof e.cwd !== 'string' || e.cwd === ''))
    fail(path, name, 'cwd', 'must be a folder path', e.cwd);
  if (e.share !== undefined && e.share !== 'shared' && e.share !== 'per-session') {
    fail(path, name, 'share', 'must be "shared" or "per-session"', e.share);
  }
  for (const field of ['idleMs', 'maxInstances', 'requestTimeoutMs'] as const) {
    const value = e[field];
    const min = field === 'maxInstances' ? 1 : 0;
    if (
      value !== undefined &&
      (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > MAX_MS)
    ) {
      fail(path, name, field, `must be an integer from ${min} to ${MAX_MS}`, value);
    }
  }
  if (e.maxInstances !== undefined && e.share !== 'per-session') {
    warnings.push(`${path}: server "${name}": "maxInstances" only applies with "share": "per-session"`);
  }
  for (const field of ['serialize', 'disabled'] as const) {
    if (e[field] !== undefined && typeof e[field] !== 'boolean')
      fail(path, name, field, 'must be true or false', e[field]);
  }
  const server: HostedServer & { disabled: boolean } = {
    command: e.command as string,
    args: [...((e.args as string[] | undefined) ?? [])],
    env: { ...((env as Record<string, string> | undefined) ?? {}) },
    disabled: e.disabled === true,
  };
  // A relative cwd is relative to the file that says it, as a path in any config file is.
  if (typeof e.cwd === 'string') server.cwd = isAbsolute(e.cwd) ? e.cwd : resolve(dirname(path), e.cwd);
  if (e.share !== undefined) server.share = e.share as 'shared' | 'per-session';
  if (e.idleMs !== undefined) server.idleMs = e.idleMs as number;
  if (e.maxInstances !== undefined) server.maxInstances = e.maxInstances as number;
  if (e.serialize !== undefined) server.serialize = e.serialize as boolean;
  for (const field of FILTERS) {
    const filter = e[field] as Record<string, unknown> | undefined;
    if (filter === undefined) continue;
    const keys = typeof filter === 'object' && filter !== null && !Array.isArray(filter) ? Object.keys(filter) : [];
    const list = keys.length === 1 && (keys[0] === 'allow' || keys[0] === 'deny') ? filter[keys[0]] : undefined;
    if (!Array.isArray(list) || !list.every((p) => typeof p === 'string' && p !== '')) {
      fail(path, name, field, 'must be {"allow": [...]} or {"deny": [...]} (one of them, of names or * globs)', filter);
    }
    server[field] = filter as FilterSpec;
  }
  if (e.requestTimeoutMs !== undefined) server.requestTimeoutMs = e.requestTimeoutMs as number;
  return server;
}

/** Parses a servers file's text; throws ServersConfigError naming what is wrong. */
export function parseServersConfig(path: string, text: string): ServersConfig {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ServersConfigError(`${path} is not valid JSON: ${(error as Error).message}`, path);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ServersConfigError(`${path} must be a JSON object like {"mcpServers": {...}}`, path);
  }
  const top = data as Record<string, unknown>;
  const table = top.mcpServers;
  if (typeof table !== 'object' || table === null || Array.isArray(table)) {
    throw new ServersConfigError(`${path}: "mcpServers" must be an object of servers, got ${show(table)}`, path);
  }
  const warnings: string[] = [];
  for (const key of Object.keys(top))
    if (key !== 'mcpServers') warnings.push(`${path}: top-level field "${key}" ignored`);
  const servers: Record<string, HostedServer> = {};
  const disabled: string[] = [];
  for (const [name, raw] of Object.entries(table)) {
    const { disabled: off, ...server } = entry(path, name, raw, warnings);
    if (off) disabled.push(name);
    else servers[name] = server;
  }
  return { source: path, servers, disabled, warnings };
}

export interface LoadServersOptions {
  /** An explicit file (--config / SPAWNGUARD_CONFIG): it must exist. */
  explicit: string | null;
  /** `<home>/servers.json`: optional. */
  homeFile: string;
  /** The built-in server, used when there is no file at all. */
  builtIn: () => HostedServer;
}

export function loadServersConfig({ explicit, homeFile, builtIn }: LoadServersOptions): ServersConfig {
  const path = explicit ?? homeFile;
  let text: string;
  try {
    // A user's config, possibly edited by hand: ours (owner) is enough, any mode; never a FIFO or a link.
    text = readStateFileSync(path, { maxBytes: 4 * 1024 * 1024 });
  } catch (error) {
    if (error instanceof StateFileError && error.reason === 'missing' && explicit === null) {
      return { source: 'built-in', servers: { [BUILT_IN_SERVER]: builtIn() }, disabled: [], warnings: [] };
    }
    throw new ServersConfigError(`cannot read the servers config: ${(error as Error).message}`, path);
  }
  return parseServersConfig(path, text);
}

/** The daemon's servers: --config / SPAWNGUARD_CONFIG, else <home>/servers.json, else the built-in one. */
export function readServers(config: Config, paths: Pick<HomePaths, 'servers'>): ServersConfig {
  return loadServersConfig({
    explicit: config.configFile,
    homeFile: paths.servers,
    builtIn: () => builtInServer(config),
  });
}
